import { defaultVmMemoryMiB } from '../../../src/daemon/default-vm-memory';
import { defaultOptions } from '../../../src/daemon/options';
import * as os from 'node:os';

const GIB = 1024 * 1024 * 1024;

test.each([
  [24 * GIB, 2048],
  [4 * GIB, 2048],
  [3 * GIB, 1536],
  [1 * GIB, 512],
  [256 * 1024 * 1024, 256],
])('a host of %d bytes: containers without -m get VMs of %d MiB', (host, mib) => {
  expect(defaultVmMemoryMiB(host)).toBe(mib);
});

test("the daemon's default --vm-memory is this host's", () => {
  expect(defaultOptions().vmMemoryMiB).toBe(defaultVmMemoryMiB(os.totalmem()));
});
