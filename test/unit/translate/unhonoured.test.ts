/** The create fields podvisor refuses by name (src/translate/unhonoured.ts), and the values that pass. */
import { parseCreateBody } from '../../../src/translate/create-body';
import { InvalidArgumentError } from '../../../src/errors';

const create = (HostConfig: Record<string, unknown>) => () => parseCreateBody({ Image: 'i', HostConfig }, 2);

test.each([
  [{ PidMode: 'host' }, '--pid host is not supported: '],
  [{ IpcMode: 'host' }, '--ipc host is not supported: '],
  [{ UTSMode: 'host' }, '--uts host is not supported: '],
  [{ IpcMode: 'none' }, '--ipc none is not supported: '],
  [{ PidsLimit: 20 }, '--pids-limit is not supported: '],
  [{ OomScoreAdj: -100 }, '--oom-score-adj is not supported: '],
  [{ Devices: [{ PathOnHost: '/dev/null', PathInContainer: '/dev/x', CgroupPermissions: 'rwm' }] }, '--device is '],
  [{ DeviceCgroupRules: ['c 1:3 rmw'] }, '--device-cgroup-rule is not supported: '],
  [{ DeviceRequests: [{ Count: -1, Capabilities: [['gpu']] }] }, '--gpus is not supported: '],
  [{ CgroupParent: 'x.slice' }, '--cgroup-parent is not supported: '],
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
    { Devices: [], DeviceCgroupRules: [], DeviceRequests: null, CgroupParent: '' },
  ]) {
    expect(create(hc)).not.toThrow();
  }
});
