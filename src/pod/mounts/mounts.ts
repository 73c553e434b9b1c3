/**
 * A container's mounts (tmpfs, bind mounts, volumes, the pod's empty directories) on its VM,
 * in two halves (tmpfs and empty directories have the guest half only):
 *
 *   host    each bind source or volume's data directory, opened here with no symlink followed
 *           (a bind's at the path pinned at create: ./bind-sources.ts), is shared through the
 *           VM's volume share (VmShare.share, src/vm/share/vm-share.ts: a copy at a keyed place
 *           in the share that only the host can compute, gone with the VM);
 *   guest   the agent mounts each one at its path inside the container: a tmpfs with its
 *           options, a pod's empty directory, a volume kept on the container's disk, or the
 *           shared source (VmShare.mountIn); read-only is also a flag of the guest's mount.
 *           A bind of a host unix socket is a socket in the container instead, whose
 *           connections the share relays to the host socket (VmShare.relaySocket).
 *
 * Only bind mounts and volumes need the VM's volume share (VmDeviceRequest.volumes); a pod with tmpfs
 * mounts alone runs on any VM.
 */
import { BindSourceMissingError } from '../errors';
import { openBindSource, statBindSource } from './bind-sources';
import type { AgentProcess, Vm } from '../../vm/types';
import { vmShare, type HostSocketSource, type SharedSource } from '../../vm/share/vm-share';
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

/**
 * Host half for one container: each bind source (created first when `createSource`), opened
 * at the path pinned at create with no symlink followed (./bind-sources.ts), and each volume's
 * data directory is shared through the VM's volume share (VmShare.share), unless another
 * container of the VM has it there already. Returns an undo that takes away those this call
 * shared (the VM's teardown and a kept VM's cleaning take every one). A unix socket needs
 * nothing here (the guest half relays it); a source that is now a symlink, a FIFO or a device
 * is refused.
 */
export async function mountHostSources(vm: Vm, c: PodContainerSpec): Promise<() => Promise<void>> {
  const share = vmShare(vm);
  const done: SharedSource[] = [];
  const undo = async () => {
    for (const s of done.reverse()) await share.unshare(s);
  };
  try {
    for (const m of c.mounts ?? []) {
      if (!isShared(m)) continue;
      share.prepare();
      const source = await openSource(m);
      try {
        // A socket does not cross the share: the guest listens, the host connects (mountInGuest).
        if (source.kind === 'socket') continue;
        done.push(await share.share(source, { source: m.source, readOnly: m.readOnly }));
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
 * Guest half for one container, after its CREATE_CONTAINER and before its init: the agent
 * mounts each tmpfs and each bind or volume (a directory or file of the volume share) at its path, in order.
 * A bind of a host unix socket is a socket the agent makes at its path instead, whose
 * connections the share relays to the host socket (VmShare.relaySocket).
 */
export async function mountInGuest(vm: Vm, c: PodContainerSpec): Promise<void> {
  const mounts = c.mounts ?? [];
  for (const [index, m] of mounts.entries()) {
    const socket = m.type === 'bind' ? await statBindSource(m) : undefined;
    if (m.type === 'bind' && socket?.isSocket()) {
      await vmShare(vm).relaySocket({
        containerId: c.id,
        source: socketSource(m),
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
      // Unix sockets made in it and the host's writes to its files reach the other side too.
      await vmShare(vm).mountIn(c.id, m.target, { source: m.source, readOnly: m.readOnly });
    }
  }
}

/** The host sockets of socket binds, by their mount: a refusal is logged once per bind. */
const socketSources = new WeakMap<PodBindMount, HostSocketSource>();

/** A socket bind's host socket, opened as a bind source is (./bind-sources.ts), at each connection. */
function socketSource(m: PodBindMount): HostSocketSource {
  let s = socketSources.get(m);
  if (!s) socketSources.set(m, (s = { path: m.source, open: () => openBindSource(m) }));
  return s;
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
 * After a daemon restart, for a container of a re-adopted VM (`procs`: what the VM's agent
 * lists): the connections the earlier daemon relayed for it end (their host ends are gone), and
 * sockets and file events of its share directories cross the VM's edge again (VmShare.watch;
 * the agent hands the new daemon the sockets and watches it had announced to the earlier one).
 */
export async function resumeShareRelay(vm: Vm, c: PodContainerSpec, procs: AgentProcess[]): Promise<void> {
  vmShare(vm).endStale(procs, c.id);
  for (const m of c.mounts ?? []) {
    if ((m.type === 'volume' && !m.diskDir) || (m.type === 'bind' && !(await statBindSource(m))?.isSocket())) {
      vmShare(vm).watch(c.id);
      return;
    }
  }
}

/**
 * After a daemon restart, for a container of a re-adopted VM, once resumeShareRelay ended the
 * earlier daemon's connections: the relay of each socket bind resumes on the listener the
 * guest kept. A bind whose source is a directory or a file now was none (nothing to resume);
 * one whose source is gone resumes, so that the guest's connections end at once as they would
 * have.
 */
export async function resumeInGuest(vm: Vm, c: PodContainerSpec): Promise<void> {
  for (const [index, m] of (c.mounts ?? []).entries()) {
    if (m.type !== 'bind') continue;
    const st = await statBindSource(m);
    if (st && !st.isSocket()) continue;
    vmShare(vm).resumeSocket({
      containerId: c.id,
      source: socketSource(m),
      target: m.target,
      mode: st ? st.mode & 0o777 : 0,
      listener: index,
    });
  }
}
