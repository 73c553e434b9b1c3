/**
 * Time stamps in Docker's format: RFC 3339 with nanoseconds (`2026-11-22T08:35:48.320332331Z`),
 * and the longest delay a timer holds.
 */

/** Now, in RFC 3339 with nanoseconds (the sub-millisecond digits come from the monotonic clock). */
export function nowRfc3339(): string {
  const ms = Date.now();
  const ns = Number(process.hrtime.bigint() % 1000000n);
  return new Date(ms)
    .toISOString()
    .replace(/\.(\d{3})Z$/, (_m, frac: string) => `.${frac}${String(ns).padStart(6, '0')}Z`);
}

/** Milliseconds since epoch of an RFC 3339 time (digits beyond milliseconds are dropped). */
export function parseRfc3339(t: string): number {
  return Date.parse(t.replace(/(\.\d{3})\d+/, '$1'));
}

/** Nanoseconds since epoch of an RFC 3339 time, as a bigint. */
export function rfc3339Nanos(t: string): bigint {
  const m = /^(.*?)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(t);
  if (!m) return BigInt(Date.parse(t)) * 1000000n;
  const base = BigInt(Date.parse(`${m[1]}${m[3]}`)) * 1000000n;
  const frac = BigInt((m[2] ?? '').padEnd(9, '0').slice(0, 9) || '0');
  return base + frac;
}

/** Longest delay a node timer holds (2^31-1 ms, about 24.8 days); longer waits have no deadline. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
