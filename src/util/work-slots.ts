/**
 * A fixed number of slots for work in flight (a counting semaphore): `take` resolves with a
 * release function once a slot is free, in the order asked. Whoever takes a slot gives it back
 * exactly once (a second release does nothing), so a handler that both fails and finishes
 * cannot free a slot that is not its own.
 */

/** At most `max` holders at once; the rest wait in order. */
export class WorkSlots {
  private held = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly max: number) {}

  /** Slots held now (never more than max). */
  get inFlight(): number {
    return this.held;
  }

  /** Callers waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /** A slot: resolves once one is free, with what gives it back. */
  take(): Promise<() => void> {
    if (this.held < this.max) {
      this.held++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve) => this.waiting.push(() => resolve(this.releaser())));
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiting.shift();
      // The slot passes straight to the next in line: held stays the same.
      if (next) next();
      else this.held--;
    };
  }
}
