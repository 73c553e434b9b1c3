/**
 * Content digests (`sha256:<64 hex>`): validation, hashing, and a pass-through stream that
 * hashes and counts what flows through it so a download can be verified while it streams.
 */
import * as crypto from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

/** True when `d` is a well-formed sha256 digest. */
export function isDigest(d: unknown): d is string {
  return typeof d === 'string' && DIGEST_RE.test(d);
}

/** `sha256:<hex>` of a buffer or string. */
export function sha256Digest(data: Buffer | string): string {
  return 'sha256:' + crypto.createHash('sha256').update(data).digest('hex');
}

/** The hex part of a digest (`sha256:abc` -> `abc`). */
export function digestHex(d: string): string {
  return d.slice(d.indexOf(':') + 1);
}

/** First 12 hex characters, as docker shows short IDs. */
export function shortId(d: string): string {
  return digestHex(d).slice(0, 12);
}

/**
 * Docker's chain IDs: chain(0) = diff_id(0), chain(n) = sha256(chain(n-1) + " " + diff_id(n)).
 * Returned in the same order as the diff IDs.
 */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : sha256Digest(`${out[out.length - 1]} ${d}`));
  return out;
}

/** A Transform that passes bytes through unchanged while hashing and counting them. */
export class HashingStream extends Transform {
  private readonly hash = crypto.createHash('sha256');
  /** Bytes seen so far. */
  bytes = 0;
  private finalDigest?: string;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }

  /** `sha256:<hex>` of everything that passed; valid once the stream has ended. */
  digest(): string {
    if (!this.finalDigest) this.finalDigest = 'sha256:' + this.hash.digest('hex');
    return this.finalDigest;
  }
}

/**
 * Whether `config`, an image config as parsed from JSON, has a `rootfs.diff_ids` that is a list
 * of digests: the one check of it, made where an image comes in (pull.ts, archive-image/load.ts).
 */
export function hasValidDiffIds(config: unknown): config is { rootfs: { diff_ids: string[] } } {
  if (!config || typeof config !== 'object') return false;
  const rootfs = (config as { rootfs?: { diff_ids?: unknown } }).rootfs;
  return !!rootfs && Array.isArray(rootfs.diff_ids) && rootfs.diff_ids.every(isDigest);
}
