/**
 * The upper disk in a checkpoint (src/vm/qemu/snapshots/checkpoint.ts): the host file behind
 * the device copied (sparse) while the saved VM is stopped, and a restored VM's copy put behind
 * the device before its state loads (its guest has the disk's filesystem mounted).
 */
import * as fs from 'node:fs';
import { copySparse } from '../../../util/copy-sparse';
import { connectWhenListening } from '../../qemu/qmp';
import { attachFile } from './upper-disk-qmp';

/** The file behind a saved VM's upper disk, and where the checkpoint keeps its copy. */
export interface UpperDiskCopy {
  file: string;
  copy: string;
}

/** Copy the upper disk's file (sparse) into the checkpoint; its VM is stopped meanwhile. */
export async function copyUpperDisk(disk: UpperDiskCopy): Promise<void> {
  await copySparse(disk.file, disk.copy);
}

/** Remove the checkpoint's copy of the upper disk (a save that failed after the copy). */
export async function removeUpperDiskCopy(disk: UpperDiskCopy): Promise<void> {
  await fs.promises.rm(disk.copy, { force: true });
}

/**
 * Put `file` behind the upper disk of a QEMU waiting for its state, whose QMP socket is
 * `qmpSock` and directory `dir`: its socket file exists from bind(2) a moment before QEMU
 * listens on it.
 */
export async function attachUpperDiskBeforeLoad(qmpSock: string, dir: string, file: string): Promise<void> {
  const q = await connectWhenListening(qmpSock);
  try {
    await attachFile(q, dir, file);
  } finally {
    q.close();
  }
}
