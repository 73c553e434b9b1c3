/**
 * Environment lists (`KEY=VALUE` entries), as a process gets them: shared by the Docker
 * translation (image env under the caller's) and the pod runtime (runtime defaults under the
 * container's).
 */

/** The key of env entry `e`: what comes before its first `=` (all of it when there is none). */
function keyOf(e: string): string {
  const i = e.indexOf('=');
  return i >= 0 ? e.slice(0, i) : e;
}

/**
 * Env lists merged by key: entries of `over` replace those of `base` in place, others are
 * appended (a later duplicate in `over` replaces the earlier one). Linear: a key -> index map,
 * so a create body with 100,000 entries costs milliseconds, not minutes.
 */
export function mergeEnv(base: string[], over: string[]): string[] {
  const out = base.slice();
  const key = keyOf;
  const at = new Map<string, number>();
  out.forEach((e, i) => {
    const k = key(e);
    if (!at.has(k)) at.set(k, i);
  });
  for (const e of over) {
    const k = key(e);
    const i = at.get(k);
    if (i !== undefined) {
      out[i] = e;
    } else {
      at.set(k, out.length);
      out.push(e);
    }
  }
  return out;
}

/**
 * Env lists merged as dockerd merges a create's with its image's: `over` as given (its
 * duplicates too), then each entry of `base` whose key `over` lacks, in `base`'s order. Linear,
 * as mergeEnv is.
 */
export function mergeEnvOverFirst(base: string[], over: string[]): string[] {
  const keys = new Set(over.map(keyOf));
  return [...over, ...base.filter((e) => !keys.has(keyOf(e)))];
}
