/**
 * Which containers get disks hot-plugged on their VM's SCSI controller instead of the VM's own
 * upper and image disks, as a container with a VM of its own gets them in block mode: its
 * writable layer on a disk file and its image read from the image's disk, both plugged while it
 * runs (src/vm/devices/joined-disks.ts). Those of a pod that joins another pod's VM (`docker
 * run --network container:X`, a CRI container in its sandbox's VM: PodSpec.joinPod), and each
 * container of a native pod of several (a pod file's: the VM's own disks are one pair).
 * Decided at create, since the disk files are made then; otherwise the layers stay on the host
 * and the images are read over a share, as before.
 */
import { imageDiskFits } from '../../vm/devices';
import type { PodContext } from '../context';
import { needsVolumeShare } from '../mounts/mounts';
import { nicsFor } from '../network/network';
import { mainContainer, type PodSpec } from '../types';

/**
 * Whether the containers of `spec` that have disks get them hot-plugged (not the VM's own
 * devices): a pod joining another's VM, or a pod of several containers (the agent's pause of a
 * CRI sandbox aside, which has no disk).
 */
export function hotPlugsDisks(spec: Pick<PodSpec, 'joinPod' | 'containers'>): boolean {
  return !!spec.joinPod || spec.containers.filter((c) => !c.podPause).length > 1;
}

/**
 * True when native pod `spec` of several containers (a pod file's, in a VM of its own) gets
 * disks: every container reads its image from a disk (the daemon's default), and a VM of its
 * devices has a transport left for the image disk, whose SCSI controller takes the disks.
 */
export function podOfSeveralTakesDisks(spec: PodSpec): boolean {
  if (spec.joinPod || !hotPlugsDisks(spec)) return false;
  const apps = spec.containers.filter((c) => !c.podPause);
  return (
    apps.every((c) => c.imageOnDisk) &&
    imageDiskFits({ nics: nicsFor(spec.network), volumes: needsVolumeShare(spec), upperDisk: true })
  );
}

/**
 * True when joining pod `spec` (one container, its image to be read from a disk) gets disks:
 * the pod it joins runs on a VM with the SCSI controller (its image disk's; a CRI sandbox's VM
 * from the warm pool has one, a clone shaped for it alone not), or, not running
 * yet, is a pod of one container with a VM of its own, on its disk, reading its image from a
 * disk, and so will. A target that is gone, joins another itself, or reads the layers share
 * gives none.
 */
export function joinerTakesDisks(ctx: PodContext, spec: PodSpec): boolean {
  const join = spec.joinPod;
  if (!join || spec.containers.length !== 1 || !spec.containers[0].imageOnDisk) return false;
  let host;
  try {
    host = ctx.registry.lookup(join.pod);
  } catch {
    return false;
  }
  if (host.run) return !host.run.borrowed && !!host.run.vm.devices.imageDisk && !!host.run.vm.attachJoinedDisks;
  const main = mainContainer(host.record);
  return (
    !host.record.sandbox.spec.joinPod &&
    !host.record.sandbox.spec.cni &&
    !!main.spec.imageOnDisk &&
    !!ctx.deps.rootfs.usesDisk?.(main.spec.id)
  );
}
