/**
 * Squashing an image onto one of its ancestors (`docker build --squash`, dockerd's
 * SquashImage): the layers the image has above the ancestor become one layer, holding what
 * they change of the ancestor's root filesystem together, and a new image is recorded with
 * the ancestor's layers plus that one. Its history is the image's, each entry above the
 * ancestor's marked `empty_layer`, and one entry more whose comment says what was merged; its
 * config is the image's. The new image has no parent, as dockerd's.
 *
 * The layers are merged on the host in a scratch directory, in overlay form, bottom to top
 * (a later layer's file replaces an earlier one's, its whiteout removes it, its opaque
 * directory replaces the directory), by hard links to the stored layers' files (which are
 * never written), or copies where the scratch directory is on another filesystem. The result
 * is packed as a writable layer over the ancestor (./commit-tar.ts), so a whiteout or an
 * opaque directory is kept only where the ancestor has something to hide.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError } from '../errors';
import type { CommitStores } from './commit';
import { storeLayerTar } from './commit-layer';
import { recordImage } from './commit-image';
import { isOpaqueDir, packUpper } from './commit-tar';
import { existsInLayers } from './archive/changes';
import { lsetxattr } from './fsops';
import type { ImageConfig } from './types';

function isWhiteout(st: fs.Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/** Link `src` at `dst` (a copy across filesystems). */
async function place(src: string, dst: string, st: fs.Stats): Promise<void> {
  try {
    await fs.promises.link(src, dst);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    if (st.isSymbolicLink()) await fs.promises.symlink(await fs.promises.readlink(src), dst);
    else if (st.isFile()) await fs.promises.copyFile(src, dst);
    else throw err;
    await fs.promises.lchown(dst, st.uid, st.gid);
    if (!st.isSymbolicLink()) await fs.promises.chmod(dst, st.mode & 0o7777);
    await fs.promises.lutimes(dst, st.atime, st.mtime);
  }
}

/**
 * Apply layer directory `layer` (overlay form) onto `merged` below `rel`. `hidden` tells
 * whether a path exists in the layers below all the merged ones (only there does a whiteout
 * have something to hide).
 */
async function applyLayer(
  layer: string,
  merged: string,
  rel: string[],
  hidden: (comps: string[]) => Promise<boolean>,
): Promise<void> {
  for (const name of await fs.promises.readdir(path.join(layer, ...rel))) {
    const comps = [...rel, name];
    const src = path.join(layer, ...comps);
    const dst = path.join(merged, ...comps);
    const st = await fs.promises.lstat(src);
    const have = await fs.promises.lstat(dst).catch(() => undefined);
    if (isWhiteout(st)) {
      if (have) await fs.promises.rm(dst, { recursive: true, force: true });
      if (await hidden(comps)) await place(src, dst, st);
      continue;
    }
    if (st.isDirectory()) {
      // A directory where an earlier layer left a file or a whiteout hides all below it too.
      // Whether it is opaque matters only where something below has the path (one spawn each).
      const mayHide = have !== undefined || (await hidden(comps));
      const opaque = (mayHide && (await isOpaqueDir(src))) || (have !== undefined && !have.isDirectory());
      if (have && (opaque || !have.isDirectory())) await fs.promises.rm(dst, { recursive: true, force: true });
      if (!have || opaque || !have.isDirectory()) await fs.promises.mkdir(dst);
      await fs.promises.lchown(dst, st.uid, st.gid);
      await fs.promises.chmod(dst, st.mode & 0o7777);
      if (opaque) await lsetxattr(dst, 'trusted.overlay.opaque', Buffer.from('y'));
      await applyLayer(layer, merged, comps, hidden);
      await fs.promises.utimes(dst, st.atime, st.mtime);
      continue;
    }
    if (have) await fs.promises.rm(dst, { recursive: true, force: true });
    await place(src, dst, st);
  }
}

/**
 * Squash image `imageId` onto its ancestor `ancestorId` (undefined: onto nothing, the whole
 * image in one layer); resolves with the new image's ID. `scratchRoot` is a directory of the
 * daemon's for the merge (on the layers' filesystem, so that files are linked, not copied).
 */
export async function squashImage(
  stores: CommitStores,
  scratchRoot: string,
  imageId: string,
  ancestorId: string | undefined,
): Promise<string> {
  const img = stores.images.config(imageId);
  const ancestor: ImageConfig | undefined = ancestorId ? stores.images.config(ancestorId) : undefined;
  const below = ancestor?.rootfs.diff_ids ?? [];
  const all = img.rootfs.diff_ids;
  if (below.some((d, i) => all[i] !== d)) {
    throw new InvalidArgumentError(
      `layer ID '${ancestorId}' is not a parent of the specified layer: cannot provide diff to non-parent`,
    );
  }
  const release = stores.layers.hold(all);
  await fs.promises.mkdir(scratchRoot, { recursive: true, mode: 0o700 });
  const merged = await fs.promises.mkdtemp(path.join(scratchRoot, 'squash-'));
  try {
    const lowerDirs = below.map((d) => stores.layers.get(d).dir).reverse();
    const hidden = (comps: string[]) => existsInLayers(lowerDirs, comps);
    for (const d of all.slice(below.length)) await applyLayer(stores.layers.get(d).dir, merged, [], hidden);
    const packed = await packUpper(merged, lowerDirs);
    const layer = await storeLayerTar(packed.stream, stores.content, stores.layers);
    const keep = stores.layers.hold([layer.diffId]);
    try {
      const created = new Date().toISOString();
      const history = (img.history ?? []).map((h, i) =>
        i >= (ancestor?.history ?? []).length ? { ...h, empty_layer: true } : h,
      );
      history.push({
        created,
        comment: ancestorId ? `merge ${imageId} to ${ancestorId}` : `create new from ${imageId}`,
      });
      const config = {
        ...img,
        created,
        history,
        rootfs: { type: 'layers' as const, diff_ids: [...below, layer.diffId] },
      };
      return await recordImage(stores.content, stores.images, { bytes: Buffer.from(JSON.stringify(config)), config });
    } finally {
      keep();
    }
  } finally {
    release();
    await fs.promises.rm(merged, { recursive: true, force: true });
  }
}
