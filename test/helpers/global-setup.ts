/**
 * Jest global setup:
 *  - remembers which QEMU and virtiofsd processes existed before the run, so the teardown can
 *    tell leaks of this run from processes that were already there (likewise mount helpers
 *    and mounts under the tests' temp roots);
 *  - builds dist/ (tests start the compiled daemon: test/helpers/daemon.ts);
 *  - starts the fixture registries on 127.0.0.1:5000 and :5001 filled with the test images
 *    (test/fixtures/README.md) and exports their addresses (PODVISOR_TEST_REGISTRY, ...).
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { listMountHelpers, listVmProcesses, testRootMounts } from './leaks';
import { ensureFixtureRegistries, fixtureEnv } from '../fixtures/registry';

export default async function globalSetup(): Promise<void> {
  process.env.PODVISOR_PREEXISTING_VM_PIDS = listVmProcesses().map((p) => p.pid).join(',');
  process.env.PODVISOR_PREEXISTING_MOUNT_HELPERS = listMountHelpers().map((p) => p.pid).join(',');
  process.env.PODVISOR_PREEXISTING_MOUNTS = JSON.stringify(testRootMounts());
  process.env.PODVISOR_TEST_RUN_START_MS = String(Date.now());
  const root = path.resolve(__dirname, '../..');
  try {
    execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'pipe' });
  } catch (err) {
    // Type errors still emit JavaScript; the typecheck step of `npm test` reports them.
    process.stderr.write(`global-setup: tsc reported errors (dist/ was still written):\n${String((err as { stdout?: Buffer }).stdout ?? '').slice(0, 2000)}\n`);
  }
  const started = await ensureFixtureRegistries();
  process.env.PODVISOR_TEST_REGISTRY_PIDS = started.map((r) => r.pid).filter(Boolean).join(',');
  Object.assign(process.env, fixtureEnv());
}
