/**
 * Copy-up: a new (empty) volume mounted over a directory of the image gets that directory's
 * content, ownership and mode, as dockerd fills a volume at create. The container's root is
 * opened through ContainerArchive (the overlay mounted for the time of the copy; in block mode
 * the image layers alone, which are its root at create), the directory is resolved inside it
 * without leaving it (symlinks in the path stay inside the container's root), and its tree is
 * copied from the open directory into the volume as `docker cp` copies into a running
 * container: read through held descriptors (./archive/tar-out.ts), written with no-follow calls
 * at held parents (./archive/tar-in.ts). The volume may already be mounted in another running
 * container, whose guest can plant a symlink in it at any moment: nothing is written through one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UnavailableError } from '../errors';
import { removeGuestTree } from '../util/remove-tree';
import { at, RootDir } from './archive/resolve';
import type { ContainerArchive } from './archive/service';
import { extractInto } from './archive/tar-in';
import { packTree } from './archive/tar-out';

/**
 * Fill each empty directory of `targets` (host data directories, keyed by container path)
 * from container `id`'s root. Paths missing in the image, or not directories there, are
 * skipped, as dockerd skips them; a volume that already holds data is left as it is.
 */
export async function copyUpVolumes(
  archive: ContainerArchive,
  id: string,
  targets: ReadonlyArray<{ path: string; dataDir: string }>,
): Promise<void> {
  const todo: Array<{ path: string; dataDir: string }> = [];
  for (const t of targets) if (await isEmptyDir(t.dataDir)) todo.push(t);
  if (!todo.length) return;
  // At create the container's root is its image (a block-mode one's disk is still empty).
  const o = await archive.open(id, { imageOnly: true });
  try {
    for (const t of todo) {
      const r = await o.root.resolve(t.path, { followLast: true }).catch(() => undefined);
      if (!r) continue;
      try {
        if (!r.stat?.isDirectory() || r.name === undefined) continue;
        const dir = await fs.promises.open(
          at(r.dir, r.name),
          fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW,
        );
        try {
          await copyTree(dir, t.dataDir);
        } finally {
          await dir.close();
        }
      } finally {
        await r.release();
      }
    }
  } finally {
    await o.close();
  }
}

async function isEmptyDir(dir: string): Promise<boolean> {
  const d = await fs.promises.opendir(dir);
  try {
    return (await d.read()) === null;
  } finally {
    await d.close().catch(() => undefined);
  }
}

/**
 * Copy the tree of the directory open as `src` into `dataDir` (the daemon's path of a volume's
 * data; everything below it the guests'), then give `dataDir` the owner, mode and times of `src`.
 */
async function copyTree(src: fs.promises.FileHandle, dataDir: string): Promise<void> {
  const dest = await RootDir.open(dataDir);
  try {
    await extractInto(dest, '/', packTree(src, undefined, ''));
    const st = await src.stat();
    await dest.handle.chown(st.uid, st.gid);
    await dest.handle.chmod(st.mode & 0o7777);
    await dest.handle.utimes(st.atime, st.mtime);
  } finally {
    await dest.close();
  }
}

/**
 * Move a volume kept on a container's own disk into its host directory, before that container
 * (and its disk) goes: the tree of volume `mount.volume` mounted at container path
 * `mount.target`, read by the container's guest from that mount (or, while the container's
 * disk is still to be made, from its seed directory) (./archive/guest.ts checks the tar it sends), is extracted with no-follow calls at held
 * parents into a new directory beside `dataDir` (the volume's `_data`, empty until now), which
 * then takes `_data`'s place, with the owner and mode the tree had in the container.
 */
export async function copyOutOfContainer(
  archive: ContainerArchive,
  id: string,
  mount: { target: string; volume: string },
  dataDir: string,
): Promise<void> {
  const { target, volume } = mount;
  const staging = await fs.promises.mkdtemp(path.join(path.dirname(dataDir), '.moving-'));
  try {
    const { stat, tar } = await archive.get(id, id, target, [{ target, volume, inGuest: true, readOnly: true }]);
    const dest = await RootDir.open(staging);
    try {
      await extractInto(dest, '/', tar);
    } finally {
      tar.destroy();
      await dest.close();
    }
    const moved = path.join(staging, stat.name);
    const st = await fs.promises.lstat(moved);
    if (!st.isDirectory()) throw new UnavailableError(`${target} in the container is no directory`);
    await fs.promises.rmdir(dataDir);
    await fs.promises.rename(moved, dataDir);
  } finally {
    await removeGuestTree(staging);
  }
}
