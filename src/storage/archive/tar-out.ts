/**
 * A tar stream of a tree inside a container's root (GET /containers/{id}/archive and
 * /export), read without following any symlink: every directory is opened with O_NOFOLLOW
 * relative to its already-open parent, so a guest that swaps entries for symlinks while the
 * tree is read cannot make the host read outside it; and a file is read only once its opened
 * descriptor says it is a regular file (./open-regular.ts), so one swapped for a FIFO or a
 * device node meanwhile is never opened on the host.
 *
 * Entries are named as dockerd names them: the tree's top under `base` (directories with a
 * trailing slash), or, with base '', only its contents (export). Hard links inside the tree
 * become link entries; sockets are skipped; extended attributes are not copied. A file that
 * shrinks while it is read is padded with zeros to the size its header announced.
 *
 * The walk holds one descriptor per directory level it is in, so a tree's depth would be the
 * daemon's descriptors (a tree 30,000 deep took 20,000, every one the daemon may hold). An
 * entry whose path in the container would be longer than PATH_MAX (4095 bytes) is left out, as
 * dockerd leaves it out (its lstat fails with ENAMETOOLONG, and it goes on without it): the
 * walk holds at most ~2,048 descriptors (one-byte names), and the archive is dockerd's.
 */
import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { at, listDir, RootDir } from './resolve';
import { openRegularAt } from './open-regular';
import { packEntry, writeEntry, type TarHeader } from '../tar-pack';

const CHUNK = 256 * 1024;

/** The longest path dockerd archives: PATH_MAX less its NUL (lstat(2) fails beyond it). */
export const MAX_PATH_BYTES = 4095;

/** How packTree names and bounds its entries. */
export interface PackOptions {
  /**
   * The bytes that precede an entry's tar name in its path in the container (`/` and the
   * parents of the tree's top; 1 for an export's entries): an entry whose path would be longer
   * than MAX_PATH_BYTES is left out with what is below it. Default 0.
   */
  prefixBytes?: number;
}

/** Major and minor numbers of a Linux dev_t. */
function devParts(rdev: number): { major: number; minor: number } {
  const r = BigInt(rdev);
  const major = Number(((r >> 8n) & 0xfffn) | ((r >> 32n) & ~0xfffn));
  const minor = Number((r & 0xffn) | ((r >> 12n) & ~0xffn));
  return { major, minor };
}

/**
 * Pack entry `name` of directory `dir` (or `dir` itself when name is undefined) as `base`.
 * Returns the tar stream; errors while reading destroy it.
 */
export function packTree(
  dir: fs.promises.FileHandle,
  name: string | undefined,
  base: string,
  opts: PackOptions = {},
): Readable {
  const pack = tar.pack();
  const prefixBytes = opts.prefixBytes ?? 0;
  const links = new Map<string, string>();
  const entry = (header: TarHeader, body?: Buffer): Promise<void> =>
    packEntry(pack, header, body ?? Buffer.alloc(0)).done;

  // The kind is taken again from the opened descriptor (./open-regular.ts): what the walk's
  // lstat saw may have been swapped meanwhile, and only a regular file is read.
  const fileEntry = async (parent: fs.promises.FileHandle, n: string, hdr: TarHeader): Promise<void> => {
    const { stat: st, handle: fh } = await openRegularAt(parent, n);
    if (!fh) {
      // Swapped for another kind since the walk looked: archived as what was opened.
      if (st.isDirectory()) return; // its contents were not walked: left out, as if created later
      return nodeEntry(parent, n, st, { ...hdr, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime });
    }
    try {
      const { entry: out, done } = packEntry(pack, { ...hdr, type: 'file', size: st.size });
      let left = st.size;
      while (left > 0) {
        const buf = Buffer.alloc(Math.min(CHUNK, left));
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        // Shrunk meanwhile: the header's size is kept, the rest is zeros.
        const chunk = bytesRead === 0 ? buf : buf.subarray(0, bytesRead);
        left -= chunk.length;
        await writeEntry(out, chunk);
      }
      (out as unknown as { end(): void }).end();
      await done;
    } finally {
      await fh.close();
    }
  };

  /** A symlink, device, FIFO (header only, nothing opened) or socket (skipped) entry. */
  const nodeEntry = async (parent: fs.promises.FileHandle, n: string, st: fs.Stats, hdr: TarHeader): Promise<void> => {
    if (st.isSymbolicLink())
      return entry({ ...hdr, type: 'symlink', linkname: await fs.promises.readlink(at(parent, n)) });
    if (st.isCharacterDevice() || st.isBlockDevice()) {
      const { major, minor } = devParts(st.rdev);
      return entry({
        ...hdr,
        type: st.isCharacterDevice() ? 'character-device' : 'block-device',
        devmajor: major,
        devminor: minor,
      });
    }
    if (st.isFIFO()) return entry({ ...hdr, type: 'fifo' });
    // Sockets cannot be archived (dockerd skips them too).
  };

  const walk = async (
    parent: fs.promises.FileHandle,
    n: string | undefined,
    st: fs.Stats,
    tarName: string,
  ): Promise<void> => {
    const hdr: TarHeader = { name: tarName, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
    if (st.isDirectory()) {
      const self = n === undefined ? parent : await RootDir.openDir(parent, n);
      try {
        if (tarName !== '') await entry({ ...hdr, name: `${tarName}/`, type: 'directory' });
        const names = await listDir(self);
        for (const child of names) {
          const childName = tarName === '' ? child : `${tarName}/${child}`;
          if (prefixBytes + Buffer.byteLength(childName) > MAX_PATH_BYTES) continue; // as dockerd: too long to lstat
          let cst: fs.Stats;
          try {
            cst = await fs.promises.lstat(at(self, child));
          } catch {
            continue; // removed meanwhile
          }
          await walk(self, child, cst, childName);
        }
      } finally {
        if (self !== parent) await self.close();
      }
      return;
    }
    if (n === undefined) return;
    if (st.nlink > 1 && !st.isDirectory()) {
      const key = `${st.dev}:${st.ino}`;
      const first = links.get(key);
      if (first !== undefined) return entry({ ...hdr, type: 'link', linkname: first });
      links.set(key, tarName);
    }
    if (st.isFile()) return fileEntry(parent, n, hdr);
    return nodeEntry(parent, n, st, hdr);
  };

  void (async () => {
    const st = name === undefined ? await dir.stat() : await fs.promises.lstat(at(dir, name));
    await walk(dir, name, st, base);
    pack.finalize();
  })().catch((e: Error) => pack.destroy(e));
  return Readable.from(pack);
}
