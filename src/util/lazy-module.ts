/**
 * A package loaded at its first use instead of with the daemon: for what only some requests
 * need (a build's Dockerfile parser, a pod file's YAML), so that a restarted daemon answers
 * sooner (docs/performance-log.md, "A daemon back sooner").
 */

/** A function that loads package `name` at its first call (Node's require) and returns it. */
export function lazyModule<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded ??= require(name) as T;
    return loaded;
  };
}
