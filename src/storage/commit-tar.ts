/**
 * A container's writable layer (the overlayfs upper directory) as an image layer tar, in the
 * OCI form that pull, load and push exchange:
 *   - an overlay whiteout (character device 0:0) becomes an empty file `dir/.wh.<name>`;
 *   - an opaque directory (trusted.overlay.opaque=y) is followed by `dir/.wh..wh..opq`.
 *
 * The upper directory was written by the guest, so it is read without following any symlink:
 * directories are opened with O_NOFOLLOW relative to their open parent (./archive/resolve.ts),
 * and a file is read only when its opened descriptor says it is a regular one
 * (./archive/open-regular.ts), as docker export reads a root.
 *
 * Left out, as dockerd leaves them out (they are bind mounts there, never part of the
 * container's layer): /etc/hostname, /etc/hosts and /etc/resolv.conf, which the pod layer
 * writes into the root before each start. A directory that exists in the image below and has
 * nothing kept under it is an overlay copy-up only (it was opened for one of those files, or
 * for a mount point) and is left out too, so that a step that changed nothing gives an empty
 * layer. So are, in an image that lacks them, an empty /dev, /proc or /sys (the guest's mount
 * points) and an /etc holding only those files (the pod layer makes it for FROM scratch
 * images): dockerd keeps them in its init layer, never in a commit.
 */
import * as fs from 'node:fs';
import { execFile } from 'node:child_process';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { at, listDir, RootDir } from './archive/resolve';
import { existsInLayers } from './archive/changes';
import { openRegularAt } from './archive/open-regular';

type TarHeader = Parameters<tar.Pack['entry']>[0];

/** Files the pod layer writes into every root and dockerd keeps out of a commit. */
const RUNTIME_FILES = new Set(['etc/hostname', 'etc/hosts', 'etc/resolv.conf']);
/** Mount points the guest makes when an image lacks them (dockerd's init layer has them). */
const RUNTIME_DIRS = new Set(['dev', 'proc', 'sys']);

const CHUNK = 256 * 1024;

function isWhiteout(st: fs.Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/**
 * Whether directory `p` carries trusted.overlay.opaque=y. `p` is the /proc fd path of a
 * directory opened with O_NOFOLLOW, so following it reaches that very directory.
 */
export function isOpaqueDir(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(
      'getfattr',
      ['--only-values', '-n', 'trusted.overlay.opaque', '--', p],
      { timeout: 30000, encoding: 'buffer' },
      (err, stdout) => {
        resolve(!err && stdout.toString('latin1') === 'y');
      },
    );
  });
}

/** One entry of the layer, as collected before anything is written. */
interface Planned {
  name: string;
  header: TarHeader;
  /** For regular files: the directory holding it and its name there (read at pack time). */
  file?: { dir: fs.promises.FileHandle; name: string; size: number };
}

/** Major and minor numbers of a Linux dev_t. */
function devParts(rdev: number): { major: number; minor: number } {
  const r = BigInt(rdev);
  return {
    major: Number(((r >> 8n) & 0xfffn) | ((r >> 32n) & ~0xfffn)),
    minor: Number((r & 0xffn) | ((r >> 12n) & ~0xffn)),
  };
}

/** The result of packing a writable layer. */
export interface UpperTar {
  /** The layer tar. */
  stream: Readable;
  /** Entries in it (0: nothing changed). */
  entries: number;
}

/**
 * Pack `upper` (the writable layer over `lowerDirs`, top layer first) as an OCI layer tar.
 * The tree is walked first (to know which copied-up directories to leave out), then packed;
 * the returned stream owns the open directories and closes them when it ends.
 */
export async function packUpper(
  upper: string,
  lowerDirs: string[],
  opts: { opaque?: (hostPath: string) => Promise<boolean> } = {},
): Promise<UpperTar> {
  const opaque = opts.opaque ?? isOpaqueDir;
  const root = await RootDir.open(upper);
  const handles: fs.promises.FileHandle[] = [];
  const links = new Map<string, string>();
  const walk = async (dir: fs.promises.FileHandle, comps: string[], belowNew: boolean): Promise<Planned[]> => {
    const out: Planned[] = [];
    for (const n of await listDir(dir)) {
      const c = [...comps, n];
      const name = c.join('/');
      let st: fs.Stats;
      try {
        st = await fs.promises.lstat(at(dir, n));
      } catch {
        continue;
      }
      const header: TarHeader = { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
      if (isWhiteout(st)) {
        if (!belowNew)
          out.push({
            name,
            header: { ...header, name: [...comps, `.wh.${n}`].join('/'), type: 'file', size: 0, mode: 0o600 },
          });
        continue;
      }
      if (RUNTIME_FILES.has(name)) continue;
      if (st.isDirectory()) {
        const sub = await RootDir.openDir(dir, n);
        handles.push(sub);
        const inLower = !belowNew && (await existsInLayers(lowerDirs, c));
        const isOpaque = inLower && (await opaque(at(sub)));
        const children = await walk(sub, c, !inLower || isOpaque);
        if (children.length === 0 && !isOpaque) {
          // Copied up only for what is left out, or a runtime mount point: not a change.
          if (inLower) continue;
          if (comps.length === 0 && RUNTIME_DIRS.has(n)) continue;
          if (comps.length === 0 && n === 'etc') {
            const names = await fs.promises.readdir(at(sub));
            if (names.length > 0 && names.every((x) => RUNTIME_FILES.has(`etc/${x}`))) continue;
          }
        }
        out.push({ name, header: { ...header, name: `${name}/`, type: 'directory' } });
        if (isOpaque)
          out.push({ name, header: { ...header, name: `${name}/.wh..wh..opq`, type: 'file', size: 0, mode: 0o600 } });
        out.push(...children);
        continue;
      }
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const first = links.get(key);
        if (first !== undefined) {
          out.push({ name, header: { ...header, type: 'link', linkname: first } });
          continue;
        }
        links.set(key, name);
      }
      if (st.isFile())
        out.push({ name, header: { ...header, type: 'file', size: st.size }, file: { dir, name: n, size: st.size } });
      else if (st.isSymbolicLink())
        out.push({ name, header: { ...header, type: 'symlink', linkname: await fs.promises.readlink(at(dir, n)) } });
      else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const { major, minor } = devParts(st.rdev);
        out.push({
          name,
          header: {
            ...header,
            type: st.isCharacterDevice() ? 'character-device' : 'block-device',
            devmajor: major,
            devminor: minor,
          },
        });
      } else if (st.isFIFO()) out.push({ name, header: { ...header, type: 'fifo' } });
      // Sockets cannot be archived (dockerd skips them too).
    }
    return out;
  };
  let planned: Planned[];
  try {
    planned = await walk(root.handle, [], false);
  } catch (e) {
    for (const h of handles) await h.close().catch(() => undefined);
    await root.close();
    throw e;
  }
  const pack = tar.pack();
  const closeAll = async () => {
    for (const h of handles) await h.close().catch(() => undefined);
    await root.close().catch(() => undefined);
  };
  void (async () => {
    for (const p of planned) {
      if (p.file) await packFile(pack, p.header, p.file);
      else
        await new Promise<void>((resolve, reject) =>
          pack.entry(p.header, Buffer.alloc(0), (err) => (err ? reject(err) : resolve())),
        );
    }
    pack.finalize();
  })()
    .catch((e: Error) => pack.destroy(e))
    .finally(() => void closeAll());
  return { stream: Readable.from(pack), entries: planned.length };
}

/**
 * Stream one regular file into the pack; a file that shrank meanwhile is padded with zeros,
 * and one swapped for another kind since the walk (a FIFO, a device node) is never opened
 * for reading (./archive/open-regular.ts): its planned entry is all zeros, as if emptied.
 */
async function packFile(
  pack: tar.Pack,
  header: TarHeader,
  f: { dir: fs.promises.FileHandle; name: string; size: number },
): Promise<void> {
  const { handle: fh } = await openRegularAt(f.dir, f.name);
  try {
    let finished: (err?: Error | null) => void = () => undefined;
    const done = new Promise<void>((resolve, reject) => (finished = (err) => (err ? reject(err) : resolve())));
    const out = pack.entry({ ...header, size: f.size }, (err) => finished(err));
    let left = f.size;
    while (left > 0) {
      const buf = Buffer.alloc(Math.min(CHUNK, left));
      const bytesRead = fh ? (await fh.read(buf, 0, buf.length, null)).bytesRead : 0;
      const chunk = bytesRead === 0 ? buf : buf.subarray(0, bytesRead);
      left -= chunk.length;
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
    (out as unknown as { end(): void }).end();
    await done;
  } finally {
    await fh?.close();
  }
}
