/**
 * The timing of one CNI set-up's steps, for the debug line src/net/cni/sandbox-networks.ts logs
 * once the set-up ends (`network set up (<step> <ms> ms, ...)`), which bench:cri reads
 * (bench/start-phases.ts, cniStepTable).
 */
/** The steps of one set-up: laps in order, and the legs that run beside another, each on its own. */
export interface Laps {
  /** The time since the last lap (or the start), logged as "<what> N ms". */
  lap(what: string): void;
  /** `step`, whose own time is logged as "<what> alone N ms" once it settles (a leg run beside another). */
  leg<T>(what: string, step: Promise<T>): Promise<T>;
  /** Every lap and leg so far, in the order they ended: "<what> N ms, ...". */
  summary(): string;
}

/** A Laps whose first lap counts from now. */
export function lapper(): Laps {
  let last = Date.now();
  const parts: string[] = [];
  return {
    lap(what) {
      const now = Date.now();
      parts.push(`${what} ${now - last} ms`);
      last = now;
    },
    leg(what, step) {
      const start = Date.now();
      const done = () => parts.push(`${what} alone ${Date.now() - start} ms`);
      step.then(done, done);
      return step;
    },
    summary: () => parts.join(', '),
  };
}
