/**
 * Jest runs five projects (`npm test` runs them all; `npm run test:<name>` runs one):
 *  - unit: pure logic over in-memory fakes; no root, no host processes, no VM. Runs anywhere.
 *  - privileged: real host facilities without a VM: mounts, overlayfs, xattrs, the host
 *    helpers (perl), the guest agent in host mode, host binaries (openssl, fincore, a fake
 *    qemu). Needs root.
 *  - integration: real QEMU VMs with the real guest agent, and the compiled daemon on them.
 *  - compat: the real docker CLI, dockerode and docker-py against the real compiled daemon.
 *  - compat-dockerd26: the suites that compare with a baseline dockerd, again beside dockerd 26.1.
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

/**
 * The side-by-side suites run a second time beside dockerd 26.1 (API 1.45, the version the CLI
 * negotiates with podvisor) in the compat-dockerd26 project, as the compat project runs them
 * beside dockerd 20.10 (test/helpers/baseline-choice.ts). A suite that compares with both
 * baselines in one run (test/helpers/beside-baseline.ts, startBesideBaselines: podvisor does
 * each case once) is not listed: run-flags and run-api-fields.
 */
const BESIDE_DOCKERD26 = ['run-network-flags.test.ts'];

module.exports = {
  maxWorkers: 2,
  testTimeout: 30000,
  projects: [
    { ...common, displayName: 'unit', ...withConformance('unit', 'fake') },
    { ...common, ...leakCheck, displayName: 'privileged', ...withConformance('privileged', 'host') },
    { ...common, ...withDaemon, displayName: 'integration', ...withConformance('integration', 'vm') },
    { ...common, ...withDaemon, displayName: 'compat', roots: ['<rootDir>/test/compat'] },
    {
      ...common,
      ...withDaemon,
      displayName: 'compat-dockerd26',
      roots: ['<rootDir>/test/compat'],
      testMatch: BESIDE_DOCKERD26.map((f) => `<rootDir>/test/compat/${f}`),
      setupFiles: ['<rootDir>/test/helpers/baseline-dockerd26.ts'],
    },
  ],
};
