/**
 * A base image's merged tree for an image disk's recipe (./recipe.ts): its layer directories
 * (lowest first) mounted read-only on the host, as for the image's disk (../layer-mounts.ts),
 * in a scratch directory of the caller's, and its regular files listed (./tree-files.ts). The
 * sender packs the disk over it; the receiver rebuilds the disk from it. Closing unmounts it and
 * removes the scratch directory.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mountImageLayers, writeLayerLinks } from '../layer-mounts';
import { overlayOptions } from '../overlay-options';
import { listTreeFiles } from './tree-files';
import type { BaseTree } from './unpack';
import type { Mounter } from '../../util/mounter';
import { isMountPoint } from '../../util/mounter';

/**
 * Mount `layerDirs` read-only under a new directory of `scratchRoot` (`.tree-*`) and list its
 * files. The caller closes it.
 */
export async function mountBaseTree(mounter: Mounter, layerDirs: string[], scratchRoot: string): Promise<BaseTree> {
  await fs.promises.mkdir(scratchRoot, { recursive: true, mode: 0o700 });
  const dir = await fs.promises.mkdtemp(path.join(scratchRoot, '.tree-'));
  const root = path.join(dir, 'mnt');
  const cleanup = async (): Promise<void> => {
    if (isMountPoint(root)) await mounter.unmount(root);
    // Never through the tree's mount, should its unmount have failed.
    if (!isMountPoint(root)) await fs.promises.rm(dir, { recursive: true, force: true });
  };
  try {
    await fs.promises.mkdir(root, { mode: 0o700 });
    if (overlayOptions(layerDirs, dir).links) await writeLayerLinks(dir, layerDirs);
    await mountImageLayers(mounter, layerDirs, dir, root);
    const tree = await listTreeFiles(root);
    return { root, tree, close: cleanup };
  } catch (err) {
    await cleanup().catch(() => undefined);
    throw err;
  }
}

/**
 * Remove the base trees an earlier daemon, killed while it packed or unpacked, left under
 * `scratchRoot` (their mounts first): at the daemon's start, before any pack or unpack.
 */
export async function removeLeftoverTrees(mounter: Mounter, scratchRoot: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.promises.readdir(scratchRoot);
  } catch {
    return;
  }
  for (const n of names.filter((x) => x.startsWith('.tree-'))) {
    const dir = path.join(scratchRoot, n);
    const root = path.join(dir, 'mnt');
    if (isMountPoint(root)) await mounter.unmount(root).catch(() => undefined);
    if (!isMountPoint(root)) await fs.promises.rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
