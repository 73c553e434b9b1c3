/**
 * Which dockerd the side-by-side suites of startBesideBaseline (./beside-baseline.ts) compare
 * with: dockerd 20.10 (the host's docker.io, API 1.41) unless PODVISOR_BASELINE is `dockerd26`
 * in the environment (a run by hand), Debian 13's dockerd 26.1 (API 1.45) unpacked by
 * scripts/dockerd26.sh. The run-flag suites start both baselines themselves
 * (startBesideBaselines) and compare with both in one run.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

/** The baseline's name, as tests print it and branch on it. */
export type BaselineName = 'dockerd 20.10' | 'dockerd 26.1';

/** The baseline this run compares with. */
export function baselineName(): BaselineName {
  return process.env.PODVISOR_BASELINE === 'dockerd26' ? 'dockerd 26.1' : 'dockerd 20.10';
}

/** Whether this run compares with dockerd 26.1. */
export function besideDockerd26(): boolean {
  return baselineName() === 'dockerd 26.1';
}

/**
 * The unpacked root of the baseline to start (startNetnsDockerd's `root`): undefined for the
 * host's dockerd 20.10; dockerd 26.1's, or a failure saying the bootstrap did not unpack it.
 */
export function baselineRoot(): string | undefined {
  return besideDockerd26() ? dockerd26Root() : undefined;
}

/** The unpacked root of dockerd 26.1, or a failure saying the bootstrap did not unpack it. */
export function dockerd26Root(): string {
  const script = path.join(__dirname, '../../scripts/dockerd26.sh');
  const root = execFileSync('bash', [script, '--path'], { encoding: 'utf8' }).trim();
  if (!root) throw new Error('dockerd 26.1 is not unpacked: run scripts/bootstrap.sh --test (scripts/dockerd26.sh)');
  return root;
}
