/**
 * Jest global setup of the projects that start the compiled daemon and pull images
 * (integration, compat), after the leak snapshot of global-setup.ts:
 *  - makes sure dist/src is built from the current sources (scripts/build.sh: nothing to do,
 *    ~10 ms, when `npm test`'s bootstrap has just built it; tests start the compiled daemon:
 *    test/helpers/daemon.ts);
 *  - starts this run's own fixture registries, on loopback ports picked free, filled with the
 *    test images (test/fixtures/README.md), and exports their addresses (PODVISOR_TEST_REGISTRY,
 *    ...) to the test files and the daemons they start; the teardown stops them.
 * Both projects name this; the second call finds everything in place.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import leakSnapshot from './global-setup';
import { ensureFixtureRegistries, fixtureEnv } from '../fixtures/registry';

export default async function globalSetupDaemon(): Promise<void> {
  leakSnapshot();
  if (process.env.PODVISOR_TEST_DAEMON_SETUP) return;
  process.env.PODVISOR_TEST_DAEMON_SETUP = '1';
  const root = path.resolve(__dirname, '../..');
  try {
    execFileSync('bash', [path.join(root, 'scripts/build.sh')], { cwd: root, stdio: 'pipe' });
  } catch (err) {
    // Type errors still emit JavaScript; the type check of `npm test` reports them.
    process.stderr.write(
      `global-setup: tsc reported errors (dist/ was still written):\n${String((err as { stdout?: Buffer }).stdout ?? '').slice(0, 2000)}\n`,
    );
  }
  await ensureFixtureRegistries();
  Object.assign(process.env, fixtureEnv());
}
