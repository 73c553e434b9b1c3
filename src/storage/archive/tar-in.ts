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
import { tarReason } from '../extract';
import { at, RootDir } from './resolve';
import { HeldDir, ParentDirs } from './parent-dirs';

/** Options of extractInto. */
export interface ExtractIntoOptions {
  /** Fail rather than replace a directory by a non-directory or the reverse. */
  noOverwriteDirNonDir?: boolean;
  /** Owner for every entry instead of the header's (copyUIDGID). */
  chown?: { uid: number; gid: number };
}

const O_NEWFILE = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
const O_DIR = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW;

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

/** Linux's limits on a name and on a path (with its NUL), which dockerd's chrooted untar meets too. */
const NAME_MAX = 255;
const PATH_MAX = 4096;
/** How long the extraction may hold the event loop before it lets other work in (ms). */
const SLICE_MS = 10;

/** A name too long to create: the client's error (dockerd: `open <path>: file name too long`). */
function tooLong(cpath: string): InvalidArgumentError {
  const shown = cpath.length > 300 ? `${cpath.slice(0, 300)}...` : cpath;
  return new InvalidArgumentError(`invalid path: open ${shown}: file name too long`);
}

/** Refuse a container path with a component over NAME_MAX bytes or a length over PATH_MAX. */
function checkLength(cpath: string): void {
  if (Buffer.byteLength(cpath) >= PATH_MAX) throw tooLong(cpath);
  for (const c of cpath.split('/')) if (Buffer.byteLength(c) > NAME_MAX) throw tooLong(cpath);
}

/** Write all of `chunk` at the file's offset. */
function writeAll(fd: number, chunk: Buffer): void {
  for (let off = 0; off < chunk.length; ) off += fs.writeSync(fd, chunk, off, chunk.length - off);
}

/** What every entry of one extraction shares. */
interface Extraction {
  root: RootDir;
  /** The container directory extracted into. */
  destPath: string;
  opts: ExtractIntoOptions;
  parents: ParentDirs;
  /** Directories created, whose mtimes are set once everything is in. */
  dirTimes: Array<{ path: string; mtime: Date }>;
}

/** Where one entry goes, and what it gets. */
interface Target {
  header: tar.Header;
  /** Its path in the container. */
  cpath: string;
  /** Its parent directory, held open. */
  parent: HeldDir;
  /** Its name in `parent`. */
  name: string;
  /** `name` beneath `parent`'s handle, for the no-follow calls. */
  p: string;
  /** Its path in the container, every symlink of the parent resolved. */
  real: string;
  isDir: boolean;
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
}

/**
 * Something is there already (the creation met EEXIST): remove it unless both are
 * directories. True when an existing directory is kept.
 */
async function makeRoom(x: Extraction, t: Target): Promise<boolean> {
  const { header, cpath, parent, name, p, real, isDir } = t;
  const st = fs.lstatSync(p, { throwIfNoEntry: false });
  if (!st) return false;
  const wasDir = st.isDirectory();
  if (x.opts.noOverwriteDirNonDir && wasDir && !isDir)
    throw new InvalidArgumentError(
      `cannot overwrite directory ${JSON.stringify(cpath)} with non-directory ${JSON.stringify(header.name)}`,
    );
  if (x.opts.noOverwriteDirNonDir && !wasDir && isDir)
    throw new InvalidArgumentError(
      `cannot overwrite non-directory ${JSON.stringify(cpath)} with directory ${JSON.stringify(header.name)}`,
    );
  if (wasDir && isDir) return true;
  x.parents.forget(real);
  // Gone meanwhile (the container, or another copy into the same place, removed it): fine.
  const gone = (e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e;
  };
  // A non-directory goes with no await before the creation that follows, so that copies
  // running beside this one cannot take the name in between.
  if (!wasDir) {
    try {
      fs.unlinkSync(p);
    } catch (e) {
      gone(e as NodeJS.ErrnoException);
    }
  } else await removeEntry(parent.fh, name).catch(gone);
  return false;
}

/**
 * Create with `make`; when the name is taken, make room (as above) and try again (a few
 * times: a concurrent writer may take the name again in between).
 */
async function create<T>(x: Extraction, t: Target, make: () => T, keepDir?: () => T): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return make();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt === 3) throw e;
    }
    if ((await makeRoom(x, t)) && keepDir) return keepDir();
  }
}

/** A directory: created (or an existing one kept), owned, its mtime set at the end. */
async function placeDirectory(x: Extraction, t: Target): Promise<void> {
  const { p, uid, gid, mode } = t;
  await create(
    x,
    t,
    () => fs.mkdirSync(p, { mode: 0o700 }),
    () => undefined,
  );
  const fd = fs.openSync(p, O_DIR);
  try {
    fs.fchownSync(fd, uid, gid);
    fs.fchmodSync(fd, mode);
  } finally {
    fs.closeSync(fd);
  }
  x.dirTimes.push({ path: t.cpath, mtime: t.mtime });
}

/** A regular file: created new, its data written, owned; removed when its data was cut short. */
async function placeFile(x: Extraction, t: Target, stream: Readable): Promise<void> {
  const { header, p, uid, gid, mode, mtime } = t;
  const fd = await create(x, t, () => fs.openSync(p, O_NEWFILE, 0o600));
  let complete = false;
  try {
    if (header.size) for await (const chunk of stream) writeAll(fd, chunk as Buffer);
    fs.fchownSync(fd, uid, gid);
    fs.fchmodSync(fd, mode);
    fs.futimesSync(fd, mtime, mtime);
    complete = true;
  } finally {
    fs.closeSync(fd);
    // Its data was cut short (a truncated archive, a client gone): no half file stays.
    if (!complete) fs.rmSync(p, { force: true });
  }
}

/** A symbolic link, its target as the header says (never followed here). */
async function placeSymlink(x: Extraction, t: Target): Promise<void> {
  const { header, p, uid, gid, mtime } = t;
  await create(x, t, () => fs.symlinkSync(header.linkname ?? '', p));
  fs.lchownSync(p, uid, gid);
  fs.lutimesSync(p, mtime, mtime);
}

/** A hard link to a non-directory already inside the destination. */
async function placeLink(x: Extraction, t: Target): Promise<void> {
  const { header, p } = t;
  const target = cleanEntryName(header.linkname ?? '');
  if (target === null || target === '')
    throw new InvalidArgumentError(
      `invalid hardlink ${JSON.stringify(header.name)} -> ${JSON.stringify(header.linkname)}: ` +
        'outside of the destination',
    );
  const tpath = path.posix.join(x.destPath, target);
  checkLength(tpath);
  const src = await x.root.resolve(tpath);
  try {
    if (!src.stat || src.stat.isDirectory())
      throw new InvalidArgumentError(
        `invalid hardlink ${JSON.stringify(header.name)} -> ${JSON.stringify(header.linkname)}`,
      );
    await create(x, t, () => fs.linkSync(at(src.dir, src.name as string), p));
  } finally {
    await src.release();
  }
}

/** A device node or a fifo. */
async function placeNode(x: Extraction, t: Target): Promise<void> {
  const { header, p, uid, gid, mode } = t;
  await makeRoom(x, t);
  await mknod(
    p,
    header.type === 'fifo' ? 'p' : header.type === 'character-device' ? 'c' : 'b',
    mode,
    header.devmajor ?? 0,
    header.devminor ?? 0,
  );
  fs.lchownSync(p, uid, gid);
}

/**
 * Where entry `header` goes: its name cleaned and checked, its parent resolved (and held).
 * Null for the destination itself (an entry `.` or `/`), which gets nothing.
 */
async function targetOf(x: Extraction, header: tar.Header): Promise<Target | null> {
  const clean = cleanEntryName(header.name);
  if (clean === null)
    throw new InvalidArgumentError(`invalid path: ${JSON.stringify(header.name)} is outside of the destination`);
  if (clean === '') return null;
  const cpath = path.posix.join(x.destPath, clean);
  checkLength(cpath);
  const parent = await x.parents.get(path.posix.dirname(cpath));
  const name = path.posix.basename(cpath);
  return {
    header,
    cpath,
    parent,
    name,
    p: at(parent.fh, name),
    real: path.posix.join(parent.real, name),
    isDir: header.type === 'directory',
    mode: (header.mode ?? 0o644) & 0o7777,
    uid: x.opts.chown?.uid ?? header.uid ?? 0,
    gid: x.opts.chown?.gid ?? header.gid ?? 0,
    mtime: header.mtime ?? new Date(),
  };
}

/** Create one entry of the archive, by its kind; its data (if any) is read to the end. */
async function place(x: Extraction, header: tar.Header, stream: Readable): Promise<void> {
  const t = await targetOf(x, header);
  if (!t) {
    stream.resume();
    return;
  }
  switch (header.type) {
    case 'directory':
      await placeDirectory(x, t);
      break;
    case 'file':
    case 'contiguous-file':
    case undefined:
      await placeFile(x, t, stream);
      break;
    case 'symlink':
      await placeSymlink(x, t);
      break;
    case 'link':
      await placeLink(x, t);
      break;
    case 'character-device':
    case 'block-device':
    case 'fifo':
      await placeNode(x, t);
      break;
    default:
      // PAX globals and other kinds carry nothing to create (dockerd ignores them too).
      break;
  }
  stream.resume();
}

/**
 * Directory times last: creating their entries changed them.
 * A parent no longer held is resolved again, creating nothing (a later entry may have
 * replaced it by a symlink to a place that does not exist).
 */
async function setDirTimes(x: Extraction): Promise<void> {
  for (const d of x.dirTimes.reverse()) {
    const held = x.parents.held(path.posix.dirname(d.path));
    const r = held ? undefined : await x.root.resolve(d.path).catch(() => undefined);
    try {
      const dir = held?.fh ?? r?.dir;
      const name = held ? path.posix.basename(d.path) : r?.name;
      if (!dir || name === undefined) continue;
      const p = at(dir, name);
      if (!fs.lstatSync(p, { throwIfNoEntry: false })?.isDirectory()) continue;
      const fd = fs.openSync(p, O_DIR);
      try {
        fs.futimesSync(fd, d.mtime, d.mtime);
      } finally {
        fs.closeSync(fd);
      }
    } finally {
      await r?.release();
    }
  }
}

/**
 * Extract `input` into container directory `destPath` (already known to be a directory) of
 * `root`. Rejects with InvalidArgumentError for a hostile or unusable archive (a name that
 * climbs out or is too long, a truncated or malformed tar, a client that hung up); the
 * entries extracted before the bad one stay (as with dockerd), but a file whose data was cut
 * short is removed (dockerd leaves it truncated).
 *
 * Each entry's own system calls are made synchronously on the daemon's thread (a few
 * microseconds each: the parents come from ./parent-dirs.ts, already open), in slices of at
 * most SLICE_MS between which other work runs: through libuv's thread pool, a dozen round
 * trips per entry made 100,000 empty files take a minute.
 */
export async function extractInto(
  root: RootDir,
  destPath: string,
  input: Readable,
  opts: ExtractIntoOptions = {},
): Promise<void> {
  const extract = tar.extract();
  const x: Extraction = { root, destPath, opts, parents: new ParentDirs(root), dirTimes: [] };
  let sliceStart = Date.now();

  // A client that hangs up mid-body ends the request stream without an end: fail the parser
  // too, or it would wait for the rest forever (holding the container's mount).
  const cut = () => {
    if (!input.readableEnded)
      extract.destroy(new Error('the client closed the connection before the end of the archive'));
  };
  let parserError: Error | undefined;
  extract.on('error', (e: Error) => (parserError ??= e));
  input.once('close', cut);
  input.once('error', cut);
  input.pipe(extract as unknown as NodeJS.WritableStream);
  try {
    for await (const entry of extract) {
      await place(x, entry.header, entry as unknown as Readable).catch((e: unknown) => {
        throw (e as NodeJS.ErrnoException).code === 'ENAMETOOLONG'
          ? tooLong(path.posix.join(destPath, entry.header.name))
          : e;
      });
      if (Date.now() - sliceStart >= SLICE_MS) {
        await new Promise((r) => setImmediate(r));
        sliceStart = Date.now();
      }
    }
    await setDirTimes(x);
  } catch (e) {
    input.unpipe(extract as unknown as NodeJS.WritableStream);
    input.resume();
    if (e instanceof InvalidArgumentError) throw e;
    // The entry being read fails with the stream's destruction; the parser's own error says why.
    if (parserError) throw new InvalidArgumentError(`invalid tar archive: ${tarReason(parserError)}`);
    if (e instanceof Error && (!('code' in e) || e.code === 'STREAM_DESTROYED'))
      throw new InvalidArgumentError(`invalid tar archive: ${tarReason(e)}`);
    throw e;
  } finally {
    input.off('close', cut);
    input.off('error', cut);
    await x.parents.close();
  }
}
