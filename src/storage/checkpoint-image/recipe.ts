/**
 * An image disk's recipe (the content of a CHECKPOINT_RECIPE_TYPE layer before zstd): the disk
 * of the image a container was saved over (an ext4 that `mkfs.ext4 -d` made from the image's
 * merged tree, not reproducible byte for byte) told as references to 4 KiB blocks of the
 * image's own files, which the receiver has (a checkpoint image's layers are its base image's
 * and one more), and the few blocks that are not (the filesystem's metadata) as literals.
 * Its layout, integers big-endian:
 *
 *   "PVRC0001"                          magic, 8 bytes
 *   size u64                            the disk's logical size, a multiple of 4096
 *   files u32                           how many files the sender's tree listed (./tree-files.ts)
 *   listing 32 bytes                    that listing's sha256
 *   ops...                              in increasing disk order, never overlapping, inside the size:
 *     1, disk u64, file u32, block u64, count u32
 *                                       `count` blocks of file `file` from its block `block`
 *                                       (the last one zero-padded) at disk block `disk`
 *     2, disk u64, count u32, <count * 4096 bytes>
 *                                       literal blocks (count at most RECIPE_MAX_LITERAL)
 *   0                                   the end; nothing may follow
 *
 * Blocks no op names are zeros (holes). The disk's digest (`diskDigest`) is the sha256 of its
 * size (u64) then, for each block that is not all zeros, in order, its index (u64) and its 4096
 * bytes: it names the disk's content as a sha256 of the whole 16 GiB file would, at the cost
 * of its data alone. The receiver (./recipe-apply.ts) computes it as it writes and refuses a
 * disk that does not match the one the sender recorded.
 */
import * as fs from 'node:fs';
import * as crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { listDataExtents } from './extents';
import { TreeOpener, type TreeListing } from './tree-files';
import { UnavailableError } from '../../errors';

/** The recipe's first 8 bytes. */
export const RECIPE_MAGIC = Buffer.from('PVRC0001', 'latin1');
/** Bytes of the header (magic, size, file count, listing digest). */
export const RECIPE_HEADER_BYTES = 8 + 8 + 4 + 32;
/** A block of the disk and of the files. */
export const RECIPE_BLOCK = 4096;
/** Op tags. */
export const OP_END = 0;
export const OP_COPY = 1;
export const OP_DATA = 2;
/** Bytes of a copy op (after its tag), and of a literal op's header. */
export const COPY_BYTES = 8 + 4 + 8 + 4;
export const DATA_HEAD_BYTES = 8 + 4;
/** Most blocks one literal op carries (1 MiB). */
export const RECIPE_MAX_LITERAL = 256;

/** What a recipe was made of, for the log and the docs' figures. */
export interface RecipeStats {
  /** Disk blocks told by reference, as literals, and left as holes (zeros in data extents). */
  copied: number;
  literal: number;
  zero: number;
  /** Copy ops (runs). */
  runs: number;
}

/** The disk digest's running state (see the module comment). */
export class DiskDigest {
  private readonly hash = crypto.createHash('sha256');
  private readonly index = Buffer.alloc(8);

  constructor(size: number) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(size));
    this.hash.update(b);
  }

  /** Block number `block` holds `bytes` (4096 of them); all zeros count as a hole. */
  block(block: number, bytes: Buffer): void {
    if (isZero(bytes)) return;
    this.index.writeBigUInt64BE(BigInt(block));
    this.hash.update(this.index);
    this.hash.update(bytes);
  }

  /** `sha256:<hex>`. */
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

const ZERO_BLOCK = Buffer.alloc(RECIPE_BLOCK);

/** Whether the 4096 bytes of `b` are all zeros. */
export function isZero(b: Buffer): boolean {
  return b.equals(ZERO_BLOCK);
}

/** The recipe's header. */
export function recipeHeader(size: number, files: number, listingDigestHex: string): Buffer {
  const b = Buffer.alloc(RECIPE_HEADER_BYTES);
  RECIPE_MAGIC.copy(b, 0);
  b.writeBigUInt64BE(BigInt(size), 8);
  b.writeUInt32BE(files, 16);
  Buffer.from(listingDigestHex, 'hex').copy(b, 20);
  return b;
}

/** A copy op. */
export function copyOp(disk: number, file: number, block: number, count: number): Buffer {
  const b = Buffer.alloc(1 + COPY_BYTES);
  b[0] = OP_COPY;
  b.writeBigUInt64BE(BigInt(disk), 1);
  b.writeUInt32BE(file, 9);
  b.writeBigUInt64BE(BigInt(block), 13);
  b.writeUInt32BE(count, 21);
  return b;
}

/** A literal op's header (its count * 4096 bytes follow). */
export function dataOpHead(disk: number, count: number): Buffer {
  const b = Buffer.alloc(1 + DATA_HEAD_BYTES);
  b[0] = OP_DATA;
  b.writeBigUInt64BE(BigInt(disk), 1);
  b.writeUInt32BE(count, 9);
  return b;
}

/** Open files kept by the sender while it verifies matches. */
const OPEN_FILES = 16;
/** Blocks of a file read at once to verify matches (1 MiB). */
const WINDOW_BLOCKS = 256;

/** The blocks of a tree's files, by a hash of their bytes, and the files to read them again. */
class BlockIndex {
  /** Hash (base64 of md5) to an entry: file index * 2^32... kept as two arrays. */
  private readonly byHash = new Map<string, number>();
  private readonly fileOf: number[] = [];
  private readonly blockOf: number[] = [];
  private readonly handles = new Map<number, fs.promises.FileHandle>();
  readonly opener: TreeOpener;

  constructor(
    root: string,
    readonly tree: TreeListing,
  ) {
    this.opener = new TreeOpener(root);
  }

  /** Index every non-zero block of every file. */
  async build(): Promise<void> {
    const chunk = Buffer.alloc(256 * RECIPE_BLOCK);
    for (let i = 0; i < this.tree.files.length; i++) {
      const { rel, size } = this.tree.files[i];
      if (size === 0) continue;
      const fh = await this.opener.open(rel);
      try {
        for (let at = 0; at < size; at += chunk.length) {
          const want = Math.min(chunk.length, size - at);
          chunk.fill(0);
          for (let done = 0; done < want; ) {
            const { bytesRead } = await fh.read(chunk, done, want - done, at + done);
            if (bytesRead === 0) throw new UnavailableError(`${rel} of the image shrank while it was read`);
            done += bytesRead;
          }
          for (let off = 0; off < want; off += RECIPE_BLOCK) {
            const b = chunk.subarray(off, off + RECIPE_BLOCK);
            if (isZero(b)) continue;
            const key = crypto.createHash('md5').update(b).digest('base64');
            if (this.byHash.has(key)) continue;
            this.byHash.set(key, this.fileOf.length);
            this.fileOf.push(i);
            this.blockOf.push((at + off) / RECIPE_BLOCK);
          }
        }
      } finally {
        await fh.close();
      }
    }
  }

  /** A file of the tree open (kept among the last few). */
  private async handle(i: number): Promise<fs.promises.FileHandle> {
    const h = this.handles.get(i);
    if (h) return h;
    const fh = await this.opener.open(this.tree.files[i].rel);
    this.handles.set(i, fh);
    while (this.handles.size > OPEN_FILES) {
      const [k, old] = this.handles.entries().next().value as [number, fs.promises.FileHandle];
      this.handles.delete(k);
      await old.close();
    }
    return fh;
  }

  /** Blocks of one file read ahead (a run's next blocks are compared from memory). */
  private window?: { file: number; first: number; blocks: number; buf: Buffer };

  /** Whether block `block` of file `i` (zero-padded) is `bytes`. */
  async equals(i: number, block: number, bytes: Buffer): Promise<boolean> {
    const size = this.tree.files[i].size;
    if (block * RECIPE_BLOCK >= size) return false;
    let w = this.window;
    if (!w || w.file !== i || block < w.first || block >= w.first + w.blocks) {
      const blocks = Math.min(WINDOW_BLOCKS, Math.ceil(size / RECIPE_BLOCK) - block);
      const buf = w?.buf ?? Buffer.alloc(WINDOW_BLOCKS * RECIPE_BLOCK);
      const want = Math.min(blocks * RECIPE_BLOCK, size - block * RECIPE_BLOCK);
      const fh = await this.handle(i);
      buf.fill(0, 0, blocks * RECIPE_BLOCK);
      for (let done = 0; done < want; ) {
        const { bytesRead } = await fh.read(buf, done, want - done, block * RECIPE_BLOCK + done);
        if (bytesRead === 0) throw new UnavailableError('a file of the image shrank while it was read');
        done += bytesRead;
      }
      w = this.window = { file: i, first: block, blocks, buf };
    }
    const at = (block - w.first) * RECIPE_BLOCK;
    return w.buf.subarray(at, at + RECIPE_BLOCK).equals(bytes);
  }

  /** The file and block whose bytes are `bytes`, verified; undefined when none. */
  async find(bytes: Buffer): Promise<{ file: number; block: number } | undefined> {
    const e = this.byHash.get(crypto.createHash('md5').update(bytes).digest('base64'));
    if (e === undefined) return undefined;
    const file = this.fileOf[e];
    const block = this.blockOf[e];
    return (await this.equals(file, block, bytes)) ? { file, block } : undefined;
  }

  async close(): Promise<void> {
    for (const h of this.handles.values()) await h.close().catch(() => undefined);
    this.handles.clear();
    await this.opener.close();
  }
}

/** A recipe being made: its stream, then (once the stream has ended) the disk's digest and stats. */
export interface RecipeSource {
  size: number;
  stream: Readable;
  /** Set when the stream has ended. */
  result?: { digest: string; stats: RecipeStats };
}

/**
 * The recipe of disk file `disk` (a regular file, not followed) over the tree mounted at
 * `root` whose listing is `tree`: the tree's blocks are indexed first, then the disk's data
 * extents are walked block by block (a zero block is a hole; one equal, byte for byte, to a
 * block of a file is a reference, the next block of the same file tried first; any other a
 * literal). The disk must not change meanwhile. UnavailableError when its size is not a
 * multiple of 4096.
 */
export async function recipeOf(disk: string, root: string, tree: TreeListing): Promise<RecipeSource> {
  const listing = await listDataExtents(disk);
  const size = listing.size;
  if (size % RECIPE_BLOCK) throw new UnavailableError(`${disk}: its size ${size} is not a multiple of 4096`);
  const fh = await fs.promises.open(disk, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  const st = await fh.stat().catch(async (e: unknown) => {
    await fh.close();
    throw e;
  });
  if (st.dev !== listing.dev || st.ino !== listing.ino || st.size !== size) {
    await fh.close();
    throw new UnavailableError(`${disk} changed while its data extents were listed`);
  }
  const source: RecipeSource = { size, stream: undefined as unknown as Readable };
  async function* ops(): AsyncGenerator<Buffer> {
    const index = new BlockIndex(root, tree);
    try {
      await index.build();
      yield recipeHeader(size, tree.files.length, tree.digest);
      const digest = new DiskDigest(size);
      const stats: RecipeStats = { copied: 0, literal: 0, zero: 0, runs: 0 };
      /** The copy run being gathered, or the literal blocks. */
      let run: { disk: number; file: number; block: number; count: number } | undefined;
      let lit: { disk: number; blocks: Buffer[] } | undefined;
      const flushRun = (): Buffer | undefined => {
        if (!run) return undefined;
        const b = copyOp(run.disk, run.file, run.block, run.count);
        run = undefined;
        stats.runs++;
        return b;
      };
      const flushLit = (): Buffer | undefined => {
        if (!lit) return undefined;
        const b = Buffer.concat([dataOpHead(lit.disk, lit.blocks.length), ...lit.blocks]);
        lit = undefined;
        return b;
      };
      const chunk = Buffer.alloc(256 * RECIPE_BLOCK);
      let next = 0;
      for (const e of listing.extents) {
        // Whole blocks covering the extent (a block two extents share is read once).
        const first = Math.max(next, Math.floor(e.offset / RECIPE_BLOCK));
        const end = Math.ceil((e.offset + e.length) / RECIPE_BLOCK);
        next = Math.max(next, end);
        for (let at = first; at < end; at += 256) {
          const n = Math.min(256, end - at);
          const want = n * RECIPE_BLOCK;
          for (let done = 0; done < want; ) {
            const { bytesRead } = await fh.read(chunk, done, want - done, at * RECIPE_BLOCK + done);
            if (bytesRead === 0) throw new UnavailableError(`${disk} shrank while it was read`);
            done += bytesRead;
          }
          for (let k = 0; k < n; k++) {
            const blockNo = at + k;
            const bytes = chunk.subarray(k * RECIPE_BLOCK, (k + 1) * RECIPE_BLOCK);
            if (isZero(bytes)) {
              stats.zero++;
              continue;
            }
            digest.block(blockNo, bytes);
            // The run goes on when the next block of its file is this one.
            if (
              run &&
              run.disk + run.count === blockNo &&
              (await index.equals(run.file, run.block + run.count, bytes))
            ) {
              run.count++;
              stats.copied++;
              continue;
            }
            const hit = await index.find(bytes);
            if (hit) {
              const r = flushRun();
              if (r) yield r;
              const l = flushLit();
              if (l) yield l;
              run = { disk: blockNo, file: hit.file, block: hit.block, count: 1 };
              stats.copied++;
              continue;
            }
            const r = flushRun();
            if (r) yield r;
            if (lit && (lit.disk + lit.blocks.length !== blockNo || lit.blocks.length >= RECIPE_MAX_LITERAL)) {
              yield flushLit()!;
            }
            lit ??= { disk: blockNo, blocks: [] };
            lit.blocks.push(Buffer.from(bytes));
            stats.literal++;
          }
        }
      }
      const r = flushRun();
      if (r) yield r;
      const l = flushLit();
      if (l) yield l;
      yield Buffer.from([OP_END]);
      source.result = { digest: digest.digest(), stats };
    } finally {
      await index.close();
      await fh.close().catch(() => undefined);
    }
  }
  source.stream = Readable.from(ops(), { objectMode: false });
  // A stream destroyed before its first read never runs the generator's `finally`.
  source.stream.once('close', () => void fh.close().catch(() => undefined));
  return source;
}
