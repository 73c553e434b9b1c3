/**
 * The rebuilding of an image disk from its recipe (./recipe.ts), taking the recipe as hostile
 * (it comes from a registry): the receiver's own tree of the same base layers (listed by
 * ./tree-files.ts, its listing's digest equal to the sender's) gives the referenced blocks.
 * Every op is checked before a byte of it is written: in disk order, not overlapping, inside
 * the declared size, a file index of the listing and blocks inside that file's size, the data
 * written within the caller's bound; files are opened beneath the tree's root with no symlink
 * followed. The disk's digest is computed as it is written, and a disk whose digest is not the
 * recorded one is refused at the end. Every refusal is an InvalidArgumentError naming it; the
 * caller removes the partial file.
 */
import type { FileHandle } from 'node:fs/promises';
import {
  COPY_BYTES,
  DATA_HEAD_BYTES,
  DiskDigest,
  OP_COPY,
  OP_DATA,
  OP_END,
  RECIPE_BLOCK,
  RECIPE_HEADER_BYTES,
  RECIPE_MAGIC,
  RECIPE_MAX_LITERAL,
} from './recipe';
import { TreeOpener, type TreeListing } from './tree-files';
import { InvalidArgumentError } from '../../errors';

/** What the caller allows of a recipe, and what the disk must be. */
export interface RecipeLimits {
  /** The disk's size, as the config declares it. */
  size: number;
  /** Most bytes written (references and literals together). */
  maxDataBytes: number;
  /** The disk's digest (./recipe.ts DiskDigest) the sender recorded. */
  digest: string;
}

/** Blocks read from a file at a time. */
const COPY_CHUNK_BLOCKS = 256;

function u64(b: Buffer, at: number, what: string): number {
  const v = b.readBigUInt64BE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER))
    throw new InvalidArgumentError(`image disk recipe: ${what} ${v} is too large`);
  return Number(v);
}

function fail(why: string): never {
  throw new InvalidArgumentError(`image disk recipe: ${why}`);
}

/**
 * A recipe applied to an open, empty file as its bytes are pushed: `push(chunk)` for each
 * piece in order, then `end()`, then `close()` (always). After an error the file holds a
 * partial disk for the caller to remove.
 */
export class RecipeApplier {
  private state: 'header' | 'tag' | 'copy' | 'datahead' | 'data' | 'done' = 'header';
  private head = Buffer.alloc(RECIPE_HEADER_BYTES);
  private have = 0;
  private need = RECIPE_HEADER_BYTES;
  private blocks = 0;
  /** The next disk block an op may start at. */
  private next = 0;
  private written = 0;
  private digest?: DiskDigest;
  /** The literal op being gathered. */
  private lit?: { disk: number; count: number; bytes: Buffer; have: number };
  private readonly opener: TreeOpener;
  private open?: { file: number; fh: FileHandle };

  constructor(
    private readonly out: FileHandle,
    root: string,
    private readonly tree: TreeListing,
    private readonly limits: RecipeLimits,
  ) {
    this.opener = new TreeOpener(root);
  }

  /** Apply the next bytes of the recipe. */
  async push(chunk: Buffer): Promise<void> {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.state === 'done') fail(`${chunk.length - pos} bytes after its end`);
      if (this.state === 'data') {
        const lit = this.lit!;
        const n = Math.min(lit.bytes.length - lit.have, chunk.length - pos);
        chunk.copy(lit.bytes, lit.have, pos, pos + n);
        lit.have += n;
        pos += n;
        if (lit.have === lit.bytes.length) await this.writeLiteral();
        continue;
      }
      const n = Math.min(this.need - this.have, chunk.length - pos);
      chunk.copy(this.head, this.have, pos, pos + n);
      this.have += n;
      pos += n;
      if (this.have < this.need) continue;
      this.have = 0;
      await this.onHead();
    }
  }

  /** The recipe is over: an error unless its end was read and the disk is the recorded one. */
  end(): void {
    if (this.state !== 'done') fail('truncated before its end');
    const got = this.digest!.digest();
    if (got !== this.limits.digest) {
      fail(`the disk it makes (${got}) is not the one it was made from (${this.limits.digest})`);
    }
  }

  /** Close the files it opened. */
  async close(): Promise<void> {
    await this.open?.fh.close().catch(() => undefined);
    this.open = undefined;
    await this.opener.close();
  }

  private expect(state: RecipeApplier['state'], need: number): void {
    this.state = state;
    this.need = need;
  }

  private async onHead(): Promise<void> {
    const h = this.head;
    switch (this.state) {
      case 'header': {
        if (!h.subarray(0, RECIPE_MAGIC.length).equals(RECIPE_MAGIC)) fail('bad magic (not an image disk recipe)');
        const size = u64(h, 8, 'size');
        if (size !== this.limits.size) fail(`size ${size}, not the declared ${this.limits.size}`);
        if (size % RECIPE_BLOCK) fail(`size ${size} is not a multiple of ${RECIPE_BLOCK}`);
        const files = h.readUInt32BE(16);
        const listing = h.subarray(20, 52).toString('hex');
        if (files !== this.tree.files.length || listing !== this.tree.digest) {
          fail(
            `it was made over other files than this host's copy of its base image has (${files} files, listing ${listing.slice(0, 12)}; here ${this.tree.files.length}, ${this.tree.digest.slice(0, 12)})`,
          );
        }
        this.blocks = size / RECIPE_BLOCK;
        this.digest = new DiskDigest(size);
        await this.out.truncate(size);
        return this.expect('tag', 1);
      }
      case 'tag':
        if (h[0] === OP_END) return this.expect('done', 0);
        if (h[0] === OP_COPY) return this.expect('copy', COPY_BYTES);
        if (h[0] === OP_DATA) return this.expect('datahead', DATA_HEAD_BYTES);
        return fail(`unknown op ${h[0]}`);
      case 'copy': {
        const disk = u64(h, 0, 'disk block');
        const file = h.readUInt32BE(8);
        const block = u64(h, 12, 'file block');
        const count = h.readUInt32BE(20);
        this.place(disk, count);
        if (file >= this.tree.files.length) fail(`file ${file} of ${this.tree.files.length}`);
        const fileBlocks = Math.ceil(this.tree.files[file].size / RECIPE_BLOCK);
        if (block >= fileBlocks || count > fileBlocks - block) {
          fail(`blocks ${block}+${count} of file ${file}, which has ${fileBlocks}`);
        }
        await this.copy(disk, file, block, count);
        return this.expect('tag', 1);
      }
      case 'datahead': {
        const disk = u64(h, 0, 'disk block');
        const count = h.readUInt32BE(8);
        if (count > RECIPE_MAX_LITERAL) fail(`a literal of ${count} blocks, over ${RECIPE_MAX_LITERAL}`);
        this.place(disk, count);
        this.lit = { disk, count, bytes: Buffer.alloc(count * RECIPE_BLOCK), have: 0 };
        this.state = 'data';
        return;
      }
      default:
        return fail(`internal: state ${this.state}`);
    }
  }

  /** Check that `count` blocks at disk block `disk` may be written, and count them. */
  private place(disk: number, count: number): void {
    if (count === 0) fail(`an empty op at disk block ${disk}`);
    if (disk < this.next) fail(`an op at disk block ${disk} out of order or overlapping (next free ${this.next})`);
    if (disk > this.blocks || count > this.blocks - disk) {
      fail(`blocks ${disk}+${count} reach beyond the disk's ${this.blocks}`);
    }
    const bytes = count * RECIPE_BLOCK;
    if (this.written + bytes > this.limits.maxDataBytes) {
      fail(`more than the limit of ${this.limits.maxDataBytes} bytes written (op at disk block ${disk})`);
    }
    this.written += bytes;
    this.next = disk + count;
  }

  /** The open handle of file `i`, the previous one closed. */
  private async fileHandle(i: number): Promise<FileHandle> {
    if (this.open?.file === i) return this.open.fh;
    await this.open?.fh.close();
    this.open = undefined;
    const { rel, size } = this.tree.files[i];
    let fh: FileHandle;
    try {
      fh = await this.opener.open(rel);
    } catch (err) {
      throw new InvalidArgumentError(`image disk recipe: file ${i} of its base image: ${(err as Error).message}`);
    }
    this.open = { file: i, fh };
    if ((await fh.stat()).size !== size) fail(`file ${i} of its base image changed while it was read`);
    return fh;
  }

  private async copy(disk: number, file: number, block: number, count: number): Promise<void> {
    const fh = await this.fileHandle(file);
    const size = this.tree.files[file].size;
    const buf = Buffer.alloc(Math.min(count, COPY_CHUNK_BLOCKS) * RECIPE_BLOCK);
    for (let k = 0; k < count; k += COPY_CHUNK_BLOCKS) {
      const n = Math.min(COPY_CHUNK_BLOCKS, count - k);
      const start = (block + k) * RECIPE_BLOCK;
      const want = Math.min(n * RECIPE_BLOCK, size - start);
      const b = buf.subarray(0, n * RECIPE_BLOCK);
      b.fill(0);
      for (let done = 0; done < want; ) {
        const { bytesRead } = await fh.read(b, done, want - done, start + done);
        if (bytesRead === 0) fail(`file ${file} of its base image shrank while it was read`);
        done += bytesRead;
      }
      await this.writeBlocks(disk + k, b);
    }
  }

  private async writeLiteral(): Promise<void> {
    const lit = this.lit!;
    this.lit = undefined;
    await this.writeBlocks(lit.disk, lit.bytes);
    this.expect('tag', 1);
  }

  /** Write whole blocks `b` at disk block `disk`, each counted in the digest. */
  private async writeBlocks(disk: number, b: Buffer): Promise<void> {
    for (let k = 0; k * RECIPE_BLOCK < b.length; k++) {
      this.digest!.block(disk + k, b.subarray(k * RECIPE_BLOCK, (k + 1) * RECIPE_BLOCK));
    }
    const position = disk * RECIPE_BLOCK;
    for (let done = 0; done < b.length; ) {
      const { bytesWritten } = await this.out.write(b, done, b.length - done, position + done);
      done += bytesWritten;
    }
  }
}
