/**
 * A block-mode container's disks put where its guest finds them, at its start (phase 2 of
 * ./runtime.ts), and how the agent's CREATE_CONTAINER names them: in a VM of its own, its upper
 * disk and its image's disk behind the VM's own devices; in another pod's VM, or in a pod of
 * several (./joined-disks.ts), both hot-plugged on the VM's SCSI controller. The VM's own image
 * disk belongs to the VM's own container: a container on hot-plugged disks never touches it.
 */
import { UnavailableError } from '../../errors';
import type { RootfsManager } from '../../storage/types';
import { joinedDiskNames } from '../../vm/devices';
import type { Vm } from '../../vm/types';
import { diskNameOf, type PodContainerSpec } from '../types';

/** What of a start the disks depend on. */
export interface DiskStart {
  rootfs: RootfsManager;
  /** The disks are hot-plugged on the VM's SCSI controller (a joined container, a pod of several). */
  hotPluggedDisks?: boolean;
  /** A restore: the checkpoint's disks were put behind the VM's devices (or hot-plugged) before its state loaded. */
  restoring?: unknown;
}

/** Undo steps of a start (./runtime.ts). */
type Undo = Array<() => Promise<void>>;

/**
 * Container `c`'s disks (its upper disk file `disk`) attached to `vm`, with their rates; what
 * undoes each pushed on `undo`.
 */
export async function attachContainerDisks(
  s: DiskStart,
  vm: Vm,
  c: PodContainerSpec,
  disk: string,
  undo: Undo,
): Promise<void> {
  // A restored VM had the checkpoint's disks put behind its devices before its state loaded.
  if (s.restoring) return;
  if (s.hotPluggedDisks) {
    if (!c.imageOnDisk || !s.rootfs.imageDisk || !vm.attachJoinedDisks)
      throw new UnavailableError(`VM ${vm.id} cannot take the disks of container ${c.id}`);
    await vm.attachJoinedDisks(diskNameOf(c), disk, await s.rootfs.imageDisk(c.id));
    undo.push(() => vm.detachJoinedDisks?.(diskNameOf(c)) ?? Promise.resolve());
    if (c.diskThrottle) {
      if (!vm.throttleJoinedDisk) throw new UnavailableError(`VM ${vm.id} cannot limit the rates of a joined disk`);
      await vm.throttleJoinedDisk(diskNameOf(c), c.diskThrottle);
    }
    return;
  }
  if (!vm.devices.upperDisk || !vm.attachUpperDisk)
    throw new UnavailableError(`VM ${vm.id} has no disk for the writable layer of container ${c.id}`);
  await vm.attachUpperDisk(disk);
  undo.push(() => vm.detachUpperDisk?.() ?? Promise.resolve());
  if (c.diskThrottle) {
    if (!vm.throttleUpperDisk) throw new UnavailableError(`VM ${vm.id} cannot limit the rates of its disk`);
    await vm.throttleUpperDisk(c.diskThrottle);
  }
  // Its image read from a disk (image=disk): the image's read-only disk (made at the image's
  // first use when not before) behind the VM's image disk; a restored VM had it put there
  // before its state loaded. A VM with no transport left for one (./sandbox.ts) has none, and
  // the container reads its image over a share instead.
  if (c.imageOnDisk && vm.devices.imageDisk) {
    if (!vm.attachImageDisk || !s.rootfs.imageDisk)
      throw new UnavailableError(`VM ${vm.id} has no image disk for container ${c.id}`);
    await vm.attachImageDisk(await s.rootfs.imageDisk(c.id));
  }
}

/**
 * How the agent finds container `c`'s disks: the VM's own upper and image disks, or the two
 * hot-plugged for it, by their serials; none for a container whose layer is
 * on the host.
 */
export function guestDisks(s: DiskStart, vm: Vm, c: PodContainerSpec): { upperDisk?: string; imageDisk?: string } {
  if (c.podPause || !s.rootfs.diskOf?.(c.id)) return {};
  if (s.hotPluggedDisks) {
    const names = joinedDiskNames(diskNameOf(c));
    return { upperDisk: names.upperSerial, imageDisk: names.imageSerial };
  }
  return {
    ...(vm.devices.upperDisk ? { upperDisk: vm.devices.upperDisk.guestName } : {}),
    ...(c.imageOnDisk && vm.devices.imageDisk ? { imageDisk: vm.devices.imageDisk.serial } : {}),
  };
}
