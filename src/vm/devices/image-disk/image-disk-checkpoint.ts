/**
 * The image disk of a VM restored from a checkpoint, or of a checkpoint's fork template
 * (src/vm/qemu/snapshots): the file the checkpoint recorded put behind the device before the
 * state loads (its guest has the image's filesystem mounted).
 */
import { connectWhenListening } from '../../qemu/qmp';
import { attachImageFile } from './image-disk-qmp';

/** Put `file` behind the image disk of a QEMU waiting for its state (its QMP socket is there). */
export async function attachImageDiskBeforeLoad(qmpSock: string, dir: string, file: string): Promise<void> {
  const q = await connectWhenListening(qmpSock);
  try {
    await attachImageFile(q, dir, file);
  } finally {
    q.close();
  }
}
