/**
 * A container's mounts (tmpfs, bind mounts, volumes, the pod's empty directories) on its VM,
 * in two halves (tmpfs and empty directories have the guest half only):
 *
 *   host    each bind source or volume's data directory is bind-mounted (mount(2), src/util/mounter.ts) into the VM's
 *           volume share directory, at `<share>/<container id>/<n>`; these mounts live under
 *           the VM's runtime directory, so destroying the VM (which unmounts everything below
 *           its directory before removing it) takes them away too, after a daemon restart as
 *           well (orphan VMs are reclaimed the same way). Each is made an rslave: a mount made
 *           on the host under the source later shows in the container (through the share),
 *           and unmounting the VM's copies unmounts nothing of the host's.
 *   guest   the agent mounts each one at its path inside the container (Agent.mount): a tmpfs
 *           with its options, or the directory `<container id>/<n>` of the volume share;
 *           read-only is a flag of the guest's mount, so the container cannot lift it.
 *
 * Only bind mounts and volumes need the VM's volume share (VmDeviceRequest.volumes); a pod with tmpfs
 * mounts alone runs on any VM.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../errors';
import { BindSourceMissingError } from './errors';
import { isMountPoint, MS_BIND, MS_REC, sharedMounter } from '../util/mounter';
import type { Vm } from '../vm/types';
import { bindHostSocket } from './socket-relay';
import type { PodContainerSpec, PodSpec } from './types';

export type { PodBindMount, PodEmptyDirMount, PodMount, PodTmpfsMount, PodVolumeMount } from './mount-types';

/** Whether a pod needs its VM booted with the volume share (it has a bind or volume mount). */
export function needsVolumeShare(spec: PodSpec): boolean {
  return spec.containers.some((c) => (c.mounts ?? []).some((m) => m.type === 'bind' || m.type === 'volume'));
}

/**
 * Create-time check of a pod's bind sources, as dockerd makes it: a `--mount type=bind` source
 * must exist (InvalidArgumentError with dockerd's message); `-v` sources are made at start.
 */
export async function checkBindSources(spec: PodSpec): Promise<void> {
  for (const c of spec.containers) {
    for (const m of c.mounts ?? []) {
      if (m.type !== 'bind' || m.createSource) continue;
      try {
        await fs.promises.stat(m.source);
      } catch {
        throw new BindSourceMissingError(m.source, 'bind');
      }
    }
  }
}

/**
 * Directory of the volume share where a bind source or volume appears (relative): one per
 * source, not per container, so that the containers of one VM (a pod) that mount the same
 * volume reach it through one guest directory. The guest's 9p client keeps no inode across
 * two paths to the same host file, so a unix socket bound through one container's path
 * would refuse a connect through another's (ECONNREFUSED).
 */
export function mountSubpath(source: string): string {
  return `src/${createHash('sha256').update(path.resolve(source)).digest('hex').slice(0, 32)}`;
}

/**
 * Host half for one container: each bind source (created first when `createSource`) is
 * bind-mounted at `<share>/<subpath>`, unless another container of the VM has it there
 * already. Returns an undo that unmounts those this call made (the VM's teardown and a kept
 * VM's cleaning unmount every one). A directory source is bound on a directory of the
 * share, a regular file on an empty file there (the guest then mounts it on a file); a unix
 * socket needs nothing here (the guest half relays it: ./socket-relay.ts); any other kind of
 * source (a device, a fifo) is refused.
 */
export async function mountHostSources(vm: Vm, c: PodContainerSpec): Promise<() => Promise<void>> {
  const done: string[] = [];
  const undo = async () => {
    for (const t of done.reverse()) await sharedMounter().unmount(t, { detach: true });
  };
  const share = vm.devices.volumes?.hostDir;
  try {
    for (const m of c.mounts ?? []) {
      if (m.type === 'tmpfs' || m.type === 'emptyDir') continue;
      if (!share) throw new Error(`VM ${vm.id} has no volume share`);
      // -v makes a missing source as a directory (an existing file stays a file).
      if (m.type === 'bind' && m.createSource && !(await fs.promises.lstat(m.source).catch(() => undefined))) {
        await fs.promises.mkdir(m.source, { recursive: true, mode: 0o755 });
      }
      let st: fs.Stats;
      try {
        st = await fs.promises.stat(m.source);
      } catch {
        throw new BindSourceMissingError(m.source, m.type);
      }
      // A socket does not cross the share: the guest listens, the host connects (mountInGuest).
      if (m.type === 'bind' && st.isSocket()) continue;
      const target = path.join(share, mountSubpath(m.source));
      // Already there for another container of this VM: shared as it is.
      if (isMountPoint(target)) continue;
      if (st.isDirectory()) {
        await fs.promises.mkdir(target, { recursive: true, mode: 0o700 });
      } else if (st.isFile()) {
        // A single file: bound onto an empty file of the share; the guest mounts it on a file.
        await fs.promises.mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
        await (await fs.promises.open(target, 'a', 0o600)).close();
      } else {
        throw new InvalidArgumentError(
          `podvisor bind-mounts directories, regular files and unix sockets only, not ${m.source}`,
        );
      }
      await sharedMounter().mount({ source: m.source, target, flags: MS_BIND | MS_REC });
      done.push(target);
      // The copy of a shared source is its peer: the VM's teardown, which unmounts it, would
      // then unmount the host's own mounts under the source too. As a slave it still gets the
      // mounts made on the host under the source later (the container sees them: rslave).
      await sharedMounter().makeRslave(target);
    }
  } catch (e) {
    await undo().catch(() => undefined);
    throw e;
  }
  return undo;
}

/**
 * Guest half for one container, after its CREATE_CONTAINER and before its init: the agent
 * mounts each tmpfs and each bind or volume (a directory or file of the volume share) at its path, in order.
 * A bind of a host unix socket is a socket the agent makes at its path instead, whose
 * connections the host relays to the host socket (./socket-relay.ts).
 */
export async function mountInGuest(vm: Vm, c: PodContainerSpec): Promise<void> {
  const mounts = c.mounts ?? [];
  for (const [index, m] of mounts.entries()) {
    const socket = m.type === 'bind' ? await fs.promises.stat(m.source).catch(() => undefined) : undefined;
    if (m.type === 'bind' && socket?.isSocket()) {
      await bindHostSocket(vm.agent, {
        containerId: c.id,
        source: m.source,
        target: m.target,
        mode: socket.mode & 0o777,
        listener: index,
      });
    } else if (m.type === 'tmpfs') {
      await vm.agent.mount({
        containerId: c.id,
        path: m.target,
        fstype: 'tmpfs',
        ...(m.options ? { options: m.options } : {}),
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
    } else {
      const share = vm.devices.volumes;
      if (!share) throw new Error(`VM ${vm.id} has no volume share`);
      await vm.agent.mount({
        containerId: c.id,
        path: m.target,
        fstype: 'virtiofs',
        source: share.tag,
        subpath: mountSubpath(m.source),
        readOnly: m.readOnly,
      });
    }
  }
}
