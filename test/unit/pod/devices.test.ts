/**
 * A container's device cgroup, computed in one place (src/pod/security/devices.ts) from its settings:
 * runc's defaults, its `--device` nodes and `--device-cgroup-rule` rules, none for a
 * privileged container; and how CREATE_CONTAINER carries them (src/vm/agent/requests.ts).
 */
import { DEFAULT_DEVICE_RULES, deviceNodes, deviceRules } from '../../../src/pod/security/devices';
import { guestContainerSecurity } from '../../../src/pod/security/security';
import type { ContainerSecurity } from '../../../src/pod/types';
import { defaultSecurity } from '../../../src/translate/request/policy/default-security';
import { encodeContainer } from '../../../src/vm/agent/container-ops';
import { Tag } from '../../../src/vm/agent/protocol';
import { TlvReader } from '../../../src/vm/agent/tlv';
import { InvalidArgumentError } from '../../../src/errors';

const plain: ContainerSecurity = defaultSecurity(false);
const fuse = { path: '/dev/fuse', type: 'c' as const, major: 10, minor: 229, mode: 0o666, access: 'rwm' };

test("a default container gets runc's allow-list: mknod of anything, rwm of the harmless few", () => {
  expect(deviceRules(plain)).toEqual([
    { type: 'c', access: 'm' },
    { type: 'b', access: 'm' },
    { type: 'c', major: 1, minor: 3, access: 'rwm' },
    { type: 'c', major: 1, minor: 5, access: 'rwm' },
    { type: 'c', major: 1, minor: 7, access: 'rwm' },
    { type: 'c', major: 1, minor: 8, access: 'rwm' },
    { type: 'c', major: 1, minor: 9, access: 'rwm' },
    { type: 'c', major: 5, minor: 0, access: 'rwm' },
    { type: 'c', major: 5, minor: 2, access: 'rwm' },
    { type: 'c', major: 136, access: 'rwm' },
  ]);
  // Nothing the serial console (c 4:64), the VM's console (c 5:1: the kernel's console, where
  // the agent logs) or a disk (b 254:0) would match but mknod.
  const opens = (type: string, major: number, minor: number) =>
    deviceRules(plain)!.some(
      (r) =>
        (r.type === 'a' || r.type === type) &&
        (r.major === undefined || r.major === major) &&
        (r.minor === undefined || r.minor === minor) &&
        r.access.includes('r'),
    );
  expect(opens('c', 4, 64)).toBe(false);
  expect(opens('c', 5, 1)).toBe(false);
  expect(opens('b', 254, 0)).toBe(false);
  expect(opens('c', 1, 3)).toBe(true);
  expect(opens('c', 136, 7)).toBe(true);
  expect(deviceNodes(plain)).toEqual([]);
});

test('a privileged container gets no program (every device of its VM), and its --device nodes still', () => {
  const priv = { ...defaultSecurity(true), devices: [fuse] };
  expect(deviceRules(priv)).toBeUndefined();
  expect(deviceNodes(priv)).toEqual([{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, mode: 0o666 }]);
  const g = guestContainerSecurity(priv)!;
  expect(g.deviceRules).toBeUndefined();
  expect(g.deviceNodes).toHaveLength(1);
});

test('--device nodes and --device-cgroup-rule rules come after the defaults, with their permissions', () => {
  const sec: ContainerSecurity = {
    ...plain,
    devices: [{ ...fuse, path: '/dev/myfuse', access: 'rw' }],
    deviceCgroupRules: [{ type: 'c', major: 1, minor: 11, access: 'w' }],
  };
  expect(deviceRules(sec)).toEqual([
    ...DEFAULT_DEVICE_RULES,
    { type: 'c', major: 10, minor: 229, access: 'rw' },
    { type: 'c', major: 1, minor: 11, access: 'w' },
  ]);
  expect(deviceNodes(sec)).toEqual([{ path: '/dev/myfuse', type: 'c', major: 10, minor: 229, mode: 0o666 }]);
  // The defaults are not shared objects a caller could change.
  deviceRules(sec)![0].access = 'rwm';
  expect(DEFAULT_DEVICE_RULES[0].access).toBe('m');
});

test('a container recorded before security settings gets no program', () => {
  expect(deviceRules(undefined)).toBeUndefined();
  expect(guestContainerSecurity(undefined)).toBeUndefined();
});

test('CREATE_CONTAINER carries DEVICE_FILTER, one DEVICE_RULE per rule and one DEVICE_NODE per node', () => {
  const sec = guestContainerSecurity({ ...plain, devices: [fuse] })!;
  const r = TlvReader.parse(encodeContainer({ id: 'c1', rootfs: 'containers/c1/rootfs', security: sec }).toBuffer());
  expect(r.u32(Tag.DEVICE_FILTER)).toBe(1);
  const rules = r.records(Tag.DEVICE_RULE);
  expect(rules).toHaveLength(DEFAULT_DEVICE_RULES.length + 1);
  // `c *:* m`: no numbers (any), access bit 1.
  expect([rules[0].u32(Tag.DEVICE_TYPE), rules[0].u32(Tag.DEVICE_ACCESS), rules[0].has(Tag.DEVICE_MAJOR)]).toEqual([
    'c'.charCodeAt(0),
    1,
    false,
  ]);
  // pts: major 136, any minor, rwm = 7.
  const pts = rules[DEFAULT_DEVICE_RULES.length - 1];
  expect([pts.u32(Tag.DEVICE_MAJOR), pts.has(Tag.DEVICE_MINOR), pts.u32(Tag.DEVICE_ACCESS)]).toEqual([136, false, 7]);
  const [node] = r.records(Tag.DEVICE_NODE);
  expect([node.str(Tag.PATH), node.u32(Tag.DEVICE_MAJOR), node.u32(Tag.DEVICE_MINOR), node.u32(Tag.MODE)]).toEqual([
    '/dev/fuse',
    10,
    229,
    0o666,
  ]);

  const priv = guestContainerSecurity(defaultSecurity(true))!;
  const p = TlvReader.parse(encodeContainer({ id: 'c2', rootfs: 'containers/c2/rootfs', security: priv }).toBuffer());
  expect(p.has(Tag.DEVICE_FILTER)).toBe(false);
  expect(p.records(Tag.DEVICE_RULE)).toEqual([]);
});

test('the host refuses a node outside /dev or with a climbing path, and numbers out of range, before sending', () => {
  const enc = (deviceNodes: NonNullable<ReturnType<typeof guestContainerSecurity>>['deviceNodes']) => () =>
    encodeContainer({ id: 'c1', rootfs: 'r', security: { deviceNodes } });
  const node = { path: '/dev/fuse', type: 'c' as const, major: 10, minor: 229, mode: 0o666 };
  expect(enc([node])).not.toThrow();
  for (const path of ['/tmp/fuse', '/dev/', '/dev/../etc/x', '/dev//x', '/dev/a/./b', 'dev/fuse'])
    expect(enc([{ ...node, path }])).toThrow(InvalidArgumentError);
  expect(enc([{ ...node, major: 4096 }])).toThrow(InvalidArgumentError);
  expect(enc([{ ...node, mode: 0o4755 }])).toThrow(InvalidArgumentError);
  const rules = (access: string) => () =>
    encodeContainer({ id: 'c1', rootfs: 'r', security: { deviceRules: [{ type: 'c', access }] } });
  expect(rules('rwm')).not.toThrow();
  expect(rules('')).toThrow(InvalidArgumentError);
  expect(rules('x')).toThrow(InvalidArgumentError);
});
