/**
 * Tests that cannot run on this host say so: `testIf(runs, reason, name, fn)` is jest's `test`
 * where the case runs, and jest's skip elsewhere, the reason in the skipped case's name
 * (`name [not run: reason]`), so the run reports it as skipped with its reason. Chosen when the
 * file is collected, so a case never switches to other expectations on another host. The lint
 * (eslint.config.js) refuses a bare `test.skip`/`it.skip`/`describe.skip`: a skip goes through
 * here, with its reason.
 */
/* eslint-disable jest/expect-expect, jest/no-disabled-tests, no-restricted-syntax -- the helpers hand the caller's case to jest: its expects are its own; the skip is the reported one, its reason in its name */

/** Jest's `test(name, fn, timeout)` where `runs`, else its skip named with `reason`. */
export function testIf(runs: boolean, reason: string, name: string, fn: jest.ProvidesCallback, timeout?: number): void {
  if (runs) test(name, fn, timeout);
  else test.skip(`${name} [not run: ${reason}]`, fn, timeout);
}

/** Jest's `describe(name, fn)` where `runs`, else its skip named with `reason` (each case reported skipped). */
export function describeIf(runs: boolean, reason: string, name: string, fn: () => void): void {
  if (runs) describe(name, fn);
  else describe.skip(`${name} [not run: ${reason}]`, fn);
}
