/**
 * Reading a docker-archive (what `docker save` writes) safely. The archive is hostile input:
 * nothing in it ever names a path on the host. Entries are spooled, in archive order, into
 * files with names of our own (`0`, `1`, ...) in a fresh spool directory; a map from the
 * cleaned archive path to the spooled file is all the rest of the loader sees. Symlinks (dockerd
 * writes them for a layer that appears twice) are resolved inside that map only. Bounded: the
 * number of entries, the size of JSON members kept in memory, and path lengths.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { decompressStream } from '../decompress';
import { tarReason } from '../extract';
import { InvalidArgumentError } from '../../errors';

/** Limits of one archive. */
export interface ArchiveLimits {
  /** Entries in the archive (default 100,000). */
  maxEntries?: number;
  /** Bytes of a JSON member: manifest.json, repositories, an image config (default 16 MiB). */
  maxJsonBytes?: number;
  /**
   * Bytes the checkpoint states of the archive may declare, together (default 8 GiB:
   * ../checkpoint-image/state-archive.ts).
   */
  checkpointMaxBytes?: number;
}

/** The members of an archive, by cleaned path. */
export interface SpooledArchive {
  /** Path of the spooled file of a member (symlinks followed); undefined when absent. */
  file(name: string): string | undefined;
  /** A small member's bytes; InvalidArgumentError when absent or over the JSON limit. */
  json(name: string): unknown;
  /** True when the member is present. */
  has(name: string): boolean;
}

const MAX_PATH = 4096;

/** Clean an archive member name: no leading `./` or `/`, no `..` above the root. */
export function cleanMemberName(name: string): string {
  if (name.length > MAX_PATH || name.includes('\0'))
    throw new InvalidArgumentError('invalid archive: member name too long or not text');
  const parts: string[] = [];
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (!parts.length)
        throw new InvalidArgumentError(`invalid archive: member ${JSON.stringify(name)} points outside the archive`);
      parts.pop();
    } else parts.push(p);
  }
  return parts.join('/');
}

/**
 * Spool `source` (a tar, plain or compressed as dockerd accepts it: src/storage/decompress.ts)
 * into `spoolDir` (must exist and be empty) and return its members. InvalidArgumentError for
 * anything malformed or over the limits.
 */
export async function spoolArchive(
  source: Readable,
  spoolDir: string,
  limits: ArchiveLimits = {},
): Promise<SpooledArchive> {
  const maxEntries = limits.maxEntries ?? 100000;
  const maxJson = limits.maxJsonBytes ?? 16 * 1024 * 1024;
  const files = new Map<string, { file: string; size: number }>();
  const links = new Map<string, string>();
  const extract = tar.extract();
  let count = 0;
  const done = (async () => {
    for await (const entry of extract) {
      if (++count > maxEntries) throw new InvalidArgumentError(`invalid archive: more than ${maxEntries} entries`);
      const h = entry.header;
      const name = cleanMemberName(h.name);
      if (h.type === 'file' || h.type === 'contiguous-file') {
        if (!name) throw new InvalidArgumentError('invalid archive: a file member has an empty name');
        const file = path.join(spoolDir, String(count));
        await pipeline(entry, fs.createWriteStream(file, { flags: 'wx', mode: 0o600 }));
        files.set(name, { file, size: h.size ?? 0 });
        links.delete(name);
      } else if (h.type === 'symlink' || h.type === 'link') {
        const target = h.linkname ?? '';
        const resolved =
          h.type === 'link' || target.startsWith('/')
            ? cleanMemberName(target)
            : cleanMemberName(path.posix.join(path.posix.dirname(name), target));
        links.set(name, resolved);
        entry.resume();
      } else {
        entry.resume();
      }
    }
  })();
  try {
    await Promise.all([pipeline(await decompressStream(source), extract), done]);
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw err;
    throw new InvalidArgumentError(`invalid archive: ${tarReason(err as Error)}`);
  }
  const lookup = (name: string): { file: string; size: number } | undefined => {
    let n = cleanMemberName(name);
    for (let hops = 0; hops < 16; hops++) {
      const f = files.get(n);
      if (f) return f;
      const next = links.get(n);
      if (next === undefined) return undefined;
      n = next;
    }
    return undefined;
  };
  return {
    file: (name) => lookup(name)?.file,
    has: (name) => lookup(name) !== undefined,
    json: (name) => {
      const f = lookup(name);
      if (!f) throw new InvalidArgumentError(`invalid archive: ${name} is missing`);
      if (f.size > maxJson) throw new InvalidArgumentError(`invalid archive: ${name} is larger than ${maxJson} bytes`);
      try {
        return JSON.parse(fs.readFileSync(f.file, 'utf8')) as unknown;
      } catch {
        throw new InvalidArgumentError(`invalid archive: ${name} is not valid JSON`);
      }
    },
  };
}
