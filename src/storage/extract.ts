/**
 * Hostile-input-safe extraction of an image layer (a tar stream) into an empty directory we
 * own, in the form overlayfs reads as a lower layer:
 *   - OCI whiteout `dir/.wh.name`  -> character device 0:0 at `dir/name`;
 *   - opaque marker `.wh..wh..opq` -> xattr trusted.overlay.opaque=y on its directory.
 *
 * Safety: the directory starts empty and nobody else writes to it, so this module keeps a map
 * of every path it created and its kind. An entry's parent chain must consist of directories
 * from that map (created implicitly when absent); a symlink or file in the chain fails the
 * layer, so nothing is ever written through a symlink. Names are cleaned (`a/../b` -> `b`,
 * leading `/` dropped, as dockerd does); a name that climbs above the root fails the layer.
 * Hardlinks must point at a non-directory this layer already created. Files are opened with
 * O_EXCL|O_NOFOLLOW. Content is bounded by a byte budget and entry count.
 *
 * Kept: ownership, permission bits (setuid/setgid/sticky), mtimes, xattrs (PAX
 * SCHILY.xattr.*, except trusted.overlay.* which only we may set), hardlinks, symlinks,
 * device nodes and fifos (via src/storage/fsops.ts).
 *
 * Uses tar-stream for parsing (see docs/design/api.md, "Packages"). tar-stream decodes PAX values as
 * UTF-8, which would corrupt binary xattrs (security.capability), so `patchPaxDecoding`
 * makes it keep SCHILY.xattr.* values byte-for-byte (as latin1 strings).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { InvalidArgumentError } from '../errors';
import { lsetxattr, mknod } from './fsops';

/** Limits applied to one layer. */
export interface ExtractLimits {
  /** Total bytes of file content (default 64 GiB). */
  maxBytes?: number;
  /** Number of entries (default 2,000,000). */
  maxEntries?: number;
}

/** What extraction produced. */
export interface ExtractResult {
  /** Docker's layer size: regular file bytes (each inode once) plus symlink target lengths. */
  size: number;
  entries: number;
}

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';
const WHITEOUT_META_PREFIX = '.wh..wh.';
const PATH_MAX = 4096;
const NAME_MAX = 255;
const XATTR_PREFIX = 'SCHILY.xattr.';

type Kind = 'dir' | 'file' | 'symlink' | 'other';

interface Node {
  kind: Kind;
  /** Bytes this path counts for in the layer size (0 for hardlinks, dirs, devices). */
  size: number;
}

let paxPatched = false;

/**
 * Make tar-stream keep binary PAX values of SCHILY.xattr.* records (latin1 strings, one char
 * per byte). tar-stream's `exports` hide its headers module, so it is reached by file path;
 * if its shape ever changes we keep the stock decoder (binary xattrs then come out lossy).
 */
function patchPaxDecoding(): void {
  if (paxPatched) return;
  paxPatched = true;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const headers = require(path.join(path.dirname(require.resolve('tar-stream')), 'headers.js')) as {
      decodePax?: unknown;
    };
    if (typeof headers.decodePax !== 'function') return;
    headers.decodePax = (buf: Buffer): Record<string, string> => {
      const out: Record<string, string> = {};
      let b = buf;
      while (b.length) {
        const sp = b.indexOf(0x20);
        if (sp <= 0) break;
        const len = parseInt(b.subarray(0, sp).toString('ascii'), 10);
        if (!len || len > b.length || len <= sp + 1) break;
        const rec = b.subarray(sp + 1, len - 1);
        const eq = rec.indexOf(0x3d);
        if (eq === -1) break;
        const key = rec.subarray(0, eq).toString('utf8');
        const val = rec.subarray(eq + 1);
        out[key] = key.startsWith(XATTR_PREFIX) ? val.toString('latin1') : val.toString('utf8');
        b = b.subarray(len);
      }
      return out;
    };
  } catch {
    // Keep the stock decoder.
  }
}

/** The fail-the-layer error for hostile or broken entries. */
function bad(name: string, why: string): InvalidArgumentError {
  const shown = name.length > 300 ? `${name.slice(0, 300)}...` : name;
  return new InvalidArgumentError(`invalid layer: entry ${JSON.stringify(shown)} ${why}`);
}

/** Clean a tar path to components relative to the layer root; throws when it escapes. */
export function cleanEntryPath(name: string): string[] {
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length === 0) throw bad(name, 'points outside the layer');
      out.pop();
      continue;
    }
    if (c.length > NAME_MAX) throw bad(name, 'has a path component longer than 255 bytes');
    if (c.includes('\0')) throw bad(name, 'contains a NUL byte');
    out.push(c);
  }
  if (name.length > PATH_MAX) throw bad(name.slice(0, 64) + '...', 'is longer than 4096 bytes');
  return out;
}

/** Extracts one tar stream into `dest` (an empty directory). */
class LayerExtractor {
  private readonly nodes = new Map<string, Node>();
  private readonly dirTimes: Array<{ rel: string; mtime: Date }> = [];
  private bytes = 0;
  private entries = 0;
  private size = 0;
  private readonly maxBytes: number;
  private readonly maxEntries: number;

  constructor(
    private readonly dest: string,
    limits: ExtractLimits,
  ) {
    this.maxBytes = limits.maxBytes ?? 64 * 1024 ** 3;
    this.maxEntries = limits.maxEntries ?? 2_000_000;
  }

  private abs(rel: string): string {
    return rel === '' ? this.dest : path.join(this.dest, rel);
  }

  /** Make sure every parent of `parts` is a directory we created (creating missing ones). */
  private async ensureParents(name: string, parts: string[]): Promise<void> {
    let rel = '';
    for (let i = 0; i < parts.length - 1; i++) {
      rel = rel ? `${rel}/${parts[i]}` : parts[i];
      const n = this.nodes.get(rel);
      if (n === undefined) {
        await fs.promises.mkdir(this.abs(rel), { mode: 0o755 });
        this.nodes.set(rel, { kind: 'dir', size: 0 });
      } else if (n.kind !== 'dir') {
        throw bad(
          name,
          n.kind === 'symlink'
            ? 'has a symlink among its parent directories'
            : 'has a non-directory among its parent directories',
        );
      }
    }
  }

  /** Remove whatever this layer already put at `rel` (and below it), keeping the size right. */
  private async removeExisting(rel: string): Promise<void> {
    const n = this.nodes.get(rel);
    if (!n) return;
    if (n.kind === 'dir') {
      const prefix = rel + '/';
      for (const [k, v] of this.nodes) {
        if (k.startsWith(prefix)) {
          this.size -= v.size;
          this.nodes.delete(k);
        }
      }
      await fs.promises.rm(this.abs(rel), { recursive: true, force: true });
    } else {
      await fs.promises.unlink(this.abs(rel));
    }
    this.size -= n.size;
    this.nodes.delete(rel);
  }

  private async applyOwnerMode(file: string, h: tar.Header, isSymlink: boolean): Promise<void> {
    const { uid, gid } = owner(h);
    if (isSymlink) {
      await fs.promises.lchown(file, uid, gid);
      await fs.promises.lutimes(file, mtimeOf(h), mtimeOf(h));
      return;
    }
    await fs.promises.lchown(file, uid, gid);
    // chmod after chown: chown clears setuid/setgid.
    await fs.promises.chmod(file, h.mode & 0o7777);
  }

  private async applyXattrs(file: string, h: tar.Header): Promise<void> {
    const pax = h.pax as Record<string, string> | null | undefined;
    if (!pax) return;
    for (const [k, v] of Object.entries(pax)) {
      if (!k.startsWith(XATTR_PREFIX)) continue;
      const name = k.slice(XATTR_PREFIX.length);
      // Overlay's own attributes change how the layer is merged: only we set those.
      if (name.startsWith('trusted.overlay.')) continue;
      try {
        await lsetxattr(file, name, Buffer.from(v, 'latin1'));
      } catch (err) {
        // dockerd also ignores attributes the filesystem does not support.
        if (!/not supported/i.test(String((err as Error).message))) throw err;
      }
    }
  }

  private budget(name: string, n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw bad(name, 'has an invalid size');
    if (this.bytes + n > this.maxBytes)
      throw bad(name, `makes the layer larger than the limit of ${this.maxBytes} bytes`);
  }

  /** Handle one tar entry; `stream` must be drained before returning. */
  async entry(h: tar.Header, stream: Readable): Promise<void> {
    this.entries++;
    if (this.entries > this.maxEntries) throw bad(h.name, `exceeds the limit of ${this.maxEntries} entries`);
    const parts = cleanEntryPath(h.name);
    if (parts.length === 0) {
      // The layer root itself (`./`): nothing to create.
      stream.resume();
      return;
    }
    const base = parts[parts.length - 1];
    const rel = parts.join('/');
    // Its path below `dest` would pass PATH_MAX: refused before any of its parents is made.
    if (Buffer.byteLength(this.dest) + 1 + Buffer.byteLength(rel) >= PATH_MAX)
      throw bad(h.name, 'is too long: file name too long');

    if (base.startsWith(WHITEOUT_PREFIX)) return this.whiteout(h, parts, base, stream);

    await this.ensureParents(h.name, parts);
    const file = this.abs(rel);
    const existing = this.nodes.get(rel);
    if (!(existing?.kind === 'dir' && h.type === 'directory')) await this.removeExisting(rel);

    switch (h.type) {
      case 'directory':
        return this.directory(h, rel, file, existing, stream);
      case 'file':
      case 'contiguous-file':
        return this.file(h, rel, file, stream);
      case 'symlink':
        return this.symlink(h, rel, file, stream);
      case 'link':
        return this.hardlink(h, rel, file, stream);
      case 'character-device':
      case 'block-device':
      case 'fifo':
        return this.node(h, rel, file, stream);
      default:
        // Unknown typeflags carry nothing we can represent; dockerd skips them too.
        stream.resume();
    }
  }

  /**
   * A whiteout entry (`dir/.wh.name`): the opaque marker sets its directory opaque, aufs
   * bookkeeping is skipped, any other removes what this layer has at `dir/name` and puts
   * overlayfs's whiteout (a 0:0 character device) there.
   */
  private async whiteout(h: tar.Header, parts: string[], base: string, stream: Readable): Promise<void> {
    stream.resume();
    await this.ensureParents(h.name, parts);
    const parentRel = parts.slice(0, -1).join('/');
    if (base === OPAQUE_MARKER) {
      await lsetxattr(this.abs(parentRel), 'trusted.overlay.opaque', Buffer.from('y'));
      return;
    }
    if (base.startsWith(WHITEOUT_META_PREFIX)) return; // aufs bookkeeping (.wh..wh.plnk ...)
    const target = base.slice(WHITEOUT_PREFIX.length);
    if (target === '' || target === '.' || target === '..') throw bad(h.name, 'is a whiteout of nothing');
    const tRel = parentRel ? `${parentRel}/${target}` : target;
    await this.removeExisting(tRel);
    const file = this.abs(tRel);
    await mknod(file, 'c', 0, 0, 0);
    const { uid, gid } = owner(h);
    await fs.promises.lchown(file, uid, gid);
    this.nodes.set(tRel, { kind: 'other', size: 0 });
  }

  /** A directory entry: created unless this layer made it already; its mtime is set at the end. */
  private async directory(
    h: tar.Header,
    rel: string,
    file: string,
    existing: Node | undefined,
    stream: Readable,
  ): Promise<void> {
    stream.resume();
    if (!existing || existing.kind !== 'dir') {
      await fs.promises.mkdir(file, { mode: 0o700 });
      this.nodes.set(rel, { kind: 'dir', size: 0 });
    }
    await this.applyOwnerMode(file, h, false);
    await this.applyXattrs(file, h);
    this.dirTimes.push({ rel, mtime: mtimeOf(h) });
  }

  /** A regular file: within the byte budget, never more data than its header says. */
  private async file(h: tar.Header, rel: string, file: string, stream: Readable): Promise<void> {
    this.budget(h.name, h.size);
    const fh = await fs.promises.open(
      file,
      fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW,
      0o600,
    );
    this.nodes.set(rel, { kind: 'file', size: h.size });
    this.size += h.size;
    try {
      let written = 0;
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        written += chunk.length;
        if (written > h.size) throw bad(h.name, 'has more data than its header says');
        await fh.write(chunk);
      }
      this.bytes += written;
      const { uid, gid } = owner(h);
      await fh.chown(uid, gid);
      await fh.chmod(h.mode & 0o7777);
      await fh.utimes(mtimeOf(h), mtimeOf(h));
    } finally {
      await fh.close();
    }
    await this.applyXattrs(file, h);
  }

  /** A symbolic link (its target is stored, never followed). */
  private async symlink(h: tar.Header, rel: string, file: string, stream: Readable): Promise<void> {
    stream.resume();
    const target = h.linkname ?? '';
    if (target.includes('\0') || target.length > PATH_MAX) throw bad(h.name, 'has an invalid symlink target');
    await fs.promises.symlink(target, file);
    const size = Buffer.byteLength(target);
    this.nodes.set(rel, { kind: 'symlink', size });
    this.size += size;
    await this.applyOwnerMode(file, h, true);
    await this.applyXattrs(file, h);
  }

  /** A hard link, only to a non-directory this layer already created. */
  private async hardlink(h: tar.Header, rel: string, file: string, stream: Readable): Promise<void> {
    stream.resume();
    const tParts = cleanEntryPath(h.linkname ?? '');
    const tRel = tParts.join('/');
    const t = this.nodes.get(tRel);
    if (!t || tParts.length === 0)
      throw bad(h.name, `is a hardlink to ${JSON.stringify(h.linkname)}, which this layer does not contain`);
    if (t.kind === 'dir') throw bad(h.name, 'is a hardlink to a directory');
    // Every parent of the target is a directory of ours (the map holds only such paths).
    await fs.promises.link(this.abs(tRel), file);
    this.nodes.set(rel, { kind: t.kind, size: 0 });
  }

  /** A device node or a fifo. */
  private async node(h: tar.Header, rel: string, file: string, stream: Readable): Promise<void> {
    stream.resume();
    const kind = h.type === 'fifo' ? 'p' : h.type === 'block-device' ? 'b' : 'c';
    await mknod(file, kind, 0o600, h.devmajor ?? 0, h.devminor ?? 0);
    this.nodes.set(rel, { kind: 'other', size: 0 });
    await this.applyOwnerMode(file, h, false);
    await fs.promises.utimes(file, mtimeOf(h), mtimeOf(h));
    await this.applyXattrs(file, h);
  }

  /** Set directory mtimes last (creating entries inside a directory changes its mtime). */
  async finish(): Promise<ExtractResult> {
    for (let i = this.dirTimes.length - 1; i >= 0; i--) {
      const { rel, mtime } = this.dirTimes[i];
      if (this.nodes.get(rel)?.kind !== 'dir') continue;
      await fs.promises.utimes(this.abs(rel), mtime, mtime);
    }
    return { size: this.size, entries: this.entries };
  }
}

function owner(h: tar.Header): { uid: number; gid: number } {
  const pax = (h.pax ?? {}) as Record<string, string>;
  const uid = pax.uid !== undefined ? Number(pax.uid) : h.uid;
  const gid = pax.gid !== undefined ? Number(pax.gid) : h.gid;
  const ok = (n: number) => Number.isInteger(n) && n >= 0 && n <= 0xfffffffe;
  return { uid: ok(uid) ? uid : 0, gid: ok(gid) ? gid : 0 };
}

function mtimeOf(h: tar.Header): Date {
  const pax = (h.pax ?? {}) as Record<string, string>;
  if (pax.mtime !== undefined) {
    const s = Number(pax.mtime);
    if (Number.isFinite(s)) return new Date(s * 1000);
  }
  const d = h.mtime instanceof Date ? h.mtime : new Date(0);
  return Number.isFinite(d.getTime()) ? d : new Date(0);
}

/**
 * Extract the (uncompressed) tar `source` into `dest`, which must be an existing empty
 * directory that only this call writes to. On any error the caller discards `dest`.
 */
export async function extractLayer(source: Readable, dest: string, limits: ExtractLimits = {}): Promise<ExtractResult> {
  patchPaxDecoding();
  const x = new LayerExtractor(dest, limits);
  const parser = tar.extract();
  source.on('error', (err) => parser.destroy(err));
  let parserError: Error | undefined;
  parser.on('error', (e: Error) => (parserError ??= e));
  source.pipe(parser as unknown as NodeJS.WritableStream);
  try {
    for await (const entry of parser) {
      await x.entry(entry.header, entry as unknown as Readable).catch((e: unknown) => {
        // A path the kernel cannot take below `dest` (its full length past PATH_MAX).
        throw (e as NodeJS.ErrnoException).code === 'ENAMETOOLONG'
          ? bad(entry.header.name.slice(0, 64) + '...', 'is too long: file name too long')
          : e;
      });
    }
  } catch (e) {
    if (e instanceof InvalidArgumentError) throw e;
    // A broken or truncated tar: the entry being read fails with the stream's destruction, the
    // parser's own error says why (in the words of Go's archive/tar, as dockerd reports it).
    const cause = parserError && !('code' in parserError) ? parserError : e;
    if (cause instanceof Error && (!('code' in cause) || cause.code === 'STREAM_DESTROYED'))
      throw new InvalidArgumentError(`invalid tar archive: ${tarReason(cause)}`);
    throw e;
  }
  return x.finish();
}

/** tar-stream's words for a broken archive, in those of Go's archive/tar (dockerd's). */
export function tarReason(e: Error): string {
  if (/Unexpected end of data/.test(e.message)) return 'unexpected EOF';
  if (/Invalid tar header/.test(e.message)) return 'archive/tar: invalid tar header';
  return e.message;
}
