/**
 * The host's side of a socket file in a VM's volume share (./share-sockets.ts): the file
 * reached beneath the share with no symlink followed, and a host listener's socket given the
 * guest file's owner and mode.
 */
import * as fs from 'node:fs';
import type * as net from 'node:net';
import { constants as osConstants } from 'node:os';
import { at, O_PATH, openChild, type BeneathPath } from '../../util/beneath';
import { openGuestParent } from '../../util/resolve-beneath';

/** The errno of a failed connect (ECONNREFUSED when it names none): the guest's connect fails with it. */
export function errnoOf(e: unknown): number {
  const code = (e as NodeJS.ErrnoException).code;
  const n = code ? (osConstants.errno as Record<string, number>)[code] : undefined;
  return n ?? osConstants.errno.ECONNREFUSED;
}

/** The socket file at `p`, held by an O_PATH fd (no symlink followed); rejects when it is not a socket (ECONNREFUSED) or is missing. */
export async function openSocketFile(
  p: BeneathPath,
): Promise<{ parent: fs.promises.FileHandle; name: string; file: fs.promises.FileHandle }> {
  const { parent, name } = await openGuestParent(p);
  try {
    const file = await openChild(parent, name, 'socket', O_PATH);
    return { parent, name, file };
  } catch (e) {
    await parent.close();
    throw e;
  }
}

/**
 * Give the host's socket at `name` (inode `ino`, reached again beneath the held `parent`, never
 * by a followed path) the guest's file's owner and mode, as they are now: a server that
 * chmods and chowns its socket after the bind (php-fpm's listen.owner and listen.mode) may
 * have done so on the guest's inode before the rename, or does it by name after, on ours.
 */
export async function copyOwnership(
  guestFile: fs.promises.FileHandle,
  parent: fs.promises.FileHandle,
  name: string,
  ino: number,
): Promise<void> {
  const want = await guestFile.stat();
  const fh = await openChild(parent, name, 'socket', O_PATH);
  try {
    const st = await fh.stat();
    if (st.ino !== ino) throw new Error(`${name} was replaced meanwhile`);
    // Through the held inode's fd: a name swapped since is not what is changed.
    if (st.uid !== want.uid || st.gid !== want.gid) await fs.promises.chown(at(fh), want.uid, want.gid);
    if ((st.mode & 0o7777) !== (want.mode & 0o7777)) await fs.promises.chmod(at(fh), want.mode & 0o7777);
  } finally {
    await fh.close();
  }
}

/** Bind `server` at `path` (mode 0777 less the daemon's umask, until copyOwnership). */
export function listen(server: net.Server, path: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, 511, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
