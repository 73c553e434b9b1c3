/**
 * A container's health check -> the pod layer's probe (src/pod/health/health.ts). The check
 * is held in the form an image's config keeps it (`Healthcheck`: `Test` as ["CMD", argv...],
 * ["CMD-SHELL", command] or ["NONE"]; durations in nanoseconds, 0 meaning the default), which
 * every front's image has: the request's check is merged over the image's field by field, as
 * dockerd merges them, then turned into a HealthSpec with dockerd's defaults.
 */
import type { HealthSpec } from '../../../pod/types';

/** dockerd's defaults: 30 s between probes, 30 s per probe, no start period, 3 retries. */
const DEFAULT_INTERVAL_MS = 30000;
const DEFAULT_TIMEOUT_MS = 30000;
const DEFAULT_RETRIES = 3;
/** The shell of CMD-SHELL when the container sets none. */
const DEFAULT_SHELL = ['/bin/sh', '-c'];

/** A health check in an image config's form (durations in nanoseconds; absent fields are zero). */
export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  /** Between probes during the start period (API 1.44 and later; the API layer drops it below). */
  StartInterval?: number;
  Retries?: number;
}

/** The duration fields of a HealthConfig. */
export const HEALTH_DURATIONS = ['Interval', 'Timeout', 'StartPeriod', 'StartInterval'] as const;

/** dockerd's merge of the request's check over the image's: each unset field from the image. */
export function mergeHealthConfig(user: HealthConfig | undefined, image: unknown): HealthConfig | undefined {
  const img = image && typeof image === 'object' ? (image as HealthConfig) : undefined;
  if (!user) return img ? { ...img } : undefined;
  if (!img) return user;
  const out: HealthConfig = { ...user };
  if (!out.Test?.length && img.Test?.length) out.Test = img.Test;
  for (const k of [...HEALTH_DURATIONS, 'Retries'] as const) if (!out[k] && img[k]) out[k] = img[k];
  return out;
}

/** The probe of a merged check; undefined for none (absent, NONE, or an unknown kind). */
export function healthSpecOf(hc: HealthConfig | undefined, shell: string[] | undefined): HealthSpec | undefined {
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
