/**
 * The content store: blobs (manifests, indexes, image configs) kept by digest under
 * `<root>/blobs/sha256/<hex>`. Writers stream into `<root>/ingest/` and commit only after the
 * size and digest match what was expected; commit is fsync + atomic rename, so a blob that is
 * visible is always complete and correct. Each layer's compressed blob is kept here too (the
 * bytes the registry sent, or our gzip of a loaded tar), so that `docker save` and `docker
 * push` give the layer back byte for byte; the layer store records which blob is whose.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { digestHex, HashingStream, isDigest, sha256Digest } from './digest';
import { fsyncPath } from '../util/atomic';
import { InvalidArgumentError, NotFoundError } from '../errors';

/** What a writer must end up with to commit. */
export interface ExpectedContent {
  digest: string;
  /** Bytes; checked when given. */
  size?: number;
}

/** Thrown (as InvalidArgumentError) when content does not match its digest or size. */
export function mismatchError(
  what: string,
  expected: ExpectedContent,
  gotDigest: string,
  gotSize: number,
): InvalidArgumentError {
  if (expected.size !== undefined && gotSize !== expected.size) {
    return new InvalidArgumentError(`${what}: size mismatch: expected ${expected.size} bytes, got ${gotSize}`);
  }
  return new InvalidArgumentError(`${what}: digest mismatch: expected ${expected.digest}, got ${gotDigest}`);
}

/** A blob written and verified but not yet visible in the store. */
export interface StagedBlob {
  /** Make it visible under its digest. */
  commit(): Promise<void>;
  /** Drop it (nothing becomes visible). */
  discard(): Promise<void>;
}

/** Blobs by digest on disk. */
export class ContentStore {
  private readonly blobDir: string;
  private readonly ingestDir: string;

  constructor(readonly root: string) {
    this.blobDir = path.join(root, 'blobs', 'sha256');
    this.ingestDir = path.join(root, 'ingest');
  }

  /** Create the directories and drop partial writes left by a crashed daemon. */
  async init(): Promise<void> {
    await fs.promises.mkdir(this.blobDir, { recursive: true, mode: 0o700 });
    await fs.promises.rm(this.ingestDir, { recursive: true, force: true });
    await fs.promises.mkdir(this.ingestDir, { recursive: true, mode: 0o700 });
  }

  /** File path of a blob (whether or not it exists). */
  blobPath(digest: string): string {
    if (!isDigest(digest)) throw new InvalidArgumentError(`invalid digest: ${digest}`);
    return path.join(this.blobDir, digestHex(digest));
  }

  /** True when the blob is stored. */
  async has(digest: string): Promise<boolean> {
    try {
      await fs.promises.access(this.blobPath(digest));
      return true;
    } catch {
      return false;
    }
  }

  /** The blob's bytes; NotFoundError when absent. */
  async read(digest: string): Promise<Buffer> {
    try {
      return await fs.promises.readFile(this.blobPath(digest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`content ${digest} not found`);
      throw err;
    }
  }

  /** Store a buffer whose digest is known (verified) or computed. Returns the digest. */
  async put(data: Buffer, expected?: ExpectedContent, what = 'blob'): Promise<string> {
    const got = sha256Digest(data);
    if (expected && (got !== expected.digest || (expected.size !== undefined && expected.size !== data.length))) {
      throw mismatchError(what, expected, got, data.length);
    }
    if (await this.has(got)) return got;
    const tmp = this.tempPath();
    try {
      const fh = await fs.promises.open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.commitTemp(tmp, got);
    } finally {
      await fs.promises.rm(tmp, { force: true });
    }
    return got;
  }

  /**
   * Stream `source` into the store; the blob appears only if its size and digest match
   * `expected`. On mismatch or error nothing is stored and the error is thrown.
   */
  async ingest(source: Readable, expected: ExpectedContent, what = 'blob'): Promise<void> {
    await (await this.stage(source, expected, what)).commit();
  }

  /**
   * As `ingest`, but the verified blob becomes visible only at `commit()`: a pull keeps a
   * layer's blob only once the layer unpacked and matched its diff ID, and `discard()`s it
   * otherwise. An uncommitted blob lives in ingest/, which a restarted daemon empties.
   */
  async stage(source: Readable, expected: ExpectedContent, what = 'blob'): Promise<StagedBlob> {
    const tmp = this.tempPath();
    const discard = async () => {
      await fs.promises.rm(tmp, { force: true });
    };
    const hasher = new HashingStream();
    try {
      await pipeline(source, hasher, fs.createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
      const got = hasher.digest();
      if (got !== expected.digest || (expected.size !== undefined && hasher.bytes !== expected.size)) {
        throw mismatchError(what, expected, got, hasher.bytes);
      }
      await fsyncPath(tmp);
    } catch (err) {
      await discard();
      throw err;
    }
    return {
      commit: async () => {
        try {
          await this.commitTemp(tmp, expected.digest);
        } finally {
          await discard();
        }
      },
      discard,
    };
  }

  /**
   * Stream `source` into the store when its digest is not known in advance (a layer we
   * compress ourselves). Resolves to the digest and size of what was stored.
   */
  async ingestNew(source: Readable): Promise<{ digest: string; size: number }> {
    const tmp = this.tempPath();
    const hasher = new HashingStream();
    try {
      await pipeline(source, hasher, fs.createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
      const digest = hasher.digest();
      await fsyncPath(tmp);
      if (!(await this.has(digest))) await this.commitTemp(tmp, digest);
      return { digest, size: hasher.bytes };
    } finally {
      await fs.promises.rm(tmp, { force: true });
    }
  }

  /** Size of a stored blob in bytes; NotFoundError when absent. */
  async size(digest: string): Promise<number> {
    try {
      return (await fs.promises.stat(this.blobPath(digest))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`content ${digest} not found`);
      throw err;
    }
  }

  /** Remove a blob (no error when absent). */
  async delete(digest: string): Promise<void> {
    await fs.promises.rm(this.blobPath(digest), { force: true });
  }

  /** Every stored digest. */
  async list(): Promise<string[]> {
    const names = await fs.promises.readdir(this.blobDir);
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }

  private tempPath(): string {
    return path.join(this.ingestDir, crypto.randomBytes(8).toString('hex'));
  }

  private async commitTemp(tmp: string, digest: string): Promise<void> {
    await fs.promises.rename(tmp, this.blobPath(digest));
    await fsyncPath(this.blobDir);
  }
}
