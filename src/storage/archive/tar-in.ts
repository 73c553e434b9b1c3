/**
 * Extraction of a client's tar stream into a directory of a container's root (PUT
 * /containers/{id}/archive), as dockerd's chrooted untar does it, but with every step taken
 * relative to open directories of that root (./resolve.ts), so nothing outside it is touched:
 *   - names are cleaned (`a/../b` -> `b`, a leading `/` dropped); a name or a hard link
 *     target that climbs above the destination fails the archive ("breakout");
 *   - the parent of each entry is resolved in the container (its symlinks followed as if
 *     chrooted, missing directories created); the entry itself is created with no-follow
 *     calls (O_CREAT|O_EXCL|O_NOFOLLOW opens, mkdir, symlink, link, mknod);
 *   - an existing entry in the way is removed first (a directory recursively, through open
 *     directory handles), unless both are directories; with `noOverwriteDirNonDir`, replacing
 *     a directory by a non-directory or the other way round fails instead;
 *   - ownership is the header's, or `chown` when given (copyUIDGID); mode bits, mtimes kept;
 *     directory mtimes are set once everything is in.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { InvalidArgumentError } from '../../errors';
import { mknod } from '../fsops';
import { at, RootDir } from './resolve';

/** Options of extractInto. */
export interface ExtractIntoOptions {
  /** Fail rather than replace a directory by a non-directory or the reverse. */
  noOverwriteDirNonDir?: boolean;
  /** Owner for every entry instead of the header's (copyUIDGID). */
  chown?: { uid: number; gid: number };
}

const O_NEWFILE = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

/** `name` cleaned as Go's filepath.Clean of a relative path; null when it climbs out. */
export function cleanEntryName(name: string): string | null {
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length === 0) return null;
      out.pop();
    } else out.push(c);
  }
  return out.join('/');
}

/** Remove entry `name` of `dir`, recursing into directories through open handles. */
export async function removeEntry(dir: fs.promises.FileHandle, name: string): Promise<void> {
  const st = await fs.promises.lstat(at(dir, name));
  if (!st.isDirectory()) return fs.promises.unlink(at(dir, name));
  const sub = await RootDir.openDir(dir, name);
  try {
    for (const child of await fs.promises.readdir(at(sub))) await removeEntry(sub, child);
  } finally {
    await sub.close();
  }
  await fs.promises.rmdir(at(dir, name));
}

/**
 * Extract `input` into container directory `destPath` (already known to be a directory) of
 * `root`. Rejects with InvalidArgumentError for a hostile or unusable archive; what was
 * extracted before the bad entry stays (as with dockerd).
 */
export async function extractInto(root: RootDir, destPath: string, input: Readable, opts: ExtractIntoOptions = {}): Promise<void> {
  const extract = tar.extract();
  const dirTimes: Array<{ path: string; mtime: Date }> = [];

  const place = async (header: tar.Header, stream: Readable): Promise<void> => {
    const clean = cleanEntryName(header.name);
    if (clean === null) throw new InvalidArgumentError(`invalid path: ${JSON.stringify(header.name)} is outside of the destination`);
    if (clean === '') {
      stream.resume();
      return;
    }
    const cpath = path.posix.join(destPath, clean);
    const r = await root.resolve(cpath, { createParents: true });
    try {
      const name = r.name as string;
      const isDir = header.type === 'directory';
      if (r.stat) {
        const wasDir = r.stat.isDirectory();
        if (opts.noOverwriteDirNonDir && wasDir && !isDir) throw new InvalidArgumentError(`cannot overwrite directory ${JSON.stringify(cpath)} with non-directory ${JSON.stringify(header.name)}`);
        if (opts.noOverwriteDirNonDir && !wasDir && isDir) throw new InvalidArgumentError(`cannot overwrite non-directory ${JSON.stringify(cpath)} with directory ${JSON.stringify(header.name)}`);
        if (!(wasDir && isDir)) await removeEntry(r.dir, name);
      }
      const p = at(r.dir, name);
      const mode = (header.mode ?? 0o644) & 0o7777;
      const uid = opts.chown?.uid ?? header.uid ?? 0;
      const gid = opts.chown?.gid ?? header.gid ?? 0;
      const mtime = header.mtime ?? new Date();
      switch (header.type) {
        case 'directory': {
          if (!r.stat) await fs.promises.mkdir(p, { mode: 0o700 });
          const d = await RootDir.openDir(r.dir, name);
          try {
            await d.chown(uid, gid);
            await d.chmod(mode);
          } finally {
            await d.close();
          }
          dirTimes.push({ path: cpath, mtime });
          break;
        }
        case 'file':
        case 'contiguous-file':
        case undefined: {
          const fh = await fs.promises.open(p, O_NEWFILE, 0o600);
          try {
            for await (const chunk of stream) await fh.write(chunk as Buffer);
            await fh.chown(uid, gid);
            await fh.chmod(mode);
            await fh.utimes(mtime, mtime);
          } finally {
            await fh.close();
          }
          return;
        }
        case 'symlink':
          await fs.promises.symlink(header.linkname ?? '', p);
          await fs.promises.lchown(p, uid, gid);
          await fs.promises.lutimes(p, mtime, mtime);
          break;
        case 'link': {
          const target = cleanEntryName(header.linkname ?? '');
          if (target === null || target === '') throw new InvalidArgumentError(`invalid hardlink ${JSON.stringify(header.name)} -> ${JSON.stringify(header.linkname)}: outside of the destination`);
          const src = await root.resolve(path.posix.join(destPath, target));
          try {
            if (!src.stat || src.stat.isDirectory()) throw new InvalidArgumentError(`invalid hardlink ${JSON.stringify(header.name)} -> ${JSON.stringify(header.linkname)}`);
            await fs.promises.link(at(src.dir, src.name as string), p);
          } finally {
            await src.release();
          }
          break;
        }
        case 'character-device':
        case 'block-device':
        case 'fifo':
          await mknod(p, header.type === 'fifo' ? 'p' : header.type === 'character-device' ? 'c' : 'b', mode, header.devmajor ?? 0, header.devminor ?? 0);
          await fs.promises.lchown(p, uid, gid);
          break;
        default:
          // PAX globals and other kinds carry nothing to create (dockerd ignores them too).
          break;
      }
      stream.resume();
    } finally {
      await r.release();
    }
  };

  input.pipe(extract as unknown as NodeJS.WritableStream);
  try {
    for await (const entry of extract) await place(entry.header, entry as unknown as Readable);
  } catch (e) {
    input.unpipe(extract as unknown as NodeJS.WritableStream);
    input.resume();
    if (e instanceof Error && !(e instanceof InvalidArgumentError) && !('code' in e)) throw new InvalidArgumentError(`invalid tar archive: ${e.message}`);
    throw e;
  }
  // Directory times last: creating their entries changed them.
  for (const d of dirTimes.reverse()) {
    const r = await root.resolve(d.path).catch(() => undefined);
    if (!r) continue;
    try {
      if (r.stat?.isDirectory() && r.name !== undefined) {
        const fh = await RootDir.openDir(r.dir, r.name);
        await fh.utimes(d.mtime, d.mtime).finally(() => fh.close());
      }
    } finally {
      await r.release();
    }
  }
}
