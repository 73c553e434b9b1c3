/**
 * A container's mounts (tmpfs, bind mounts, volumes, the pod's empty directories) on its VM,
 * in two halves (tmpfs and empty directories have the guest half only):
 *
 *   host    each bind source or volume's data directory is bind-mounted (src/util/mounter.ts) into the VM's
 *           volume share directory, at `<share>/src/<name>` (mountSubpath); these mounts live under
 *           the VM's runtime directory, so destroying the VM (which unmounts everything below
 *           its directory before removing it) takes them away too, after a daemon restart as
 *           well (orphan VMs are reclaimed the same way). Each is made an rslave: a mount made
 *           on the host under the source later shows in the container (through the share),
 *           and unmounting the VM's copies unmounts nothing of the host's.
 *   guest   the agent mounts each one at its path inside the container (Agent.mount): a tmpfs
 *           with its options, or the directory `<container id>/<n>` of the volume share;
 *           read-only is also a flag of the guest's mount.
 *
 * The share is the guest's to write (a root in any container may rename or replace anything
 * in it, with symlinks too), so the host never follows a path in it: every entry is reached
 * from the share directory it holds open, one component at a time, none a symlink
 * (src/util/beneath.ts), and each copy is attached onto the directory or file so reached. The
 * copy of a read-only mount is made read-only on the host, before it is attached: a
 * `--privileged` container that remounts its view read-write still cannot write the source.
 * A source used read-only and read-write gets two copies. Names in the share are keyed with a
 * secret of the VM that only the host reads (`volumes.key` beside the share), so a guest
 * cannot compute where the next source will go.
 *
 * Only bind mounts and volumes need the VM's volume share (VmDeviceRequest.volumes); a pod with tmpfs
 * mounts alone runs on any VM.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHmac, randomBytes } from 'node:crypto';
import { UnavailableError } from '../../errors';
import { BindSourceMissingError } from '../errors';
import { sharedMounter } from '../../util/mounter';
import { openVmFile } from '../../util/jailed-files';
import { openBindSource, statBindSource } from './bind-sources';
import {
  fdPath,
  mountOptionsOf,
  openBeneath,
  openMountBeneath,
  unmountBeneath,
  type BeneathPath,
} from '../../util/beneath';
import type { AgentProcess, Vm } from '../../vm/types';
import { bindHostSocket, endStaleConnections, resumeHostSocket } from '../network/socket-relay';
import { isShareConnection, relayShareSockets } from '../network/share-sockets';
import type { PodBindMount, PodMount, PodVolumeMount } from './mount-types';
import { capTmpfsOptions } from './tmpfs-size';
import type { PodContainerSpec, PodSpec } from '../types';
import { canonicalHostPath, openHostPath, type OpenHostPath } from '../../util/host-path';

export type { PodBindMount, PodEmptyDirMount, PodMount, PodTmpfsMount, PodVolumeMount } from './mount-types';

/** Whether a pod needs its VM booted with the volume share (a bind, or a volume not kept on its container's disk). */
export function needsVolumeShare(spec: PodSpec): boolean {
  return spec.containers.some((c) => (c.mounts ?? []).some(isShared));
}

/** Whether mount `m` reaches the guest through the VM's volume share (a bind, or a volume not kept on the container's disk). */
function isShared(m: PodMount): m is PodBindMount | PodVolumeMount {
  return m.type === 'bind' || (m.type === 'volume' && !m.diskDir);
}

/** Bytes of a VM's share-name key. */
const KEY_BYTES = 32;
/** Keys read, by share directory (VMs come and go: past this many, the cache starts again). */
const keys = new Map<string, Buffer>();
const MAX_KEYS = 1024;

/**
 * The VM's secret for names in its volume share: `<share>.key` (the daemon's part of the VM's
 * runtime directory, which no guest or jailed process reaches; in an earlier build's VM its
 * QEMU could, so it is read as any file in a jail's reach: src/util/jailed-files.ts), made at
 * the first use, kept as long as the VM (a restarted daemon reads it again, so that it finds
 * the copies it made before).
 */
/** The key file's bytes (at most one more than a key's), or undefined when there is none yet. */
function readKey(file: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openVmFile(file, 'read');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const buf = Buffer.alloc(KEY_BYTES + 1);
    return buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0));
  } finally {
    fs.closeSync(fd);
  }
}

function shareKey(share: string): Buffer {
  const known = keys.get(share);
  if (known) return known;
  const file = `${share}.key`;
  let key = readKey(file);
  if (!key) {
    // Written whole under a temporary name, then linked: a concurrent maker's key wins.
    const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}`;
    fs.writeFileSync(tmp, randomBytes(KEY_BYTES), { mode: 0o600 });
    try {
      fs.linkSync(tmp, file);
    } catch (le) {
      if ((le as NodeJS.ErrnoException).code !== 'EEXIST') throw le;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    key = readKey(file) ?? Buffer.alloc(0);
  }
  if (key.length !== KEY_BYTES) throw new UnavailableError(`${file}: not a share-name key`);
  if (keys.size >= MAX_KEYS) keys.clear();
  keys.set(share, key);
  return key;
}

/**
 * Directory (or file) of the volume share where a bind source or volume appears, relative to
 * the share: one per source and access mode, not per container, so that the containers of one
 * VM (a pod) that mount the same volume reach it through one guest directory (the guest's 9p
 * client keeps no inode across two paths to the same host file, so a unix socket bound
 * through one container's path would refuse a connect through another's: ECONNREFUSED). The
 * name is an HMAC of the source under the VM's key (shareKey): the guest cannot compute it.
 */
export function mountSubpath(share: string, source: string, readOnly: boolean): string {
  const h = createHmac('sha256', shareKey(share));
  h.update(`${readOnly ? 'ro' : 'rw'}\0${path.resolve(source)}`);
  return `src/${h.digest('hex').slice(0, 32)}`;
}

/**
 * Whether `target` already holds this VM's copy of `source` in that mode, mounted by an
 * earlier container: a mount root whose root is the source and whose read-only flag is the
 * one asked. Anything else that is a mount there is refused (the host mounts nothing else).
 */
async function hasCopy(target: BeneathPath, source: fs.Stats, readOnly: boolean): Promise<boolean> {
  const found = await openMountBeneath(target);
  if (!found) return false;
  try {
    if (!found.mountRoot) return false;
    const st = await found.fh.stat();
    const opts = await mountOptionsOf(found.mountId);
    if (st.dev === source.dev && st.ino === source.ino && opts?.includes(readOnly ? 'ro' : 'rw')) return true;
    throw new UnavailableError(`${target.rel} in the volume share is not the copy of the source it should be`);
  } finally {
    await found.fh.close();
  }
}

/**
 * Host half for one container: each bind source (created first when `createSource`), opened
 * at the path pinned at create with no symlink followed (./bind-sources.ts), is bound at
 * `<share>/<subpath>` (see the module comment), unless another container of the VM has it
 * there already. Returns an undo that unmounts those this call made (the VM's teardown and a
 * kept VM's cleaning unmount every one). A directory source is bound on a directory of the
 * share, a regular file on an empty file there (the guest then mounts it on a file); a unix
 * socket needs nothing here (the guest half relays it: ../network/socket-relay.ts); a source that is
 * now a symlink, a FIFO or a device is refused.
 */
export async function mountHostSources(vm: Vm, c: PodContainerSpec): Promise<() => Promise<void>> {
  const done: BeneathPath[] = [];
  const undo = async () => {
    for (const t of done.reverse()) await unmountBeneath(sharedMounter(), t, { detach: true });
  };
  const share = vm.devices.volumes?.hostDir;
  try {
    for (const m of c.mounts ?? []) {
      if (!isShared(m)) continue;
      if (!share) throw new Error(`VM ${vm.id} has no volume share`);
      const source = await openSource(m);
      try {
        // A socket does not cross the share: the guest listens, the host connects (mountInGuest).
        if (source.kind === 'socket') continue;
        const made = await bindCopy(share, m, source);
        if (made) done.push(made);
      } finally {
        await source.fh.close();
      }
    }
  } catch (e) {
    await undo().catch(() => undefined);
    throw e;
  }
  return undo;
}

/**
 * A bind source, pinned at create and opened with no symlink followed (a `-v` source made
 * when missing: ./bind-sources.ts), or a volume's data directory (the daemon's own path).
 */
async function openSource(m: PodBindMount | PodVolumeMount): Promise<OpenHostPath> {
  if (m.type === 'bind') return openBindSource(m, { create: true });
  try {
    return await openHostPath(await canonicalHostPath(m.source));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new BindSourceMissingError(m.source, m.type);
    throw e;
  }
}

/**
 * The copy of an open source (a directory, or a regular file) at its place in the share,
 * unless another container of the VM has it there already (then undefined). The copy is made
 * from the held handle, so what is bound is what was opened, wherever a container moves
 * names meanwhile.
 */
async function bindCopy(
  share: string,
  m: PodBindMount | PodVolumeMount,
  source: OpenHostPath,
): Promise<BeneathPath | undefined> {
  const target: BeneathPath = { root: share, rel: mountSubpath(share, m.source, m.readOnly) };
  // Already there for another container of this VM: shared as it is.
  if (await hasCopy(target, source.stat, m.readOnly)) return undefined;
  // A single file: bound onto an empty file of the share; the guest mounts it on a file.
  const fh = await openBeneath(target, { kind: source.kind === 'directory' ? 'dir' : 'file', create: true });
  try {
    // The copy of a shared source would be its peer: the VM's teardown, which unmounts it,
    // would then unmount the host's own mounts under the source too. As a slave it still gets
    // the mounts made on the host under the source later (rslave).
    await sharedMounter().bindTree({
      source: fdPath(source.fh),
      target: fdPath(fh),
      readOnly: m.readOnly,
      slave: true,
    });
  } finally {
    await fh.close();
  }
  return target;
}

/**
 * Guest half for one container, after its CREATE_CONTAINER and before its init: the agent
 * mounts each tmpfs and each bind or volume (a directory or file of the volume share) at its path, in order.
 * A bind of a host unix socket is a socket the agent makes at its path instead, whose
 * connections the host relays to the host socket (../network/socket-relay.ts).
 */
export async function mountInGuest(vm: Vm, c: PodContainerSpec): Promise<void> {
  const mounts = c.mounts ?? [];
  for (const [index, m] of mounts.entries()) {
    const socket = m.type === 'bind' ? await statBindSource(m) : undefined;
    if (m.type === 'bind' && socket?.isSocket()) {
      await bindHostSocket(vm.agent, {
        containerId: c.id,
        mount: m,
        target: m.target,
        mode: socket.mode & 0o777,
        owner: { uid: socket.uid, gid: socket.gid },
        listener: index,
      });
    } else if (m.type === 'tmpfs') {
      await vm.agent.mount({
        containerId: c.id,
        path: m.target,
        fstype: 'tmpfs',
        // Capped to what the VM can hold (./tmpfs-size.ts): a full tmpfs fails writes with ENOSPC.
        options: capTmpfsOptions(m.options, vm.size.memoryMiB),
        readOnly: m.readOnly,
        noexec: m.noexec,
        nosuid: m.nosuid,
        nodev: m.nodev,
      });
    } else if (m.type === 'emptyDir') {
      await vm.agent.mount({
        containerId: c.id,
        path: m.target,
        fstype: 'emptydir',
        source: m.name,
        readOnly: m.readOnly,
      });
    } else if (m.type === 'volume' && m.diskDir) {
      await mountDiskVolume(vm, c.id, m);
    } else {
      const share = vm.devices.volumes;
      if (!share) throw new Error(`VM ${vm.id} has no volume share`);
      await vm.agent.mount({
        containerId: c.id,
        path: m.target,
        fstype: 'virtiofs',
        source: share.tag,
        subpath: mountSubpath(share.hostDir, m.source, m.readOnly),
        readOnly: m.readOnly,
      });
      // Unix sockets made in it on either side reach the other (../network/share-sockets.ts).
      relayShareSockets(vm, c.id);
    }
  }
}

/** A volume kept on container `containerId`'s own disk mounted at its path (the agent's diskdir mount). */
export async function mountDiskVolume(vm: Vm, containerId: string, m: PodVolumeMount): Promise<void> {
  await vm.agent.mount({
    containerId,
    path: m.target,
    fstype: 'diskdir',
    subpath: m.diskDir,
    readOnly: m.readOnly,
  });
}

/**
 * After a daemon restart, for a container of a re-adopted VM: sockets and file events of its
 * share directories cross the VM's edge again (../network/share-sockets.ts; the agent hands the new
 * daemon the sockets and watches it had announced to the earlier one).
 */
export async function resumeShareRelay(vm: Vm, c: PodContainerSpec, procs: AgentProcess[]): Promise<void> {
  // The earlier daemon's relayed connections: their host ends are gone, so the guest's end too.
  for (const p of procs)
    if (p.containerId === c.id && isShareConnection(p.processId))
      vm.agent.signalProcess(p.processId, 9).catch(() => undefined);
  for (const m of c.mounts ?? []) {
    if ((m.type === 'volume' && !m.diskDir) || (m.type === 'bind' && !(await statBindSource(m))?.isSocket())) {
      relayShareSockets(vm, c.id);
      return;
    }
  }
}

/**
 * After a daemon restart, for a container of a re-adopted VM (`procs`: what the VM's agent
 * lists): the connections of its socket binds that the earlier daemon relayed end, and the
 * relay of each socket bind resumes on the listener the guest kept. A bind whose source is a
 * directory or a file now was none (nothing to resume); one whose source is gone resumes, so
 * that the guest's connections end at once as they would have.
 */
export async function resumeInGuest(vm: Vm, c: PodContainerSpec, procs: AgentProcess[]): Promise<void> {
  endStaleConnections(vm.agent, procs, c.id);
  for (const [index, m] of (c.mounts ?? []).entries()) {
    if (m.type !== 'bind') continue;
    const st = await statBindSource(m);
    if (st && !st.isSocket()) continue;
    resumeHostSocket(vm.agent, {
      containerId: c.id,
      mount: m,
      target: m.target,
      mode: st ? st.mode & 0o777 : 0,
      listener: index,
    });
  }
}
