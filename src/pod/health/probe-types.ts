/**
 * Health checks and probes of a container's spec and record, as plain types (a leaf: no code,
 * no imports): what a health check or a probe runs, and what their results were.
 * ./health.ts, ./probe-state.ts and ./probes.ts run them.
 */

/** One probe's result. */
export interface ProbeResult {
  /** RFC 3339 with nanoseconds. */
  start: string;
  end: string;
  /** The probe's exit code; -1 when it timed out or could not start. */
  exitCode: number;
  /** Its output (cut at PROBE_OUTPUT_LIMIT bytes, then `...`), or why it could not start. */
  output: string;
  /** Set when it was killed for running longer than this many ms (its output is then empty). */
  timedOutMs?: number;
}

/** What to probe and how often (every duration already defaulted by the front end). */
export interface HealthSpec {
  /** argv of the probe (a shell form is already wrapped in the shell by the front end). */
  args: string[];
  intervalMs: number;
  timeoutMs: number;
  /** Failures of probes started this soon after the start do not count while starting. */
  startPeriodMs: number;
  /** Between probes while starting within the start period (absent: intervalMs throughout). */
  startIntervalMs?: number;
  /** Failures in a row that make the container unhealthy (at least 1). */
  retries: number;
}

/** The three health words. */
export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

/** The health of a container, as recorded with it. */
export interface HealthState {
  status: HealthStatus;
  failingStreak: number;
  /** Oldest first, at most HEALTH_LOG_SIZE (./health.ts). */
  log: ProbeResult[];
}

/** What a probe does. */
export type ProbeAction =
  /** Run `args` in the container (as an exec): exit code 0 is a success. */
  | { type: 'exec'; args: string[] }
  /**
   * GET `path` on `host` (absent: the pod's address on its network) and `port`, from the
   * host: a status from 200 to 399 is a success.
   */
  | {
      type: 'http';
      host?: string;
      port: number;
      path: string;
      scheme: 'http' | 'https';
      headers: Array<{ name: string; value: string }>;
    }
  /** Connect to `host` (absent: the pod's address) and `port` over TCP, from the host: a connection is a success. */
  | { type: 'tcp'; host?: string; port: number };

/** One probe of a container, every duration in milliseconds (defaults already applied). */
export interface ProbeSpec {
  action: ProbeAction;
  /** From the container's start to its first probe. */
  initialDelayMs: number;
  /** Between two probes. */
  periodMs: number;
  /** A probe that takes longer is a failure. */
  timeoutMs: number;
  /** Failures in a row that count (at least 1). */
  failureThreshold: number;
  /** Successes in a row that count (at least 1; 1 for liveness and startup). */
  successThreshold: number;
  /** Seconds between the stop signal and SIGKILL when this probe kills (absent: the container's stop timeout). */
  killGraceSeconds?: number;
}

/** The kinds of probe. */
export type ProbeKind = 'startup' | 'liveness' | 'readiness';

/** A container's probes (each optional). */
export type ContainerProbes = Partial<Record<ProbeKind, ProbeSpec>>;

/** What the probes say of a container's current run (kept with its record). */
export interface ProbeStatus {
  /** Its startup probe succeeded (or it has none). */
  started: boolean;
  /** Its readiness probe's settled result is a success (or it has none), once started. */
  ready: boolean;
}
