/**
 * Detach keys of an attached client (Docker's default is ctrl-p,ctrl-q; a front end parses its
 * own syntax, the Docker API's in src/translate/detach-keys.ts): a scanner that watches a
 * client's stdin for the sequence. Bytes that might start the sequence are held back until the
 * next byte decides; when the sequence is complete the client is detached and the sequence
 * itself is never delivered to the process.
 */

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
