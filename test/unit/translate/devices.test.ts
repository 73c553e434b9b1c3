/**
 * `--device` and `--device-cgroup-rule` at create (src/api/v1.41/docker/devices.ts): the guest
 * kernel's own devices are given, the host's hardware is refused by name (400), and the
 * container's security settings carry what the agent needs.
 */
import { parseCreateBody } from '../../../src/api/v1.41/docker/create-body';
import { parseDeviceCgroupRules, parseDevices } from '../../../src/api/v1.41/docker/devices';
import { InvalidArgumentError } from '../../../src/errors';

const create = (HostConfig: Record<string, unknown>) => () => parseCreateBody({ Image: 'i', HostConfig }, 2);
const dev = (PathOnHost: string, PathInContainer = PathOnHost, CgroupPermissions = 'rwm') => ({
  PathOnHost,
  PathInContainer,
  CgroupPermissions,
});

test('/dev/fuse and /dev/net/tun are given with their numbers, at the path and with the permissions asked', () => {
  expect(parseDevices([dev('/dev/fuse'), dev('/dev/net/tun', '/dev/net/tun', 'rw')])).toEqual([
    { path: '/dev/fuse', type: 'c', major: 10, minor: 229, mode: 0o666, access: 'rwm' },
    { path: '/dev/net/tun', type: 'c', major: 10, minor: 200, mode: 0o666, access: 'rw' },
  ]);
  expect(parseDevices([{ PathOnHost: '/dev/fuse', PathInContainer: '', CgroupPermissions: '' }])).toEqual([
    { path: '/dev/fuse', type: 'c', major: 10, minor: 229, mode: 0o666, access: 'rwm' },
  ]);
  expect(parseDevices([dev('/dev/fuse', '/dev/sub/myfuse')])[0].path).toBe('/dev/sub/myfuse');
  expect(parseDevices(null)).toEqual([]);
  expect(create({ Devices: [dev('/dev/fuse')] })).not.toThrow();
});

test("the host's hardware is refused by name (400): the VM has none of it", () => {
  for (const host of ['/dev/sda', '/dev/kvm', '/dev/nvidia0', '/dev/ttyS0', '/dev/vda']) {
    expect(create({ Devices: [dev(host)] })).toThrow(InvalidArgumentError);
    expect(create({ Devices: [dev(host)] })).toThrow(
      `--device ${host} is not supported: every container runs in its own VM, with its own kernel: the host's devices are not in it`,
    );
  }
});

test('a node outside /dev, and permissions beyond rwm, are refused', () => {
  expect(create({ Devices: [dev('/dev/fuse', '/tmp/fuse')] })).toThrow(
    '--device /dev/fuse:/tmp/fuse is not supported: a device node is made only under /dev',
  );
  expect(create({ Devices: [dev('/dev/fuse', '/dev/../etc/x')] })).toThrow(InvalidArgumentError);
  expect(create({ Devices: [dev('/dev/fuse', '/dev/fuse', 'rwx')] })).toThrow('invalid device mode: rwx');
});

test('--device-cgroup-rule is parsed as dockerd parses it', () => {
  expect(parseDeviceCgroupRules(['c 1:11 rw', 'b *:* m', 'a 10:* rwm'])).toEqual([
    { type: 'c', major: 1, minor: 11, access: 'rw' },
    { type: 'b', access: 'm' },
    { type: 'a', major: 10, access: 'rwm' },
  ]);
  for (const bad of ['c 1:3 rmx', 'x 1:3 r', 'c 1 r', 'c 1:3', 'c 99999:1 r'])
    expect(create({ DeviceCgroupRules: [bad] })).toThrow(`invalid device cgroup format '${bad}'`);
  expect(create({ DeviceCgroupRules: ['c 1:3 rwm'] })).not.toThrow();
});
