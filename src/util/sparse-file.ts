/**
 * A new sparse file of a given size: made exclusively (an existing file is an error, so nothing
 * is followed or overwritten), owner-only, every byte a hole until written.
 */
import * as fs from 'node:fs';

/** Make `file` (which must not exist) as a sparse file of `bytes`, mode 0600. */
export async function createSparseFile(file: string, bytes: number): Promise<void> {
  const fh = await fs.promises.open(file, 'wx', 0o600);
  try {
    await fh.truncate(bytes);
  } finally {
    await fh.close();
  }
}
