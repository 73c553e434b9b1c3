/** The create fields podvisor refuses by name (src/api/v1.41/docker/unhonoured.ts), and the values that pass. */
import { parseCreateBody } from '../../../src/api/v1.41/docker/create-body';
import { InvalidArgumentError } from '../../../src/errors';

const create = (HostConfig: Record<string, unknown>) => () => parseCreateBody({ Image: 'i', HostConfig }, 2);

test.each([
  [{ PidMode: 'host' }, '--pid host is not supported: '],
  [{ IpcMode: 'host' }, '--ipc host is not supported: '],
  [{ UTSMode: 'host' }, '--uts host is not supported: '],
  [{ IpcMode: 'none' }, '--ipc none is not supported: '],
  [
    { Devices: [{ PathOnHost: '/dev/sda', PathInContainer: '/dev/x', CgroupPermissions: 'rwm' }] },
    '--device /dev/sda is ',
  ],
  [{ DeviceRequests: [{ Count: -1, Capabilities: [['gpu']] }] }, '--gpus is not supported: '],
  [{ CgroupnsMode: 'host' }, '--cgroupns host is not supported: '],
  [{ Cgroup: 'container:other' }, 'HostConfig.Cgroup is not supported: '],
  [{ BlkioWeight: 300 }, '--blkio-weight is not supported: '],
  [{ BlkioWeightDevice: [{ Path: '/dev/sda', Weight: 300 }] }, '--blkio-weight-device is not supported: '],
  [{ CpuRealtimePeriod: 1000 }, '--cpu-rt-period is not supported: '],
  [{ CpuRealtimeRuntime: 1000 }, '--cpu-rt-runtime is not supported: '],
  [{ KernelMemory: 8 << 20 }, '--kernel-memory is not supported: '],
  [{ KernelMemoryTCP: 8 << 20 }, 'HostConfig.KernelMemoryTCP is not supported: '],
  [{ OomKillDisable: true }, '--oom-kill-disable is not supported: '],
])('%j is refused by name (400)', (hc, message) => {
  expect(create(hc)).toThrow(InvalidArgumentError);
  expect(create(hc)).toThrow(message);
});

test('values that ask for nothing pass', () => {
  for (const hc of [
    { PidMode: '', IpcMode: 'private', UTSMode: '' },
    { IpcMode: 'shareable' },
    { PidsLimit: 0 },
    { PidsLimit: -1 },
    { PidsLimit: null },
    { OomScoreAdj: 0 },
    { PidsLimit: 20 },
    { BlkioDeviceReadBps: [{ Path: '/dev/sda', Rate: 1 }], BlkioDeviceWriteIOps: [{ Path: '/dev/sda', Rate: 1 }] },
    { OomScoreAdj: -1000 },
    { OomScoreAdj: 1000 },
    { Devices: [], DeviceCgroupRules: [], DeviceRequests: null, CgroupParent: '' },
    { BlkioWeight: 0, BlkioWeightDevice: [], BlkioDeviceReadBps: null, CpuRealtimePeriod: 0 },
    { KernelMemory: 0, KernelMemoryTCP: 0, OomKillDisable: false },
    { CgroupnsMode: 'private', Cgroup: '' },
    { CgroupnsMode: '' },
  ]) {
    expect(create(hc)).not.toThrow();
  }
});

test("an isolation other than default is dockerd's 400 on Linux", () => {
  expect(create({ Isolation: 'hyperv' })).toThrow(`Invalid isolation: "hyperv" - linux only supports 'default'`);
  expect(create({ Isolation: 'default' })).not.toThrow();
  expect(create({ Isolation: '' })).not.toThrow();
});

test("an OOM score adjustment out of -1000..1000 is dockerd's 400", () => {
  expect(create({ OomScoreAdj: 1001 })).toThrow(InvalidArgumentError);
  expect(create({ OomScoreAdj: 1001 })).toThrow('Invalid value 1001, range for oom score adj is [-1000, 1000]');
  expect(create({ OomScoreAdj: -1001 })).toThrow('Invalid value -1001, range for oom score adj is [-1000, 1000]');
});
