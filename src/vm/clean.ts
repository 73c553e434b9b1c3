/**
 * Cleaning a VM whose pod has gone, so that another pod can run on it (the seeds' idle VM,
 * `stop --keep-vm`, `replace`) and see nothing of the one before:
 *
 *   guest   every container destroyed (DESTROY_CONTAINER kills every process of the
 *           container's PID namespace and answers once they are reaped; its mount and UTS
 *           namespaces, so its mounts and hostname, go with the last of them, and its cgroup
 *           with it); then every interface but loopback loses its address and goes down
 *           (its routes go with it), so the next pod starts without the old pod's network;
 *           then the pod's emptyDirs, which live in the agent's own memory file system, are
 *           removed with their contents (CLEAN_POD).
 *   host    (after the caller unmounted the containers' rootfs) every mount still below the
 *           VM's share directories (bind sources, volumes) detached, then every file left in
 *           them removed, so the guest's view of the shares is empty again.
 *
 * The guest's own root file system is the initramfs the agent runs from: no container can
 * reach it (each has its own mount namespace over its rootfs) but through an emptyDir, so
 * there is nothing else of a pod in it to reset. Anything that fails makes the VM unfit for reuse: the caller destroys it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NotFoundError, UnavailableError } from '../errors';
import { mountsBelow, sharedMounter } from '../util/mounter';
import { at, openChild, ROOT_FLAGS, unmountBeneath } from '../util/beneath';
import { removeTreeOnOneDevice } from './qemu/host-files';
import type { Vm } from './types';
import { logger } from '../util/log';

const log = logger('vm');

/** The longest a guest may take to destroy one container (kill, reap, namespaces gone). */
const DESTROY_MS = 10_000;

/** Bound a guest call: past `ms` the VM counts as unfit. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => reject(new UnavailableError(`${what} did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The guest half: destroy the containers `containerIds` (those the agent no longer knows are
 * skipped) and reset the network interfaces. Rejects when the VM cannot be cleaned.
 */
export async function cleanGuest(vm: Vm, containerIds: string[]): Promise<void> {
  for (const id of containerIds) {
    try {
      await within(vm.agent.destroyContainer(id), DESTROY_MS, `destroying container ${id.slice(0, 12)} in VM ${vm.id}`);
    } catch (err) {
      // Already gone (its init exited and the pod layer destroyed it, or it never started).
      if (err instanceof NotFoundError || /no such container/i.test((err as Error).message)) continue;
      throw err;
    }
  }
  for (const nic of await within(vm.agent.listInterfaces(), DESTROY_MS, `listing interfaces of VM ${vm.id}`)) {
    if (nic.name === 'lo') continue;
    // A --mac-address changed it: the NIC gets its boot MAC back, by which the host knows it.
    const boot = vm.devices.nics.find((n) => n.guestName === nic.name)?.mac;
    if (boot && nic.mac.toLowerCase() !== boot.toLowerCase())
      await vm.agent.configureInterface({ name: nic.name, mac: nic.mac, setMac: boot });
    if (nic.address) await vm.agent.configureInterface({ name: nic.name, address: '0.0.0.0', prefix: 0 });
    if (nic.address6) await vm.agent.configureInterface({ name: nic.name, address6: '::', prefix6: 0 });
    if (nic.up) await vm.agent.configureInterface({ name: nic.name, up: false });
  }
  if (vm.agent.cleanPod) await within(vm.agent.cleanPod(), DESTROY_MS, `removing the emptyDirs of VM ${vm.id}`);
  // The agent must still answer after all that.
  await within(vm.agent.ping(), DESTROY_MS, `pinging VM ${vm.id}`);
}

/**
 * Empty `dir` (it stays): mounts below it detached, then every entry removed, except that
 * its top-level directories (`containers/`) stay, emptied: the guest keeps their entries
 * cached (cache=always), and a directory removed and made again under the same name would be
 * a stale inode to it, where a new name below a kept directory is looked up afresh.
 *
 * The guest still runs, and its root may rename anything in the share or replace it with a
 * symlink meanwhile: each mount is unmounted by its path below `dir` without following a
 * symlink (src/util/beneath.ts unmountBeneath), every directory is held open and its entries
 * reached through it, and nothing is removed while a mount is left below `dir` (removal does not
 * cross into a bind mount of the same filesystem by itself).
 */
async function emptyDir(dir: string): Promise<void> {
  const root = path.resolve(dir);
  await unmountAllBeneath(root);
  let top: fs.promises.FileHandle;
  try {
    top = await fs.promises.open(root, ROOT_FLAGS);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  try {
    for (const n of await fs.promises.readdir(at(top))) {
      const st = await fs.promises.lstat(at(top, n));
      if (!st.isDirectory()) {
        await fs.promises.unlink(at(top, n));
        continue;
      }
      const sub = await openChild(top, n, 'dir', fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      try {
        for (const m of await fs.promises.readdir(at(sub))) await removeEntry(root, sub, m);
      } finally {
        await sub.close();
      }
    }
  } finally {
    await top.close();
  }
}

/** Detach every mount below the share `root` (not root itself); throws when one is left. */
async function unmountAllBeneath(root: string): Promise<void> {
  for (let round = 0; round < REMOVE_ATTEMPTS; round++) {
    const left = mountsBelow(root).filter((mp) => mp !== root);
    if (left.length === 0) return;
    for (const mp of left)
      await unmountBeneath(sharedMounter(), { root, rel: path.relative(root, mp) }, { detach: true }).catch(
        () => undefined,
      );
  }
  const left = mountsBelow(root).filter((mp) => mp !== root);
  if (left.length) throw new UnavailableError(`emptying a share: ${left.join(', ')} still mounted`);
}

/** Attempts of removeEntry, and the pause before each further one. */
const REMOVE_ATTEMPTS = 4;
const REMOVE_RETRY_MS = 250;

/**
 * Remove entry `name` of the directory held as `dir`, a share's (`root`). A removal that
 * failed is tried again after a pause, from the detach on: on a busy host (the whole suite
 * with both cores loaded) the rmdir of a container's rootfs once answered EBUSY right after
 * its mount was detached, and the VM was destroyed as unfit where a moment later it was not.
 */
async function removeEntry(root: string, dir: fs.promises.FileHandle, name: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await unmountAllBeneath(root);
      const st = await fs.promises.lstat(at(dir, name)).catch(() => undefined);
      if (!st) return;
      // rm reaches the entry through the held directory and does not follow a symlink there.
      if (st.isDirectory()) await removeTreeOnOneDevice(at(dir, name));
      else await fs.promises.unlink(at(dir, name));
      return;
    } catch (err) {
      if (attempt >= REMOVE_ATTEMPTS) throw err;
      log.warn(`emptying a share: ${(err as Error).message}; trying again`);
      await new Promise((r) => setTimeout(r, REMOVE_RETRY_MS * attempt));
    }
  }
}

/**
 * The host half, once the containers' rootfs are unmounted: the VM's share directories
 * emptied (see the module comment). Rejects when something cannot be removed.
 */
export async function cleanShares(vm: Vm): Promise<void> {
  await emptyDir(vm.shareDir);
  if (vm.devices.volumes?.hostDir) await emptyDir(vm.devices.volumes.hostDir);
}
