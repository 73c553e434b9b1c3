/**
 * Times in queries and filters. `since`/`until` of logs and events: Unix seconds or RFC 3339
 * (timeArgNanos). The `until` filter of the prune routes, read as dockerd reads it (timetypes.GetTimestamp
 * against the current time): a Go duration back from now (`10m`, `1h30m`, `1.5h`), a date or
 * RFC 3339 time (`2021-01-01`, `2021-01-01T10`, `2021-01-01T10:00:00Z`; local time when it
 * has no zone), or Unix seconds with an optional fraction. Anything else is refused: a
 * filter that cannot be read must not widen a prune to everything.
 */
import { InvalidArgumentError } from '../../../errors';
import { parseRfc3339, rfc3339Nanos } from '../../../util/time';

const UNIT_NS: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, μs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/** Go's time.ParseDuration, in seconds; undefined when `v` is not a duration. */
function goDurationSeconds(v: string): number | undefined {
  const m = /^([-+]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$/.exec(v);
  if (!m) return undefined;
  let total = 0;
  for (const [, n, unit] of m[2].matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g))
    total += Number(n) * UNIT_NS[unit];
  return m[1] === '-' ? -total : total;
}

const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?(Z|z|[+-]\d{2}:\d{2})?$/;

/** A date or RFC 3339-like time in Unix seconds; undefined when it does not parse. */
function dateSeconds(v: string): number | undefined {
  const m = DATE_TIME.exec(v);
  if (!m) return undefined;
  const [y, mo, d, h = 0, mi = 0, s = 0] = m
    .slice(1, 7)
    .map((x) => (x === undefined ? undefined : Number(x))) as number[];
  if (mo < 1 || mo > 12 || d < 1 || d > new Date(Date.UTC(y, mo, 0)).getUTCDate() || h > 23 || mi > 59 || s > 59)
    return undefined;
  const frac = m[7] ? Number(`0.${m[7]}`) : 0;
  const zone = m[8];
  let ms: number;
  if (zone === undefined) ms = new Date(y, mo - 1, d, h, mi, s).getTime();
  else {
    ms = Date.UTC(y, mo - 1, d, h, mi, s);
    if (zone !== 'Z' && zone !== 'z')
      ms -= (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60000;
  }
  return ms / 1000 + frac;
}

/** The cutoff of a prune's `until` filter, in Unix seconds (400 when it cannot be read). */
export function pruneUntilSeconds(v: string, nowMs = Date.now()): number {
  if (v !== '0') {
    const d = goDurationSeconds(v);
    if (d !== undefined) return nowMs / 1000 - d;
  }
  if (v.includes('-')) {
    const t = dateSeconds(v);
    if (t === undefined)
      throw new InvalidArgumentError(`parsing time ${JSON.stringify(v)}: not a date or RFC 3339 time`);
    return t;
  }
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  throw new InvalidArgumentError(`failed to parse value as time or duration: ${JSON.stringify(v)}`);
}

/** Seconds (with fraction) or RFC 3339 as the `since`/`until` query gives them -> nanoseconds. */
export function parseTimeArg(v: string): bigint | undefined {
  if (v === '' || v === '0') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) {
    const [s, frac = ''] = v.split('.');
    return BigInt(s) * 1000000000n + BigInt(frac.padEnd(9, '0').slice(0, 9));
  }
  const ms = parseRfc3339(v);
  if (Number.isNaN(ms)) return undefined;
  return rfc3339Nanos(v);
}

/**
 * `since`/`until` of logs and events, in nanoseconds: Unix seconds (with a fraction) or
 * RFC 3339; '' is unset. `0` is the start of time for `since` (events replay their whole
 * history) and no end for `until`. Anything else: dockerd's strconv.ParseInt message (400).
 */
export function timeArgNanos(v: string, name: 'since' | 'until'): bigint | undefined {
  if (!v) return undefined;
  if (v === '0') return name === 'since' ? 0n : undefined;
  const t = parseTimeArg(v);
  if (t === undefined) throw new InvalidArgumentError(`strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`);
  return t;
}
