/**
 * Jest runs four projects (`npm test` runs them all; `npm run test:<name>` runs one):
 *  - unit: pure logic over in-memory fakes; no root, no host processes, no VM. Runs anywhere.
 *  - privileged: real host facilities without a VM: mounts, overlayfs, xattrs, the host
 *    helpers (perl), the guest agent in host mode, host binaries (openssl, fincore, a fake
 *    qemu). Needs root.
 *  - integration: real QEMU VMs with the real guest agent, and the compiled daemon on them.
 *  - compat: the real docker CLI, dockerode and docker-py against the real compiled daemon.
 *    The run-flag suites (run-flags, run-network-flags, run-api-fields) start dockerd 20.10 and
 *    dockerd 26.1 beside podvisor and compare its answer with both in one run
 *    (test/helpers/beside-baseline.ts).
 *
 * The TypeScript is type-checked once, by `tsc -b` (bootstrap.sh --test, which also emits the
 * daemon into dist/); ts-jest only transpiles each file (tsconfig's isolatedModules), it does
 * not check types again.
 *
 * The global setup and teardown are per project: privileged, integration and compat get the
 * leak check (no QEMU, virtiofsd, mount helper, mount or VM directory left behind);
 * integration and compat also get the fixture registries and an up-to-date dist/.
 * VM-heavy files each boot their own VMs, and the machine has 2 cores, so at most 2 workers.
 */
const common = {
  testEnvironment: 'node',
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
};
const leakCheck = {
  globalSetup: '<rootDir>/test/helpers/global-setup.ts',
  globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
};
const withDaemon = {
  globalSetup: '<rootDir>/test/helpers/global-setup-daemon.ts',
  globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
};

/**
 * The agent conformance suite (test/conformance) runs the same cases against three agents; each
 * run belongs to the project whose needs it has: the fake agent to unit, the agent in host
 * test mode to privileged, the agent in a VM to integration.
 */
function withConformance(dir, agent) {
  return {
    roots: [`<rootDir>/test/${dir}`, '<rootDir>/test/conformance'],
    testMatch: [`<rootDir>/test/${dir}/**/*.test.ts`, `<rootDir>/test/conformance/${agent}.test.ts`],
  };
}

module.exports = {
  maxWorkers: 2,
  // At the end of a run: each project's time and the slowest files (.ci/run's log shows them).
  reporters: ['default', '<rootDir>/test/helpers/slowest-files-reporter.js'],
  testTimeout: 30000,
  projects: [
    { ...common, displayName: 'unit', ...withConformance('unit', 'fake') },
    { ...common, ...leakCheck, displayName: 'privileged', ...withConformance('privileged', 'host') },
    { ...common, ...withDaemon, displayName: 'integration', ...withConformance('integration', 'vm') },
    { ...common, ...withDaemon, displayName: 'compat', roots: ['<rootDir>/test/compat'] },
  ],
};
