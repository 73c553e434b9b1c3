/**
 * Jest runs three kinds of tests:
 *  - test/unit: pure logic and in-memory Hypervisor/Agent fakes, fast;
 *  - test/integration: real QEMU VMs with the real guest agent;
 *  - test/compat: the real docker CLI, dockerode and docker-py against a real daemon.
 * VM-heavy files each boot their own VMs, and the machine has 2 cores, so at most 2 workers.
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  maxWorkers: 2,
  testTimeout: 30000,
  globalSetup: '<rootDir>/test/helpers/global-setup.ts',
  globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
};
