/**
 * The image disk of a VM restored from a checkpoint, or of a checkpoint's fork template
 * (src/vm/qemu/snapshots): the file the checkpoint recorded put behind the device before the
 * state loads (its guest has the image's filesystem mounted).
 */
import type { QmpClient } from '../../qemu/qmp';
import { attachImageFile } from './image-disk-qmp';

/**
 * Put `file` behind the image disk of a QEMU waiting for its state, over `q` (its monitor: the
 * connection the state's load goes on with), whose directory is `dir`.
 */
export async function attachImageDiskBeforeLoad(q: QmpClient, dir: string, file: string): Promise<void> {
  await attachImageFile(q, dir, file);
}
