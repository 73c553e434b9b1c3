/**
 * The build context: the request body (a tar, gzip'd or not) unpacked into a private
 * directory with docker cp's rules (src/storage/archive/tar-in.ts: nothing leaves the
 * directory, symlinks are kept as symlinks and never followed on the way in). Paths the
 * context's `.dockerignore` excludes are removed right away (dockerd's classic builder
 * honours it even when a client sent them), then the Dockerfile is read from inside the
 * context, resolved as the container root is (a symlinked Dockerfile cannot lead out).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Readable, Transform } from 'node:stream';
import dockerignore from '@balena/dockerignore';
import { RootDir, at } from '../storage/archive/resolve';
import { extractInto, removeEntry } from '../storage/archive/tar-in';
import { readBounded, withRegularFile } from '../storage/archive/open-regular';
import { InvalidArgumentError, NotFoundError } from '../errors';
import { removeTree } from '../util/remove-tree';

/** An unpacked context. */
export interface BuildContext {
  /** Host directory holding it. */
  dir: string;
  /** The Dockerfile's text. */
  dockerfile: string;
  /** Remove the directory. */
  dispose(): Promise<void>;
}

/** `source`, gunzipped when it starts with the gzip magic. */
async function maybeGunzip(source: Readable): Promise<Readable> {
  const it = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const first = await it.next();
  const head: Buffer = first.done ? Buffer.alloc(0) : Buffer.from(first.value);
  const all = Readable.from(
    (async function* () {
      if (head.length) yield head;
      if (first.done) return;
      for (;;) {
        const n = await it.next();
        if (n.done) return;
        yield n.value;
      }
    })(),
  );
  if (head.length < 2 || head[0] !== 0x1f || head[1] !== 0x8b) return all;
  const gunzip = zlib.createGunzip();
  all.on('error', (e) => gunzip.destroy(e));
  gunzip.on('error', () => undefined); // as in endTar: the reader has its own listener
  return all.pipe(gunzip);
}

/**
 * `source` with the tar's end written out: padding to a whole block and the two zero blocks.
 * The docker CLI sends a context whose Dockerfile came from outside it (`-f`) with the
 * Dockerfile and `.dockerignore` appended, and the stream then stops right after the last
 * file's bytes; Go's tar reader (dockerd) takes that as the end, tar-stream as a truncation.
 * Zero blocks after a complete archive are read as its end, so a whole tar is unchanged.
 */
function endTar(source: Readable): Readable {
  let length = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, done) {
      length += chunk.length;
      done(null, chunk);
    },
    flush(done) {
      done(null, Buffer.alloc(((512 - (length % 512)) % 512) + 1024));
    },
  });
  source.on('error', (e) => t.destroy(e));
  // The reader (extractInto) listens while it reads; an error after it stopped (the client
  // hung up once the tar's end was read) must not be an unhandled 'error' that ends the daemon.
  t.on('error', () => undefined);
  return source.pipe(t);
}

/** Read a small file inside the context root; undefined when absent. */
async function readInside(root: RootDir, p: string): Promise<string | undefined> {
  const r = await withRegularFile(root, p, (fh) => readBounded(fh, 16 << 20), { unresolvedIsAbsent: true });
  if (r.found === 'absent') return undefined;
  if (r.found === 'not-regular') throw new InvalidArgumentError(`${p} is not a regular file`);
  if (r.value === undefined) throw new InvalidArgumentError(`${p} is too large`);
  return r.value.toString('utf8');
}

/** Remove what `.dockerignore` excludes (but never the Dockerfile or .dockerignore itself). */
async function applyIgnore(root: RootDir, patterns: string, keep: Set<string>): Promise<void> {
  const ig = ignorePatterns(patterns);
  if (!ig) return;
  const walk = async (dir: fs.promises.FileHandle, rel: string): Promise<boolean> => {
    // Returns whether the directory is empty afterwards.
    let left = 0;
    for (const n of await fs.promises.readdir(at(dir))) {
      const p = rel ? `${rel}/${n}` : n;
      const st = await fs.promises.lstat(at(dir, n));
      if (st.isDirectory()) {
        const sub = await RootDir.openDir(dir, n);
        let empty: boolean;
        try {
          empty = await walk(sub, p);
        } finally {
          await sub.close();
        }
        if (empty && ig.ignores(p)) await fs.promises.rmdir(at(dir, n));
        else left++;
      } else if (ig.ignores(p) && !keep.has(p)) {
        await removeEntry(dir, n);
      } else left++;
    }
    return left === 0;
  };
  await walk(root.handle, '');
}

/** The `.dockerignore` patterns of `text` (comments and blank lines dropped). */
function ignorePatterns(text: string) {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  return lines.length ? dockerignore({ ignorecase: false }).add(lines) : undefined;
}

/** Remove those of `files` (context-relative paths) that the patterns exclude. */
async function removeIgnoredBuildFiles(root: RootDir, patterns: string, files: string[]): Promise<void> {
  const ig = ignorePatterns(patterns);
  for (const f of files) {
    if (!ig?.ignores(f)) continue;
    const dir = path.posix.dirname(f);
    const handle = dir === '.' ? root.handle : await RootDir.openDir(root.handle, dir).catch(() => undefined);
    if (!handle) continue;
    try {
      await removeEntry(handle, path.posix.basename(f)).catch(() => undefined);
    } finally {
      if (handle !== root.handle) await handle.close();
    }
  }
}

/** Unpack a context tar under `parent` and read its Dockerfile (`dockerfile`, default `Dockerfile`). */
export async function openContext(body: Readable, parent: string, dockerfile: string): Promise<BuildContext> {
  await fs.promises.mkdir(parent, { recursive: true, mode: 0o700 });
  const dir = await fs.promises.mkdtemp(path.join(parent, 'ctx-'));
  // `COPY . /dst` gives /dst the context root's mode: 0755 as a client's directory would have,
  // not mkdtemp's 0700 (the parent directory is the daemon's own, 0700).
  await fs.promises.chmod(dir, 0o755);
  const dispose = () => removeTree(dir);
  try {
    const root = await RootDir.open(dir);
    try {
      await extractInto(root, '/', endTar(await maybeGunzip(body))).catch((e: unknown) => {
        // A body that is not a tar (or a truncated one) is the client's error.
        if (e instanceof InvalidArgumentError) throw e;
        throw new InvalidArgumentError(`failed to read the build context: ${(e as Error).message}`);
      });
      const name = path.posix.normalize(`/${dockerfile || 'Dockerfile'}`).slice(1);
      const ignore = await readInside(root, '.dockerignore');
      if (ignore) await applyIgnore(root, ignore, new Set([name, '.dockerignore']));
      let text = await readInside(root, name);
      // dockerd also looks for the lower-case name when the default one is absent.
      if (text === undefined && !dockerfile) text = await readInside(root, 'dockerfile');
      if (text === undefined)
        throw new NotFoundError(`Cannot locate specified Dockerfile: ${dockerfile || 'Dockerfile'}`);
      // Once read, the Dockerfile and .dockerignore leave the context when .dockerignore
      // names them (dockerd's removeDockerfile): `COPY . /dst` then copies neither, even
      // from a client (docker-py) that always sends both.
      if (ignore) await removeIgnoredBuildFiles(root, ignore, [name, '.dockerignore']);
      return { dir, dockerfile: text, dispose };
    } finally {
      await root.close();
    }
  } catch (e) {
    await dispose();
    throw e;
  }
}
