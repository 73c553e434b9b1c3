/**
 * Waiting for steps that run beside each other, so that none is left running when the caller
 * reacts to a failure (undoes the others' work, answers the request).
 */

/**
 * Await every promise (an undefined one is a step not taken: its value is undefined), then
 * throw the first failure in the order given; otherwise resolve their values in that order.
 */
export async function settleAll<T extends readonly unknown[]>(
  steps: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled = await Promise.allSettled(steps);
  for (const s of settled) if (s.status === 'rejected') throw s.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as {
    -readonly [K in keyof T]: Awaited<T[K]>;
  };
}
