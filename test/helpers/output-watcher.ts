/**
 * Accumulates a terminal's or stream's output and lets a test wait until it matches.
 * Shared by the pty sessions (test/helpers/pty.ts) and the SDK terminal adapters.
 *
 *   const w = new OutputWatcher();
 *   stream.on('data', (b) => w.append(b));
 *   const from = w.mark();
 *   await w.expect(/hi\r\n/, 30000, from);   // rejects with the output seen when it times out
 */
export class OutputWatcher {
  private out = '';
  private readonly waiters = new Set<() => void>();

  /** Add output (decoded as UTF-8) and wake every pending expect. */
  append(chunk: Buffer | string): void {
    this.out += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    for (const w of [...this.waiters]) w();
  }

  /** Everything received so far. */
  text(): string {
    return this.out;
  }

  /** The current length: pass it to expect() to match only what comes after. */
  mark(): number {
    return this.out.length;
  }

  /** Resolves when the output from `from` on matches `re`; rejects after `timeoutMs`. */
  expect(re: RegExp, timeoutMs = 30000, from = 0): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!re.test(this.out.slice(from))) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(
            `output did not match ${re} within ${timeoutMs} ms; output was:\n${JSON.stringify(this.out.slice(from))}`,
          ),
        );
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }
}
