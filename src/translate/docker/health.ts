/**
 * Docker's health checks <-> the pod layer's (src/pod/health/health.ts): the `Healthcheck` of a
 * create body and of an image (`Test` as ["CMD", argv...], ["CMD-SHELL", command] or
 * ["NONE"]; durations in nanoseconds, 0 meaning the default), merged as dockerd merges them,
 * turned into a HealthSpec; and a container's HealthState rendered as dockerd renders
 * `State.Health`, the `(healthy)` of `docker ps` and the `health` filter's word.
 */
import { InvalidArgumentError } from '../../errors';
import type { HealthSpec, HealthState, ProbeResult } from '../../pod/types';
import type { ContainerRecord } from '../../pod/types';

/** dockerd's defaults: 30 s between probes, 30 s per probe, no start period, 3 retries. */
const DEFAULT_INTERVAL_MS = 30000;
const DEFAULT_TIMEOUT_MS = 30000;
const DEFAULT_RETRIES = 3;
/** The shell of CMD-SHELL when the container sets none. */
const DEFAULT_SHELL = ['/bin/sh', '-c'];

/** Docker's HealthConfig (durations in nanoseconds; absent fields are zero). */
export interface DockerHealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  /** Between probes during the start period (API 1.44 and later; the API layer drops it below). */
  StartInterval?: number;
  Retries?: number;
}

const DURATIONS = ['Interval', 'Timeout', 'StartPeriod', 'StartInterval'] as const;

/**
 * A create body's Healthcheck, checked as dockerd checks it (a duration under 1ms other than
 * 0, or negative retries, is refused). Returns it in Docker's shape, only the fields set.
 */
export function parseHealthConfig(raw: unknown): DockerHealthConfig | undefined {
  if (raw === undefined || raw === null) return undefined;
  const o = raw as Record<string, unknown>;
  const out: DockerHealthConfig = {};
  if (o.Test !== undefined && o.Test !== null) {
    if (!Array.isArray(o.Test) || o.Test.some((t) => typeof t !== 'string')) {
      throw new InvalidArgumentError(
        'json: cannot unmarshal value into Go struct field HealthConfig.Healthcheck.Test of type []string',
      );
    }
    if (o.Test.length) out.Test = o.Test as string[];
  }
  for (const k of [...DURATIONS, 'Retries'] as const) {
    const v = o[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      throw new InvalidArgumentError(
        `json: cannot unmarshal value into Go struct field HealthConfig.Healthcheck.${k} ` +
          `of type ${k === 'Retries' ? 'int' : 'time.Duration'}`,
      );
    }
    if (v !== 0) out[k] = v;
  }
  // dockerd's order of checks: Interval, Timeout, Retries, StartPeriod.
  const tooShort = (k: (typeof DURATIONS)[number]) => {
    const v = out[k];
    if (v !== undefined && v < 1000000) throw new InvalidArgumentError(`${k} in Healthcheck cannot be less than 1ms`);
  };
  tooShort('Interval');
  tooShort('Timeout');
  if (out.Retries !== undefined && out.Retries < 0)
    throw new InvalidArgumentError('Retries in Healthcheck cannot be negative');
  tooShort('StartPeriod');
  tooShort('StartInterval');
  return out;
}

/** dockerd's merge of the user's Healthcheck over the image's: each unset field from the image. */
export function mergeHealthConfig(
  user: DockerHealthConfig | undefined,
  image: unknown,
): DockerHealthConfig | undefined {
  const img = image && typeof image === 'object' ? (image as DockerHealthConfig) : undefined;
  if (!user) return img ? { ...img } : undefined;
  if (!img) return user;
  const out: DockerHealthConfig = { ...user };
  if (!out.Test?.length && img.Test?.length) out.Test = img.Test;
  for (const k of [...DURATIONS, 'Retries'] as const) if (!out[k] && img[k]) out[k] = img[k];
  return out;
}

/** The probe of a merged Healthcheck; undefined for none (absent, NONE, or an unknown kind). */
export function healthSpecOf(hc: DockerHealthConfig | undefined, shell: string[] | undefined): HealthSpec | undefined {
  const test = hc?.Test;
  if (!hc || !test?.length) return undefined;
  let args: string[];
  if (test[0] === 'CMD') args = test.slice(1);
  else if (test[0] === 'CMD-SHELL') args = [...(shell?.length ? shell : DEFAULT_SHELL), ...test.slice(1)];
  else return undefined;
  return {
    args,
    intervalMs: hc.Interval ? hc.Interval / 1e6 : DEFAULT_INTERVAL_MS,
    timeoutMs: hc.Timeout ? hc.Timeout / 1e6 : DEFAULT_TIMEOUT_MS,
    startPeriodMs: hc.StartPeriod ? hc.StartPeriod / 1e6 : 0,
    ...(hc.StartInterval ? { startIntervalMs: hc.StartInterval / 1e6 } : {}),
    retries: hc.Retries && hc.Retries > 0 ? hc.Retries : DEFAULT_RETRIES,
  };
}

/** Go's time.Duration.String() of a whole number of milliseconds ("500ms", "1.5s", "1m30s"). */
export function goDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3600000);
  const m = Math.floor((ms % 3600000) / 60000);
  const s = ((ms % 60000) / 1000).toFixed(3).replace(/\.?0+$/, '');
  if (h) return `${h}h${m}m${s}s`;
  if (m) return `${m}m${s}s`;
  return `${s}s`;
}

/** One result as dockerd writes it in `State.Health.Log`. */
function dockerProbe(p: ProbeResult): Record<string, unknown> {
  const output = p.timedOutMs !== undefined ? `Health check exceeded timeout (${goDuration(p.timedOutMs)})` : p.output;
  return { Start: p.start, End: p.end, ExitCode: p.exitCode, Output: output };
}

/** `State.Health` of inspect. */
export function dockerHealth(h: HealthState): Record<string, unknown> {
  return { Status: h.status, FailingStreak: h.failingStreak, Log: h.log.map(dockerProbe) };
}

/** The word of the `health` filter: the status, or `none` without a health check. */
export function healthWord(c: ContainerRecord): string {
  return c.health && c.spec.health ? c.health.status : 'none';
}

/** The words the `health` filter accepts. */
export const HEALTH_FILTER_WORDS = ['starting', 'healthy', 'unhealthy', 'none'];

/** What `docker ps` appends to "Up 3 seconds": ` (healthy)`, ` (health: starting)`, or nothing. */
export function healthSuffix(c: ContainerRecord): string {
  if (!c.health || !c.spec.health) return '';
  return c.health.status === 'starting' ? ' (health: starting)' : ` (${c.health.status})`;
}
