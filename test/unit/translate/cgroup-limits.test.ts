/**
 * Docker's resource fields -> the limits of the container's cgroup in its VM
 * (src/api/v1.41/docker/resources.ts cgroupLimitsFor): CPU shares become cgroup v2's cpu.weight as runc
 * converts them, a memory reservation memory.low, cpusets cpuset.cpus/mems (and the VM holds
 * the CPUs they name); a CPU period alone, cpu.max without quota; nothing set gives no limits.
 * And the create-time answers dockerd gives for them on a cgroup v2 host.
 */
import { cgroupLimitsFor, diskThrottleFor, vmSizeFor } from '../../../src/api/v1.41/docker/resources';
import { cpuWeightOf } from '../../../src/translate/request/policy/cgroup-limits';
import { createWarnings, parseCreateBody } from '../../../src/api/v1.41/docker/create-body';
import { parseCpusetList } from '../../../src/util/cpuset';

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

test('a CPU period alone is cpu.max with no quota, as runc writes it ("max 50000")', () => {
  expect(cgroupLimitsFor({ ...none, CpuPeriod: 50000 })).toEqual({ cpuQuota: 0, cpuPeriod: 50000 });
  expect(cgroupLimitsFor({ ...none, CpuQuota: 25000 })).toEqual({ cpuQuota: 25000, cpuPeriod: 100000 });
});

test('cpusets become cpuset.cpus and cpuset.mems, and the VM has the CPUs they name', () => {
  expect(cgroupLimitsFor({ ...none, CpusetCpus: '1', CpusetMems: '0' })).toEqual({ cpusetCpus: '1', cpusetMems: '0' });
  const size = { memoryMiB: 256, cpus: 1 };
  const hc = { Memory: 0, NanoCpus: 0, CpuQuota: 0, CpuPeriod: 0, CpuCount: 0 };
  expect(vmSizeFor({ ...hc, CpusetCpus: '1' }, size, 4).cpus).toBe(2);
  expect(vmSizeFor({ ...hc, CpusetCpus: '0-2,3' }, size, 4).cpus).toBe(4);
  expect(vmSizeFor({ ...hc, CpusetCpus: '0', NanoCpus: 3e9 }, size, 4).cpus).toBe(3);
  expect(vmSizeFor({ ...hc, CpusetCpus: '' }, size, 4).cpus).toBe(1);
});

test.each([
  ['', []],
  ['0', [0]],
  ['0-2,4', [0, 1, 2, 4]],
  ['3,1-2,1', [1, 2, 3]],
  ['1-0', null],
  ['0-x', null],
  ['0,', null],
  [' 1', null],
])('cpuset list %j is %j', (list, numbers) => {
  expect(parseCpusetList(list)).toEqual(numbers);
});

describe("dockerd's cpuset checks at create (a 2-CPU host, a VM's one memory node)", () => {
  const create = (HostConfig: Record<string, unknown>) => () => parseCreateBody({ Image: 'i', HostConfig }, 2);
  test.each([
    [{ CpusetCpus: '0-x' }, 'Invalid value 0-x for cpuset cpus: invalid format: 0-x'],
    [{ CpusetCpus: '2' }, 'Requested CPUs are not available - requested 2, available: 0-1'],
    [{ CpusetMems: 'a' }, 'Invalid value a for cpuset mems: invalid format: a'],
    [{ CpusetMems: '0-1' }, 'Requested memory nodes are not available - requested 0-1, available: 0'],
    [{ CgroupnsMode: 'shared' }, 'invalid cgroup namespace mode: shared'],
  ])('%j: %s', (hc, message) => {
    expect(create(hc)).toThrow(message);
  });
  test('what the host and VM have passes', () => {
    expect(create({ CpusetCpus: '0-1', CpusetMems: '0' })).not.toThrow();
  });
});

test("memory swappiness is discarded with dockerd's cgroup v2 warning; the default cgroupns is private", () => {
  const body = { Image: 'i', HostConfig: { MemorySwappiness: 10 } };
  expect(createWarnings(body)).toEqual([
    'Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.',
  ]);
  expect(createWarnings({ Image: 'i', HostConfig: {} })).toEqual([]);
  const r = parseCreateBody(body, 2);
  expect(r.hostConfig.MemorySwappiness).toBeNull();
  expect(r.hostConfig.CgroupnsMode).toBe('private');
});

test('a PIDs limit becomes pids.max; 0 or below is none, and create shows it as null as dockerd does', () => {
  expect(cgroupLimitsFor({ ...none, PidsLimit: 8 })).toEqual({ pidsMax: 8 });
  expect(cgroupLimitsFor({ ...none, PidsLimit: 0 })).toBeUndefined();
  expect(cgroupLimitsFor({ ...none, PidsLimit: -1 })).toBeUndefined();
  expect(parseCreateBody({ Image: 'i', HostConfig: { PidsLimit: 8 } }, 2).hostConfig.PidsLimit).toBe(8);
  expect(parseCreateBody({ Image: 'i', HostConfig: { PidsLimit: -1 } }, 2).hostConfig.PidsLimit).toBeNull();
  expect(parseCreateBody({ Image: 'i', HostConfig: { PidsLimit: 0 } }, 2).hostConfig.PidsLimit).toBeNull();
});

test("the --device-* rates are the container's disk's: any path, the lowest rate of a kind", () => {
  expect(
    diskThrottleFor({
      BlkioDeviceReadBps: [{ Path: '/dev/sda', Rate: 2 << 20 }],
      BlkioDeviceWriteBps: [
        { Path: '/dev/vda', Rate: 1 << 20 },
        { Path: '/dev/sdb', Rate: 3 << 20 },
      ],
      BlkioDeviceWriteIOps: [{ Path: '/dev/vda', Rate: 100 }],
      BlkioDeviceReadIOps: null,
    }),
  ).toEqual({ readBps: 2 << 20, writeBps: 1 << 20, writeIops: 100 });
  expect(diskThrottleFor({})).toBeUndefined();
  expect(diskThrottleFor({ BlkioDeviceReadBps: [{ Path: '/dev/sda', Rate: 0 }] })).toBeUndefined();
});
