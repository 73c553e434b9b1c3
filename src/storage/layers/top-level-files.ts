/**
 * A tar of chosen top-level files of an image, as its merged tree has them: for each name, the
 * file of the highest layer that has that name (a whiteout there hides the lower ones), read
 * from the layer store's own unpacked directories. What CRI-O's checkpoint image carries (a
 * CheckpointContainer archive's members, `buildah add`ed at its root: src/api/cri) is read
 * back through it as the archive it came from.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tar from 'tar-stream';
import type { Readable } from 'node:stream';
import { InvalidArgumentError } from '../../errors';
import { packEntry, writeEntry } from '../tar-pack';

/** Where top-level file `name` is in layers `layerDirs` (lowest first); undefined when the image has none. */
async function findInLayers(layerDirs: readonly string[], name: string): Promise<string | undefined> {
  for (let i = layerDirs.length - 1; i >= 0; i--) {
    const file = path.join(layerDirs[i], name);
    let st: fs.Stats;
    try {
      st = await fs.promises.lstat(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    // An overlay whiteout (a 0:0 character device) removes the lower layers' file.
    if (st.isCharacterDevice() && st.rdev === 0) return undefined;
    if (!st.isFile()) throw new InvalidArgumentError(`its ${name} is not a regular file`);
    return file;
  }
  return undefined;
}

/** Add `file` to `pack` as member `name`, its size and bytes as opened (never through a link). */
async function addMember(pack: tar.Pack, name: string, file: string): Promise<void> {
  const fh = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new InvalidArgumentError(`its ${name} is not a regular file`);
    const { entry, done } = packEntry(pack, { name, size: st.size, mode: 0o600, type: 'file' });
    const buf = Buffer.alloc(1024 * 1024);
    for (let at = 0; at < st.size; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, st.size - at), at);
      if (bytesRead === 0) throw new InvalidArgumentError(`its ${name} shrank while it was read`);
      await writeEntry(entry, Buffer.from(buf.subarray(0, bytesRead)));
      at += bytesRead;
    }
    entry.end(undefined);
    await done;
  } finally {
    await fh.close();
  }
}

/**
 * The files `names` of the image whose layers are `layerDirs` (lowest first, the layer store's
 * directories), as a tar of those members in that order, each a regular file as the merged tree
 * has it. A name the image does not have, or has as anything but a regular file, fails the
 * stream with an InvalidArgumentError naming it. Nothing is followed: a member is opened with
 * O_NOFOLLOW and its type checked on the descriptor.
 */
export function tarOfTopLevelFiles(layerDirs: readonly string[], names: readonly string[]): Readable {
  const pack = tar.pack();
  void (async () => {
    for (const name of names) {
      if (name.includes('/') || name === '.' || name === '..')
        throw new InvalidArgumentError(`${name} is not a file name`);
      const file = await findInLayers(layerDirs, name);
      if (!file) throw new InvalidArgumentError(`the image holds no ${name}`);
      await addMember(pack, name, file);
    }
    pack.finalize();
  })().catch((err: Error) => pack.destroy(err));
  return pack as unknown as Readable;
}
