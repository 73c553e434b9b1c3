/**
 * The sources of COPY and ADD, found in a root (the build context, or a stage's or image's
 * root for `--from`): each source resolved inside the root (a symlink is followed only
 * within it), globs matched as Go's filepath.Match matches them (`*` never crosses a `/`),
 * then packed as one tar whose entry names are the destination paths in the image (docker
 * cp's tar-in then writes them, ./copy.ts). Reading goes through open directory handles with
 * O_NOFOLLOW (src/storage/archive/tar-out.ts), so a symlink in the source never leads out,
 * and a file is read only when its opened descriptor says it is a regular one
 * (src/storage/archive/open-regular.ts): never a FIFO or device swapped in meanwhile.
 *
 * Also the cache checksum of the sources: names, modes, types, link targets and file
 * contents, not times or owners (a context unpacked again hits the cache).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { RootDir, at } from '../storage/archive/resolve';
import { packTree } from '../storage/archive/tar-out';
import { openRegularAt, withRegularFile } from '../storage/archive/open-regular';
import { InvalidArgumentError, NotFoundError } from '../errors';

/** Go filepath.Match's pattern as a RegExp over a whole slash-separated path. */
export function globRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '\\' && i + 1 < pattern.length) re += escapeRe(pattern[++i]);
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) throw new InvalidArgumentError(`syntax error in pattern: ${pattern}`);
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^')) cls = '^' + cls.slice(1).replace(/[\\\]]/g, '\\$&');
      else cls = cls.replace(/[\\\]^]/g, '\\$&');
      re += `[${cls}]`;
      i = end;
    } else re += escapeRe(ch);
  }
  return new RegExp(`^${re}$`);
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Whether a source word is a glob. */
export function isGlob(s: string): boolean {
  return /[*?[]/.test(s);
}

/** A source found in a root. */
export interface FoundSource {
  /** Its path in the root, without a leading slash ('' for the root itself). */
  rel: string;
  stat: fs.Stats;
}

/** Every path of the tree under `root` (lstat, never following), relative, parents first. */
async function allPaths(root: RootDir): Promise<FoundSource[]> {
  const out: FoundSource[] = [];
  const walk = async (dir: fs.promises.FileHandle, rel: string): Promise<void> => {
    for (const n of (await fs.promises.readdir(at(dir))).sort()) {
      const p = rel ? `${rel}/${n}` : n;
      const st = await fs.promises.lstat(at(dir, n));
      out.push({ rel: p, stat: st });
      if (st.isDirectory()) {
        const sub = await RootDir.openDir(dir, n);
        try {
          await walk(sub, p);
        } finally {
          await sub.close();
        }
      }
    }
  };
  await walk(root.handle, '');
  return out;
}

/** Find the sources `words` in `root`; NotFoundError (dockerd's words) when one matches nothing. */
export async function findSources(root: RootDir, words: string[], what: string): Promise<FoundSource[]> {
  const found: FoundSource[] = [];
  let tree: FoundSource[] | undefined;
  for (const w of words) {
    const clean = path.posix.normalize(`/${w}`).slice(1).replace(/\/$/, '');
    if (isGlob(clean)) {
      tree ??= await allPaths(root);
      const re = globRegExp(clean);
      const hits = tree.filter((t) => re.test(t.rel));
      if (hits.length === 0) throw new NotFoundError(`${what} failed: no source files were specified`);
      found.push(...hits);
      continue;
    }
    const r = await root.resolve(clean, { followLast: true }).catch(() => undefined);
    try {
      if (!r?.stat)
        throw new NotFoundError(
          `${what} failed: file not found in build context or excluded by .dockerignore: ` +
            `stat ${w}: file does not exist`,
        );
      found.push({ rel: r.path.slice(1), stat: r.stat });
    } finally {
      await r?.release();
    }
  }
  return found;
}

/** Where each source lands: `dest` itself, or `dest/<basename>` when dest is a directory. */
export function destinationOf(src: FoundSource, dest: string, destIsDir: boolean): string {
  if (src.stat.isDirectory()) return dest;
  return destIsDir ? path.posix.join(dest, path.posix.basename(src.rel)) : dest;
}

/**
 * A tar of `src` from `root`, its entries named for `target` (an absolute path in the image;
 * a directory source gives its contents under target).
 */
export async function packSource(root: RootDir, src: FoundSource, target: string): Promise<Readable> {
  const base = target.replace(/^\/+/, '') || '.';
  if (src.rel === '') return packTree(root.handle, undefined, base === '.' ? '' : base).on('error', () => undefined);
  const r = await root.resolve(src.rel, { followLast: true });
  const tar = packTree(r.dir, r.name, base);
  tar.once('close', () => void r.release());
  return tar;
}

/** The cache checksum of sources (see the module comment). */
export async function checksumSources(root: RootDir, sources: FoundSource[]): Promise<string> {
  const h = crypto.createHash('sha256');
  const add = async (dir: fs.promises.FileHandle, name: string, rel: string): Promise<void> => {
    let st = await fs.promises.lstat(at(dir, name));
    let fh: fs.promises.FileHandle | undefined;
    // Read only what the opened descriptor says is a regular file (a stage's root is the
    // guest's: a FIFO or device swapped in after the lstat is never opened for reading).
    if (st.isFile()) ({ stat: st, handle: fh } = await openRegularAt(dir, name));
    h.update(`${rel}\0${st.mode}\0`);
    if (fh) {
      try {
        for await (const c of fh.createReadStream({ autoClose: false })) h.update(c as Buffer);
      } finally {
        await fh.close();
      }
    } else if (st.isSymbolicLink()) h.update(await fs.promises.readlink(at(dir, name)));
    else if (st.isDirectory()) {
      const sub = await RootDir.openDir(dir, name);
      try {
        for (const n of (await fs.promises.readdir(at(sub))).sort()) await add(sub, n, `${rel}/${n}`);
      } finally {
        await sub.close();
      }
    }
    h.update('\n');
  };
  for (const s of sources) {
    if (s.rel === '') {
      for (const n of (await fs.promises.readdir(at(root.handle))).sort()) await add(root.handle, n, n);
      continue;
    }
    const r = await root.resolve(s.rel, { followLast: true });
    try {
      await add(r.dir, r.name as string, s.rel);
    } finally {
      await r.release();
    }
  }
  return h.digest('hex');
}

/** Whether `p` is a tar archive (plain, gzip, bzip2 or xz) that ADD unpacks. */
export async function archiveKind(root: RootDir, rel: string): Promise<'tar' | 'gzip' | 'bzip2' | 'xz' | undefined> {
  const r = await withRegularFile(root, rel, async (fh) => {
    const b = Buffer.alloc(512);
    const { bytesRead } = await fh.read(b, 0, 512, 0);
    if (bytesRead >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
    if (bytesRead >= 3 && b.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
    if (bytesRead >= 6 && b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
    if (bytesRead >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
    return undefined;
  });
  return r.found === 'file' ? r.value : undefined;
}

/** Open a source file for reading (inside the root, never through a symlink outside it). */
export async function openSourceFile(root: RootDir, rel: string): Promise<Readable> {
  const r = await root.resolve(rel, { followLast: true });
  try {
    const { handle: fh } = await openRegularAt(r.dir, r.name as string);
    if (!fh) throw new InvalidArgumentError(`${rel} is not a regular file`);
    return fh.createReadStream();
  } finally {
    await r.release();
  }
}
