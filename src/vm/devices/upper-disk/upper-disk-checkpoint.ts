/**
 * The upper disk in a checkpoint (src/vm/qemu/snapshots/checkpoint.ts): the host file behind
 * the device copied (sparse) while the saved VM is stopped (a copy-on-write disk's overlay
 * copied, the read-only files under it linked: src/util/disk-chain.ts), and a restored VM's
 * disk put behind the device before its state loads (its guest has the disk's filesystem
 * mounted).
 */
import { copyDisk, removeDisk } from '../../../util/disk-chain';
import type { QmpClient } from '../../qemu/qmp';
import { attachFile } from './upper-disk-qmp';

/** The file behind a saved VM's upper disk, and where the checkpoint keeps its copy. */
export interface UpperDiskCopy {
  file: string;
  copy: string;
}

/**
 * Copy the upper disk into the checkpoint; its VM is stopped meanwhile (the stop flushed what
 * QEMU held of a qcow2 overlay's tables into its file).
 */
export async function copyUpperDisk(disk: UpperDiskCopy): Promise<void> {
  await copyDisk(disk.file, disk.copy);
}

/** Remove the checkpoint's copy of the upper disk (a save that failed after the copy). */
export async function removeUpperDiskCopy(disk: UpperDiskCopy): Promise<void> {
  await removeDisk(disk.copy);
}

/**
 * Put `file` behind the upper disk of a QEMU waiting for its state, over `q` (its monitor: the
 * connection the state's load goes on with), whose directory is `dir`.
 */
export async function attachUpperDiskBeforeLoad(q: QmpClient, dir: string, file: string): Promise<void> {
  await attachFile(q, dir, file);
}
