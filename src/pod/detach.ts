/**
 * Detach keys of `docker attach` / `docker run -it` (default ctrl-p,ctrl-q): parsing of the
 * `detachKeys` parameter with Docker's syntax, and a scanner that watches a client's stdin
 * for the sequence. Bytes that might start the sequence are held back until the next byte
 * decides; when the sequence is complete the client is detached and the sequence itself is
 * never delivered to the process.
 */
import { InvalidArgumentError } from '../errors';

/** Docker's default: ctrl-p, ctrl-q. */
export const DEFAULT_DETACH_KEYS = Buffer.from([0x10, 0x11]);

/**
 * Parse `ctrl-p,ctrl-q`, `a,b`, `ctrl-@`, `ctrl-[`... (`ctrl-<a-z @ [ \ ] ^ _>` or a single
 * character). Throws "Invalid detach keys (x) provided" as dockerd does.
 */
export function parseDetachKeys(spec: string): Buffer {
  const out: number[] = [];
  const bad = () => new InvalidArgumentError(`Invalid detach keys (${spec}) provided`);
  for (const key of spec.split(',')) {
    if (key.length > 1) {
      const m = /^ctrl-(.)$/i.exec(key);
      if (!m) throw bad();
      const ch = m[1].toLowerCase();
      if (ch >= 'a' && ch <= 'z') out.push(ch.charCodeAt(0) - 0x60);
      else if (ch === '@') out.push(0);
      else if (ch === '[') out.push(27);
      else if (ch === '\\') out.push(28);
      else if (ch === ']') out.push(29);
      else if (ch === '^') out.push(30);
      else if (ch === '_') out.push(31);
      else throw bad();
    } else if (key.length === 1) {
      out.push(key.charCodeAt(0));
    } else {
      throw bad();
    }
  }
  return Buffer.from(out);
}

/** Watches a stream of input bytes for the detach sequence. */
export class DetachScanner {
  private held = 0;

  constructor(private readonly keys: Buffer) {}

  /**
   * Feed input. Returns the bytes to deliver now, and whether the sequence completed (then
   * nothing after it in this chunk is delivered).
   */
  feed(chunk: Buffer): { data: Buffer; detach: boolean } {
    if (this.keys.length === 0) return { data: chunk, detach: false };
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.keys[this.held]) {
        this.held++;
        if (this.held === this.keys.length) {
          this.held = 0;
          return { data: Buffer.from(out), detach: true };
        }
        continue;
      }
      // Mismatch: the held prefix was ordinary input after all.
      for (let i = 0; i < this.held; i++) out.push(this.keys[i]);
      this.held = 0;
      if (byte === this.keys[0]) {
        this.held = 1;
        if (this.keys.length === 1) return { data: Buffer.from(out), detach: true };
      } else {
        out.push(byte);
      }
    }
    return { data: Buffer.from(out), detach: false };
  }

  /** At end of input: bytes still held back (a prefix that never completed). */
  flush(): Buffer {
    const b = this.keys.subarray(0, this.held);
    this.held = 0;
    return Buffer.from(b);
  }
}
