/**
 * Environment lists (`KEY=VALUE` entries), as a process gets them: shared by the Docker
 * translation (image env under the caller's) and the pod runtime (runtime defaults under the
 * container's).
 */

/**
 * Env lists merged by key: entries of `over` replace those of `base` in place, others are
 * appended (a later duplicate in `over` replaces the earlier one). Linear: a key -> index map,
 * so a create body with 100,000 entries costs milliseconds, not minutes.
 */
export function mergeEnv(base: string[], over: string[]): string[] {
  const out = base.slice();
  const key = (e: string) => {
    const i = e.indexOf('=');
    return i >= 0 ? e.slice(0, i) : e;
  };
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
