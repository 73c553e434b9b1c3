/** HostConfig.Binds / Mounts / Tmpfs parsing (src/api/v1.41/docker/mounts.ts) against dockerd's rules and messages. */
import { parseMounts, mountPoints } from '../../../src/api/v1.41/docker/mounts';
import { withShmSize } from '../../../src/translate/request/policy/shm';
import { PlainError } from '../../../src/errors';

const hc = (o: Record<string, unknown>) =>
  ({ Binds: null, Mounts: undefined, Tmpfs: undefined, VolumesFrom: null, ...o }) as Parameters<typeof parseMounts>[0];

test('binds: source, target, ro, SELinux and propagation modes accepted; -v creates its source', () => {
  expect(parseMounts(hc({ Binds: ['/a:/b', '/c/:/d/:ro,z', '/e:/f:rshared'] }))).toEqual([
    { type: 'bind', source: '/a', target: '/b', readOnly: false, createSource: true },
    { type: 'bind', source: '/c/', target: '/d', readOnly: true, createSource: true },
    { type: 'bind', source: '/e', target: '/f', readOnly: false, createSource: true },
  ]);
});

test("binds: dockerd's messages for bad specs, as its plain errors (500)", () => {
  expect(() => parseMounts(hc({ Binds: ['/a:rel'] }))).toThrow(
    "invalid volume specification: '/a:rel': invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute",
  );
  expect(() => parseMounts(hc({ Binds: ['/a:/b:bogus'] }))).toThrow('invalid mode: bogus');
  expect(() => parseMounts(hc({ Binds: ['/a:/b:ro,rw'] }))).toThrow(PlainError);
  expect(() => parseMounts(hc({ Binds: ['a:b:c:d'] }))).toThrow(PlainError);
  expect(() => parseMounts(hc({ Binds: ['/a:/b:c:d'] }))).toThrow("invalid volume specification: '/a:/b:c:d'");
  expect(() => parseMounts(hc({ Binds: ['/a:/b:nocopy'] }))).toThrow('invalid mode: nocopy');
});

test('volumes: -v name:/p[:mode], -v /p (anonymous), --mount type=volume with options; names resolved later', () => {
  expect(parseMounts(hc({ Binds: ['data:/d', 'cache:/c:ro,nocopy', '/anon'] }))).toEqual([
    { type: 'volume', name: 'data', source: '', target: '/d', readOnly: false, anonymous: false },
    { type: 'volume', name: 'cache', source: '', target: '/c', readOnly: true, anonymous: false, noCopy: true },
    { type: 'volume', name: '', source: '', target: '/anon', readOnly: false, anonymous: true },
  ]);
  expect(
    parseMounts(
      hc({
        Mounts: [
          { Type: 'volume', Source: 'v', Target: '/m', VolumeOptions: { NoCopy: true, Labels: { a: 'b' } } },
          { Type: 'volume', Target: '/n', ReadOnly: true },
        ],
      }),
    ),
  ).toEqual([
    {
      type: 'volume',
      name: 'v',
      source: '',
      target: '/m',
      readOnly: false,
      anonymous: false,
      noCopy: true,
      labels: { a: 'b' },
    },
    { type: 'volume', name: '', source: '', target: '/n', readOnly: true, anonymous: true },
  ]);
  expect(() => parseMounts(hc({ Binds: ['data:rel'] }))).toThrow(
    "invalid volume specification: 'data:rel': invalid mount config for type \"volume\": invalid mount path: 'rel' mount path must be absolute",
  );
  // Driver options are carried to where the volume is made, and checked there (src/storage/volumes.ts).
  expect(
    parseMounts(
      hc({
        Mounts: [
          {
            Type: 'volume',
            Target: '/m',
            VolumeOptions: { DriverConfig: { Name: 'local', Options: { type: 'tmpfs' } } },
          },
        ],
      }),
    )[0],
  ).toMatchObject({ type: 'volume', driver: 'local', options: { type: 'tmpfs' } });
});

test("tmpfs from Tmpfs and Mounts: options, Docker's default flags, sizes in KiB, octal modes", () => {
  const m = parseMounts(
    hc({
      Tmpfs: { '/x': '', '/y': 'size=1m,mode=700,exec' },
      Mounts: [{ Type: 'tmpfs', Target: '/z', ReadOnly: true, TmpfsOptions: { SizeBytes: 2000000, Mode: 0o750 } }],
    }),
  );
  expect(m).toEqual([
    {
      type: 'tmpfs',
      target: '/z',
      options: 'size=1954k,mode=750',
      readOnly: true,
      noexec: true,
      nosuid: true,
      nodev: true,
    },
    { type: 'tmpfs', target: '/x', readOnly: false, noexec: true, nosuid: true, nodev: true },
    {
      type: 'tmpfs',
      target: '/y',
      options: 'size=1m,mode=700',
      readOnly: false,
      noexec: false,
      nosuid: true,
      nodev: true,
    },
  ]);
  expect(() => parseMounts(hc({ Tmpfs: { '/x': 'uid=0;rm' } }))).toThrow('unsupported tmpfs option: uid=0;rm');
  expect(() => parseMounts(hc({ Mounts: [{ Type: 'tmpfs', Source: '/a', Target: '/x' }] }))).toThrow(
    'invalid mount config for type "tmpfs": field Source must not be specified',
  );
});

test('Mounts entries: missing fields, unknown types, duplicates, parents mounted first', () => {
  expect(() => parseMounts(hc({ Mounts: [{ Type: 'bind', Target: '/x' }] }))).toThrow(
    'invalid mount config for type "bind": field Source must not be empty',
  );
  expect(() => parseMounts(hc({ Mounts: [{ Type: 'bind', Source: '/a' }] }))).toThrow(
    'invalid mount config for type "bind": field Target must not be empty',
  );
  expect(() => parseMounts(hc({ Mounts: [{ Type: 'npipe', Source: '/a', Target: '/x' }] }))).toThrow(
    'mount type unknown',
  );
  expect(() => parseMounts(hc({ Binds: ['/a:/x'], Tmpfs: { '/x/': '' } }))).toThrow('Duplicate mount point: /x');
  const m = parseMounts(hc({ Binds: ['/a:/x/y/z'], Mounts: [{ Type: 'bind', Source: '/b', Target: '/x' }] }));
  expect(m.map((x) => [x.target, x.type === 'bind' && x.createSource])).toEqual([
    ['/x', false],
    ['/x/y/z', true],
  ]);
});

test("inspect Mounts: binds, volumes and Mounts entries (not --tmpfs) in dockerd's shape, by destination", () => {
  const h = {
    Binds: ['/h:/b:ro', 'data:/d'],
    Mounts: [
      { Type: 'tmpfs', Target: '/a' },
      { Type: 'volume', Target: '/m' },
    ],
  };
  const mounts = parseMounts(h).map((m) =>
    m.type === 'volume' ? { ...m, name: m.name || 'abc', source: `/vol/${m.name || 'abc'}/_data` } : m,
  );
  mounts.push({
    type: 'volume',
    name: 'img',
    source: '/vol/img/_data',
    target: '/i',
    readOnly: false,
    anonymous: true,
  });
  mounts.push({ type: 'tmpfs', target: '/t', readOnly: false, noexec: true, nosuid: true, nodev: true });
  expect(mountPoints(h, mounts)).toEqual([
    { Type: 'tmpfs', Source: '', Destination: '/a', Mode: '', RW: true, Propagation: '' },
    { Type: 'bind', Source: '/h', Destination: '/b', Mode: 'ro', RW: false, Propagation: 'rprivate' },
    {
      Type: 'volume',
      Name: 'data',
      Source: '/vol/data/_data',
      Destination: '/d',
      Driver: 'local',
      Mode: 'z',
      RW: true,
      Propagation: '',
    },
    {
      Type: 'volume',
      Name: 'img',
      Source: '/vol/img/_data',
      Destination: '/i',
      Driver: 'local',
      Mode: '',
      RW: true,
      Propagation: '',
    },
    {
      Type: 'volume',
      Name: 'abc',
      Source: '/vol/abc/_data',
      Destination: '/m',
      Driver: 'local',
      Mode: 'z',
      RW: true,
      Propagation: '',
    },
  ]);
});

test("a --mount bind keeps ':' in its source and target, where -v would split them", () => {
  expect(parseMounts(hc({ Mounts: [{ Type: 'bind', Source: '/tmp/x/a:b', Target: '/m:n', ReadOnly: true }] }))).toEqual(
    [{ type: 'bind', source: '/tmp/x/a:b', target: '/m:n', readOnly: true, createSource: false }],
  );
  expect(() => parseMounts(hc({ Binds: ['/tmp/x/a:b:/m'] }))).toThrow('invalid mode: /m');
});

test("inspect Mounts: a bind's Propagation is the -v mode's or BindOptions', rprivate by default", () => {
  const h = {
    Binds: ['/h:/v:ro,rslave', '/h:/w'],
    Mounts: [
      { Type: 'bind', Source: '/h', Target: '/m/', BindOptions: { Propagation: 'rshared' } },
      { Type: 'bind', Source: '/h', Target: '/n' },
    ],
  };
  expect(mountPoints(h, parseMounts(h)).map((m) => [m.Destination, m.Propagation])).toEqual([
    ['/m', 'rshared'],
    ['/n', 'rprivate'],
    ['/v', 'rslave'],
    ['/w', 'rprivate'],
  ]);
});

test('ShmSize other than the guest default mounts a /dev/shm of that size (mode 1777, nosuid, nodev, noexec); a user mount there wins', () => {
  expect(withShmSize([], 64 * 1024 * 1024)).toEqual([]);
  const big = withShmSize(parseMounts({ Binds: [], Mounts: [], Tmpfs: { '/dev/shm/sub': '' } }), 256 * 1024 * 1024);
  expect(big.map((m) => m.target)).toEqual(['/dev/shm', '/dev/shm/sub']);
  expect(big[0]).toEqual({
    type: 'tmpfs',
    target: '/dev/shm',
    options: `mode=1777,size=${256 * 1024 * 1024}`,
    readOnly: false,
    noexec: true,
    nosuid: true,
    nodev: true,
  });
  const own = parseMounts({ Binds: [], Mounts: [], Tmpfs: { '/dev/shm': 'size=1m' } });
  expect(withShmSize(own, 256 * 1024 * 1024)).toEqual(own);
});

test("--volume-driver: the volumes of -v get it, --mount's own driver or none stays, binds have none", () => {
  const out = parseMounts(
    hc({
      VolumeDriver: 'other',
      Binds: ['named:/a', '/anon', '/host:/h'],
      Mounts: [
        { Type: 'volume', Source: 'm', Target: '/m' },
        { Type: 'volume', Source: 'n', Target: '/n', VolumeOptions: { DriverConfig: { Name: 'mine' } } },
      ],
    }),
  );
  const drivers = Object.fromEntries(out.map((m) => [m.target, m.type === 'volume' ? (m.driver ?? '-') : m.type]));
  expect(drivers).toEqual({ '/a': 'other', '/anon': 'other', '/h': 'bind', '/m': '-', '/n': 'mine' });
});
