/**
 * A container's mounts (tmpfs and bind mounts) on its VM, in two halves:
 *
 *   host    each bind source is bind-mounted (mount(2), src/util/mounter.ts) into the VM's
 *           volume share directory, at `<share>/<container id>/<n>`; these mounts live under
 *           the VM's runtime directory, so destroying the VM (which unmounts everything below
 *           its directory before removing it) takes them away too, after a daemon restart as
 *           well (orphan VMs are reclaimed the same way).
 *   guest   the agent mounts each one at its path inside the container (Agent.mount): a tmpfs
 *           with its options, or the directory `<container id>/<n>` of the volume share;
 *           read-only is a flag of the guest's mount, so the container cannot lift it.
 *
 * Only bind mounts need the VM's volume share (VmDeviceRequest.volumes); a pod with tmpfs
 * mounts alone runs on any VM.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError } from '../errors';
import { MS_BIND, MS_REC, sharedMounter } from '../util/mounter';
import type { Vm } from '../vm/types';
import type { PodContainerSpec, PodSpec } from './types';

/** A tmpfs inside a container. */
export interface PodTmpfsMount {
  type: 'tmpfs';
  /** Absolute path inside the container. */
  target: string;
  /** tmpfs options the agent takes: size=, nr_inodes=, mode=, uid=, gid= (comma-separated). */
  options?: string;
  readOnly: boolean;
  /** Docker mounts --tmpfs noexec,nosuid,nodev; --mount type=tmpfs the same. */
  noexec: boolean;
  nosuid: boolean;
  nodev: boolean;
}

/** A host file or directory bind-mounted into a container. */
export interface PodBindMount {
  type: 'bind';
  /** Absolute host path. */
  source: string;
  /** Absolute path inside the container. */
  target: string;
  readOnly: boolean;
  /** Create a missing source directory at start (`-v`); otherwise a missing source fails the start (`--mount`). */
  createSource: boolean;
}

/** One mount of a container. */
export type PodMount = PodTmpfsMount | PodBindMount;

/** Whether a pod needs its VM booted with the volume share (it has a bind mount). */
export function needsVolumeShare(spec: PodSpec): boolean {
  return spec.containers.some((c) => (c.mounts ?? []).some((m) => m.type === 'bind'));
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
        throw new InvalidArgumentError(`invalid mount config for type "bind": bind source path does not exist: ${m.source}`);
      }
    }
  }
}

/** Directory of the volume share where the n-th mount of a container appears (relative). */
export function mountSubpath(containerId: string, n: number): string {
  return `${containerId.slice(0, 12)}/${n}`;
}

/**
 * Host half for one container: each bind source (created first when `createSource`) is
 * bind-mounted at `<share>/<subpath>`. Returns an undo that unmounts them (the VM's teardown
 * does the same when it is not called). A source that is not a directory is refused: the
 * guest mounts directories of the share only.
 */
export async function mountHostSources(vm: Vm, c: PodContainerSpec): Promise<() => Promise<void>> {
  const done: string[] = [];
  const undo = async () => {
    for (const t of done.reverse()) await sharedMounter().unmount(t, { detach: true });
  };
  const share = vm.devices.volumes?.hostDir;
  try {
    for (const [n, m] of (c.mounts ?? []).entries()) {
      if (m.type !== 'bind') continue;
      if (!share) throw new Error(`VM ${vm.id} has no volume share`);
      if (m.createSource) await fs.promises.mkdir(m.source, { recursive: true, mode: 0o755 });
      let st: fs.Stats;
      try {
        st = await fs.promises.stat(m.source);
      } catch {
        throw new InvalidArgumentError(`invalid mount config for type "bind": bind source path does not exist: ${m.source}`);
      }
      if (!st.isDirectory()) throw new InvalidArgumentError(`podvisor bind-mounts directories only, not ${m.source}`);
      const target = path.join(share, mountSubpath(c.id, n));
      await fs.promises.mkdir(target, { recursive: true, mode: 0o700 });
      await sharedMounter().mount({ source: m.source, target, flags: MS_BIND | MS_REC });
      done.push(target);
    }
  } catch (e) {
    await undo().catch(() => undefined);
    throw e;
  }
  return undo;
}

/**
 * Guest half for one container, after its CREATE_CONTAINER and before its init: the agent
 * mounts each tmpfs and each bind (a directory of the volume share) at its path, in order.
 */
export async function mountInGuest(vm: Vm, c: PodContainerSpec): Promise<void> {
  for (const [n, m] of (c.mounts ?? []).entries()) {
    if (m.type === 'tmpfs') {
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
    } else {
      const share = vm.devices.volumes;
      if (!share) throw new Error(`VM ${vm.id} has no volume share`);
      await vm.agent.mount({ containerId: c.id, path: m.target, fstype: 'virtiofs', source: share.tag, subpath: mountSubpath(c.id, n), readOnly: m.readOnly });
    }
  }
}
