/**
 * Docker's words for health checks: a create body's `Healthcheck` decoded and checked with
 * dockerd's messages (merged with the image's and made a probe by the neutral policy,
 * src/translate/request/policy/health.ts); and a container's HealthState rendered as dockerd
 * renders `State.Health`, the `(healthy)` of `docker ps` and the `health` filter's word.
 */
import { InvalidArgumentError } from '../../../errors';
import type { ContainerRecord, HealthState, ProbeResult } from '../../../pod/types';
import { HEALTH_DURATIONS, type HealthConfig } from '../../../translate/request/policy/health';

/**
 * A create body's Healthcheck, checked as dockerd checks it (a duration under 1ms other than
 * 0, or negative retries, is refused). Returns it in Docker's shape, only the fields set.
 */
export function parseHealthConfig(raw: unknown): HealthConfig | undefined {
  if (raw === undefined || raw === null) return undefined;
  const o = raw as Record<string, unknown>;
  const out: HealthConfig = {};
  if (o.Test !== undefined && o.Test !== null) {
    if (!Array.isArray(o.Test) || o.Test.some((t) => typeof t !== 'string')) {
      throw new InvalidArgumentError(
        'json: cannot unmarshal value into Go struct field HealthConfig.Healthcheck.Test of type []string',
      );
    }
    if (o.Test.length) out.Test = o.Test as string[];
  }
  for (const k of [...HEALTH_DURATIONS, 'Retries'] as const) {
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
  const tooShort = (k: (typeof HEALTH_DURATIONS)[number]) => {
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
