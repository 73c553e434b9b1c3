/**
 * Docker's resource fields -> the limits of the container's cgroup in its VM
 * (src/translate/resources.ts cgroupLimitsFor): CPU shares become cgroup v2's cpu.weight as runc
 * converts them, a memory reservation memory.low; nothing set gives no limits.
 */
import { cgroupLimitsFor, cpuWeightOf } from '../../../src/translate/resources';

const none = { Memory: 0, NanoCpus: 0, CpuQuota: 0, CpuPeriod: 0, CpuShares: 0, MemoryReservation: 0 };

test.each([
  [2, 1],
  [512, 20],
  [1024, 39],
  [262144, 10000],
  [1, 1], // below the kernel's minimum: taken as 2
  [1_000_000, 10000], // above its maximum: taken as 262144
])('%d CPU shares are cpu.weight %d', (shares, weight) => {
  expect(cpuWeightOf(shares)).toBe(weight);
});

test('shares and a reservation become cpu.weight and memory.low, beside the other limits', () => {
  expect(cgroupLimitsFor({ ...none, CpuShares: 512, MemoryReservation: 64 << 20, Memory: 128 << 20 })).toEqual({
    memoryMax: 128 << 20,
    cpuWeight: 20,
    memoryLow: 64 << 20,
  });
});

test('nothing set: no limits at all', () => {
  expect(cgroupLimitsFor(none)).toBeUndefined();
});
