/**
 * COPY and ADD: the sources found in the context (or in a stage's or image's root for
 * `--from`), written into the root of the image so far with docker cp's tar-in
 * (src/storage/archive/tar-in.ts: paths resolved inside that root, symlinks of the image
 * followed only within it, parents created), owned by `--chown` or root. ADD unpacks local
 * tar archives (plain, gzip, bzip2, xz) into the destination, but never a file it fetched
 * from a URL (./remote.ts puts those in a directory of their own, written as a second plan).
 */
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { RootDir } from '../storage/archive/resolve';
import { extractInto } from '../storage/archive/tar-in';
import { resolveOwner } from '../storage/archive/owner';
import { archiveKind, destinationOf, openSourceFile, packSource, type FoundSource } from './sources';
import { InvalidArgumentError } from '../errors';

/** One COPY or ADD, ready to write. */
export interface CopyPlan {
  keyword: 'COPY' | 'ADD';
  sources: FoundSource[];
  /** Absolute destination in the image (a trailing `/` kept: it makes it a directory). */
  dest: string;
  chown?: string;
  /** The instruction names more sources than this plan holds (local and URL sources). */
  several?: boolean;
  /** Sources fetched from URLs: copied as they are, never unpacked. */
  remote?: boolean;
}

/** Whether the destination is a directory: a trailing slash, several sources, or an existing directory. */
async function destIsDir(target: RootDir, plan: CopyPlan): Promise<boolean> {
  if (plan.dest.endsWith('/') || plan.sources.length > 1 || plan.several) return true;
  const r = await target.resolve(plan.dest, { followLast: true }).catch(() => undefined);
  try {
    return !!r?.stat?.isDirectory();
  } finally {
    await r?.release();
  }
}

/** A decompressed stream of an archive file (bzip2 and xz through the system's tools). */
function decompress(raw: Readable, kind: 'tar' | 'gzip' | 'bzip2' | 'xz'): Readable {
  if (kind === 'tar') return raw;
  if (kind === 'gzip') {
    const g = zlib.createGunzip();
    raw.on('error', (e) => g.destroy(e));
    return raw.pipe(g);
  }
  const p = spawn(kind === 'bzip2' ? 'bzip2' : 'xz', ['-dc'], { stdio: ['pipe', 'pipe', 'ignore'] });
  raw.pipe(p.stdin);
  p.stdin.on('error', () => undefined);
  return p.stdout;
}

/** Write the plan's sources from `source` into `target`. */
export async function writeCopy(source: RootDir, target: RootDir, plan: CopyPlan): Promise<void> {
  if ((plan.sources.length > 1 || plan.several) && !plan.dest.endsWith('/')) {
    throw new InvalidArgumentError(
      `When using ${plan.keyword} with more than one source file, the destination must be a directory and end with a /`,
    );
  }
  const owner = await resolveOwner(target, plan.chown ?? '');
  const isDir = await destIsDir(target, plan);
  for (const src of plan.sources) {
    if (plan.keyword === 'ADD' && !plan.remote && src.stat.isFile()) {
      const kind = await archiveKind(source, src.rel);
      if (kind) {
        const destPath = path.posix.resolve('/', plan.dest);
        await mkdirIn(target, destPath);
        await extractInto(target, destPath, decompress(await openSourceFile(source, src.rel), kind));
        continue;
      }
    }
    const to = destinationOf(src, path.posix.resolve('/', plan.dest), isDir);
    await extractInto(target, '/', await packSource(source, src, to), { chown: owner });
  }
}

/** Make directory `p` (and its parents) inside the root. */
async function mkdirIn(root: RootDir, p: string): Promise<void> {
  const r = await root.resolve(path.posix.join(p, '.placeholder'), { createParents: true });
  await r.release();
}
