/**
 * Where a container's rootfs lies in its VM's share directory: the host mounts it there
 * (../lifecycle/runtime.ts, ./guest-files.ts), the guest finds it there, and a restored pod's
 * rootfs is adopted there (../lifecycle/restore.ts).
 */
import type { BeneathPath } from '../../util/beneath';
import type { Vm } from '../../vm/types';

/** The rootfs path of a container relative to the VM's share directory. */
export function rootfsInShare(containerId: string): string {
  return `containers/${containerId}/rootfs`;
}

/** Where a container's rootfs is mounted in `vm`: below its share directory, which the guest writes. */
export function rootfsTarget(vm: Vm, containerId: string): BeneathPath {
  return { root: vm.shareDir, rel: rootfsInShare(containerId) };
}
