/** HostConfig.Binds / Mounts / Tmpfs parsing (src/translate/mounts.ts) against dockerd's rules and messages. */
import { parseMounts, mountPoints } from '../../../src/translate/mounts';
import { InvalidArgumentError, NotImplementedError } from '../../../src/errors';

const hc = (o: Record<string, unknown>) => ({ Binds: null, Mounts: undefined, Tmpfs: undefined, VolumesFrom: null, ...o }) as Parameters<typeof parseMounts>[0];

test('binds: source, target, ro, SELinux and propagation modes accepted; -v creates its source', () => {
  expect(parseMounts(hc({ Binds: ['/a:/b', '/c/:/d/:ro,z', '/e:/f:rshared'] }))).toEqual([
    { type: 'bind', source: '/a', target: '/b', readOnly: false, createSource: true },
    { type: 'bind', source: '/c/', target: '/d', readOnly: true, createSource: true },
    { type: 'bind', source: '/e', target: '/f', readOnly: false, createSource: true },
  ]);
});

test('binds: dockerd\'s messages for bad specs; named volumes not yet', () => {
  expect(() => parseMounts(hc({ Binds: ['/a:rel'] }))).toThrow("invalid volume specification: '/a:rel': invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute");
  expect(() => parseMounts(hc({ Binds: ['/a:/b:bogus'] }))).toThrow('invalid mode: bogus');
  expect(() => parseMounts(hc({ Binds: ['/a:/b:ro,rw'] }))).toThrow(InvalidArgumentError);
  expect(() => parseMounts(hc({ Binds: ['/a:/b:c:d'] }))).toThrow("invalid volume specification: '/a:/b:c:d'");
  expect(() => parseMounts(hc({ Binds: ['name:/b'] }))).toThrow(NotImplementedError);
  expect(() => parseMounts(hc({ VolumesFrom: ['x'] }))).toThrow(NotImplementedError);
});

test('tmpfs from Tmpfs and Mounts: options, Docker\'s default flags, sizes in KiB, octal modes', () => {
  const m = parseMounts(hc({ Tmpfs: { '/x': '', '/y': 'size=1m,mode=700,exec' }, Mounts: [{ Type: 'tmpfs', Target: '/z', ReadOnly: true, TmpfsOptions: { SizeBytes: 2000000, Mode: 0o750 } }] }));
  expect(m).toEqual([
    { type: 'tmpfs', target: '/z', options: 'size=1954k,mode=750', readOnly: true, noexec: true, nosuid: true, nodev: true },
    { type: 'tmpfs', target: '/x', readOnly: false, noexec: true, nosuid: true, nodev: true },
    { type: 'tmpfs', target: '/y', options: 'size=1m,mode=700', readOnly: false, noexec: false, nosuid: true, nodev: true },
  ]);
  expect(() => parseMounts(hc({ Tmpfs: { '/x': 'uid=0;rm' } }))).toThrow('unsupported tmpfs option: uid=0;rm');
  expect(() => parseMounts(hc({ Mounts: [{ Type: 'tmpfs', Source: '/a', Target: '/x' }] }))).toThrow('invalid mount config for type "tmpfs": field Source must not be specified');
});

test('Mounts entries: missing fields, unknown types, duplicates, parents mounted first', () => {
  expect(() => parseMounts(hc({ Mounts: [{ Type: 'bind', Target: '/x' }] }))).toThrow('invalid mount config for type "bind": field Source must not be empty');
  expect(() => parseMounts(hc({ Mounts: [{ Type: 'bind', Source: '/a' }] }))).toThrow('invalid mount config for type "bind": field Target must not be empty');
  expect(() => parseMounts(hc({ Mounts: [{ Type: 'npipe', Source: '/a', Target: '/x' }] }))).toThrow('mount type unknown');
  expect(() => parseMounts(hc({ Binds: ['/a:/x'], Tmpfs: { '/x/': '' } }))).toThrow('Duplicate mount point: /x');
  const m = parseMounts(hc({ Binds: ['/a:/x/y/z'], Mounts: [{ Type: 'bind', Source: '/b', Target: '/x' }] }));
  expect(m.map((x) => [x.target, x.type === 'bind' && x.createSource])).toEqual([['/x', false], ['/x/y/z', true]]);
});

test('inspect Mounts: binds and Mounts entries (not --tmpfs) in dockerd\'s shape, by destination', () => {
  expect(mountPoints({ Binds: ['/h:/b:ro'], Mounts: [{ Type: 'tmpfs', Target: '/a' }] })).toEqual([
    { Type: 'tmpfs', Source: '', Destination: '/a', Mode: '', RW: true, Propagation: '' },
    { Type: 'bind', Source: '/h', Destination: '/b', Mode: 'ro', RW: false, Propagation: 'rprivate' },
  ]);
});
