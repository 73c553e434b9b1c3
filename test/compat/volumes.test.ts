/**
 * Named and anonymous volumes through the stock docker CLI against the real daemon (real QEMU
 * VMs): `docker volume create/ls/inspect/rm/prune` with labels and filters, `-v name:/p` and
 * `--mount type=volume`, a new volume filled from the image (copy-up), data kept across
 * containers, the image's VOLUME as an anonymous volume, `--volumes-from`, `rm -v` and `--rm`
 * taking anonymous volumes along, 409 for a volume in use, inspect's Mounts, volume events
 * (create, mount, unmount, destroy, as dockerd sends them),
 * and volumes kept across a daemon SIGKILL.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(240000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox`;
const CONFIGURED = `${REG}/configured`;

let d: TestDaemon;

function docker(args: string[]): { out: string; err: string; code: number } {
  const r = spawnSync('docker', args, { env: d.env, encoding: 'utf8', timeout: 120000 });
  return { out: (r.stdout ?? '').trim(), err: (r.stderr ?? '').trim(), code: r.status ?? -1 };
}

function ok(args: string[]): string {
  const r = docker(args);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: ${r.err}`);
  return r.out;
}

const volumes = () => ok(['volume', 'ls', '-q']).split('\n').filter(Boolean).sort();

beforeAll(async () => {
  d = await startDaemon();
  ok(['pull', '-q', IMAGE]);
  ok(['pull', '-q', CONFIGURED]);
});

afterAll(async () => {
  // A failed test may leave containers behind: they go before the leak check.
  const left = docker(['ps', '-aq']).out.split('\n').filter(Boolean);
  if (left.length) docker(['rm', '-fv', ...left]);
  await stopDaemonLeavingNothing(d);
});

test("docker volume create/ls/inspect/rm/prune: dockerd's JSON, labels, filters and errors", () => {
  const since = Math.floor(Date.now() / 1000);
  expect(ok(['volume', 'create', '--label', 'team=a', 'va'])).toBe('va');
  expect(ok(['volume', 'create', 'vb'])).toBe('vb');
  // Creating an existing name answers the existing volume, labels unchanged.
  expect(ok(['volume', 'create', '--label', 'other=1', 'va'])).toBe('va');
  const [va] = JSON.parse(ok(['volume', 'inspect', 'va']));
  expect(va).toEqual({
    CreatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
    Driver: 'local',
    Labels: { team: 'a' },
    Mountpoint: `${d.dataRoot}/volumes/va/_data`,
    Name: 'va',
    Options: null,
    Scope: 'local',
  });
  expect(JSON.parse(ok(['volume', 'inspect', 'vb']))[0].Labels).toBeNull();
  expect(fs.statSync(va.Mountpoint).isDirectory()).toBe(true);
  expect(ok(['volume', 'ls', '-q', '--filter', 'label=team=a'])).toBe('va');
  expect(ok(['volume', 'ls', '-q', '--filter', 'name=b'])).toBe('vb');
  expect(ok(['volume', 'ls', '-q', '--filter', 'dangling=true']).split('\n').sort()).toEqual(['va', 'vb']);
  const anon = ok(['volume', 'create']);
  expect(anon).toMatch(/^[0-9a-f]{64}$/);

  const cases: Array<[string[], string]> = [
    [
      ['volume', 'create', 'bad name'],
      'create bad name: "bad name" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path',
    ],
    [
      ['volume', 'create', 'x'],
      'create x: volume name is too short, names should be at least two alphanumeric characters',
    ],
    [
      ['volume', 'create', '-d', 'nope', 'vx'],
      'create vx: error looking up volume plugin nope: plugin "nope" not found',
    ],
    [['volume', 'create', '-o', 'foo=bar', 'vx'], 'create vx: invalid option: "foo"'],
    [['volume', 'inspect', 'nosuch'], 'get nosuch: no such volume'],
    [['volume', 'rm', 'nosuch'], 'remove nosuch: no such volume'],
    [['volume', 'ls', '--filter', 'dangling=maybe'], "Invalid filter 'dangling=[maybe]'"],
    [['volume', 'ls', '--filter', 'foo=x'], "Invalid filter 'foo'"],
  ];
  for (const [args, msg] of cases) {
    const r = docker(args);
    expect([args, r.code]).not.toEqual([args, 0]);
    expect(r.err).toContain(msg);
  }
  expect(docker(['volume', 'rm', '-f', 'nosuch']).code).toBe(0);

  // prune takes label filters; it removes unused volumes only.
  expect(
    JSON.parse(
      ok([
        'system',
        'events',
        '--since',
        String(since),
        '--until',
        String(Math.floor(Date.now() / 1000) + 1),
        '--filter',
        'type=volume',
        '--format',
        '{{json .}}',
      ]).split('\n')[0],
    ),
  ).toMatchObject({
    Type: 'volume',
    Action: 'create',
    Actor: { ID: 'va', Attributes: { driver: 'local' } },
  });
  // From API 1.42 (the CLI negotiates 1.45) prune takes anonymous volumes only unless -a, as
  // dockerd 26: va is named, so it stays until -a.
  expect(ok(['volume', 'prune', '-f', '--filter', 'label=team=a'])).not.toContain('va');
  expect(volumes()).toEqual([anon, 'va', 'vb'].sort());
  expect(ok(['volume', 'prune', '-a', '-f', '--filter', 'label=team=a'])).toContain('va');
  expect(volumes()).toEqual([anon, 'vb'].sort());
  ok(['volume', 'rm', 'vb', anon]);
  expect(volumes()).toEqual([]);
  expect(fs.existsSync(va.Mountpoint)).toBe(false);
});

test('named volumes: filled from the image, data kept across containers, 409 while in use, inspect Mounts', () => {
  // A new volume over /etc gets the image's /etc (copy-up); nocopy leaves it empty.
  ok(['run', '--rm', '-v', 'etcvol:/etc', IMAGE, 'sh', '-c', 'echo written > /etc/mine']);
  const mp = JSON.parse(ok(['volume', 'inspect', 'etcvol']))[0].Mountpoint as string;
  expect(fs.readFileSync(`${mp}/passwd`, 'utf8')).toContain('root:x:0:0:');
  expect(fs.readFileSync(`${mp}/mine`, 'utf8')).toBe('written\n');
  // The next container sees the data (and no second copy-up over it).
  expect(ok(['run', '--rm', '--mount', 'type=volume,source=etcvol,target=/etc', IMAGE, 'cat', '/etc/mine'])).toBe(
    'written',
  );
  expect(ok(['run', '--rm', '-v', 'empty:/etc:nocopy', IMAGE, 'ls', '-A', '/etc'])).toBe('');

  ok([
    'create',
    '--name',
    'user1',
    '-v',
    'etcvol:/data:ro',
    '--mount',
    'type=volume,source=mv,target=/m,volume-label=k=v',
    IMAGE,
    'true',
  ]);
  const [j] = JSON.parse(ok(['inspect', 'user1']));
  expect(j.HostConfig.Binds).toEqual(['etcvol:/data:ro']);
  expect(j.HostConfig.Mounts).toEqual([
    { Type: 'volume', Source: 'mv', Target: '/m', VolumeOptions: { Labels: { k: 'v' }, DriverConfig: {} } },
  ]);
  expect(j.Mounts).toEqual([
    {
      Type: 'volume',
      Name: 'etcvol',
      Source: mp,
      Destination: '/data',
      Driver: 'local',
      Mode: 'ro',
      RW: false,
      Propagation: '',
    },
    {
      Type: 'volume',
      Name: 'mv',
      Source: `${d.dataRoot}/volumes/mv/_data`,
      Destination: '/m',
      Driver: 'local',
      Mode: 'z',
      RW: true,
      Propagation: '',
    },
  ]);
  expect(JSON.parse(ok(['volume', 'inspect', 'mv']))[0].Labels).toEqual({ k: 'v' });
  expect(ok(['ps', '-aq', '--no-trunc', '--filter', 'volume=mv'])).toBe(j.Id);
  expect(ok(['ps', '-aq', '--no-trunc', '--filter', 'volume=/data'])).toBe(j.Id);
  expect(ok(['ps', '-aq', '--filter', 'volume=other'])).toBe('');
  // In use by a created container: 409 with dockerd's message, and the data stays.
  const r = docker(['volume', 'rm', 'etcvol']);
  expect(r.code).not.toBe(0);
  expect(r.err).toContain(`remove etcvol: volume is in use - [${j.Id}]`);
  expect(ok(['volume', 'ls', '-q', '--filter', 'dangling=true']).split('\n').sort()).toEqual(['empty']);
  ok(['volume', 'prune', '-a', '-f']);
  expect(volumes()).toEqual(['etcvol', 'mv']);
  // ro is enforced in the guest.
  ok(['start', '-a', 'user1']);
  const w = docker(['run', '--rm', '-v', 'etcvol:/data:ro', IMAGE, 'sh', '-c', 'echo x > /data/mine']);
  expect(w.err).toContain('Read-only file system');
  ok(['rm', 'user1']);
  ok(['volume', 'rm', 'etcvol', 'mv']);
  expect(volumes()).toEqual([]);
});

test("anonymous volumes: the image's VOLUME, -v /path, --volumes-from; gone with rm -v and --rm", () => {
  // With --storage-opt volumes=share its anonymous volumes are host directories, shared with
  // --volumes-from while it runs, as dockerd's are (a default container keeps them on its own
  // disk: test/compat/disk-volumes.test.ts).
  ok([
    'run',
    '-d',
    '--name',
    'anon1',
    '--storage-opt',
    'volumes=share',
    '-v',
    '/scratch',
    CONFIGURED,
    'echo hi > /data/f; sleep 600',
  ]);
  const [j] = JSON.parse(ok(['inspect', 'anon1']));
  expect(j.Config.Volumes).toEqual({ '/data': {}, '/scratch': {} });
  const mounts = j.Mounts as Array<Record<string, unknown>>;
  expect(mounts.map((m) => [m.Type, m.Destination, m.Mode, m.RW, m.Driver])).toEqual([
    ['volume', '/data', '', true, 'local'],
    ['volume', '/scratch', '', true, 'local'],
  ]);
  const names = mounts.map((m) => m.Name as string);
  for (const n of names) expect(n).toMatch(/^[0-9a-f]{64}$/);
  expect(volumes()).toEqual([...names].sort());
  // The image's /data (owned by 1000) was copied up with its owner; the container (user 1000) wrote into it.
  const dataDir = mounts[0].Source as string;
  expect(fs.statSync(dataDir).uid).toBe(1000);
  // The container writes it once its shell runs: seconds under TCG on a loaded host.
  const written = () => fs.existsSync(`${dataDir}/f`) && fs.readFileSync(`${dataDir}/f`, 'utf8') === 'hi\n';
  for (let i = 0; i < 300 && !written(); i++) spawnSync('sleep', ['0.1']);
  expect(fs.readFileSync(`${dataDir}/f`, 'utf8')).toBe('hi\n');

  // --volumes-from: the same volumes, read-only here; rm -v of that container keeps them.
  expect(ok(['run', '--rm', '--volumes-from', 'anon1:ro', IMAGE, 'cat', '/data/f'])).toBe('hi');
  const w = docker(['run', '--rm', '--volumes-from', 'anon1:ro', IMAGE, 'touch', '/scratch/x']);
  expect(w.err).toContain('Read-only file system');
  expect(volumes()).toEqual([...names].sort());

  // rm without -v keeps them; with -v they go.
  ok(['rm', '-f', 'anon1']);
  expect(volumes()).toEqual([...names].sort());
  ok(['volume', 'rm', ...names]);
  ok(['run', '-d', '--name', 'anon2', CONFIGURED, 'sleep 600']);
  expect(volumes().length).toBe(1);
  ok(['rm', '-fv', 'anon2']);
  expect(volumes()).toEqual([]);
  // --rm takes its anonymous volumes along, and leaves named ones.
  ok(['run', '--rm', '-v', 'keepme:/k', '-v', '/gone', IMAGE, 'true']);
  for (let i = 0; i < 50 && volumes().length > 1; i++) spawnSync('sleep', ['0.1']);
  expect(volumes()).toEqual(['keepme']);
  ok(['volume', 'rm', 'keepme']);
});

test('volume events as dockerd sends them: create (also of an existing volume), mount before start, unmount after die, destroy', () => {
  const since = Math.floor(Date.now() / 1000);
  ok(['volume', 'create', 'evvol']);
  const id = ok([
    'run',
    '-d',
    '--name',
    'ev1',
    '-v',
    'evvol:/data:ro',
    '-v',
    '/anon',
    '-v',
    '/tmp:/hosttmp',
    '--tmpfs',
    '/t',
    IMAGE,
    'sleep',
    '600',
  ]);
  const anon = (JSON.parse(ok(['inspect', 'ev1']))[0].Mounts as Array<{ Name?: string; Destination: string }>).find(
    (m) => m.Destination === '/anon',
  )!.Name!;
  ok(['stop', '-t', '1', 'ev1']);
  ok(['start', 'ev1']);
  ok(['stop', '-t', '1', 'ev1']);
  ok(['rm', '-v', 'ev1']);
  ok(['volume', 'rm', 'evvol']);
  const until = String(Math.floor(Date.now() / 1000) + 1);
  type Ev = { Type: string; Action: string; Actor: { ID: string; Attributes: Record<string, string> } };
  const events = (...filters: string[]) =>
    ok([
      'events',
      '--since',
      String(since),
      '--until',
      until,
      ...filters.flatMap((f) => ['--filter', f]),
      '--format',
      '{{json .}}',
    ])
      .split('\n')
      .map((l) => JSON.parse(l) as Ev);
  // The window may hold the end of the test before (same second): only this test's volumes.
  const volumeEvents = events('type=volume').filter((e) => e.Actor.ID === 'evvol' || e.Actor.ID === anon);
  const mountOf = (name: string, destination: string, rw: boolean) => ({
    Action: 'mount',
    Actor: {
      ID: name,
      Attributes: { container: id, destination, driver: 'local', propagation: '', 'read/write': String(rw) },
    },
  });
  const unmountOf = (name: string) => ({
    Action: 'unmount',
    Actor: { ID: name, Attributes: { container: id, driver: 'local' } },
  });
  const run = [mountOf('evvol', '/data', false), mountOf(anon, '/anon', true)];
  const stop = [unmountOf('evvol'), unmountOf(anon)];
  const byName = (a: { Actor: { ID: string } }, b: { Actor: { ID: string } }) => a.Actor.ID.localeCompare(b.Actor.ID);
  const got = volumeEvents.map((e) => ({
    Action: e.Action,
    Actor: { ID: e.Actor.ID, Attributes: e.Actor.Attributes },
  }));
  const create = (name: string) => ({ Action: 'create', Actor: { ID: name, Attributes: { driver: 'local' } } });
  const destroy = (name: string) => ({ Action: 'destroy', Actor: { ID: name, Attributes: { driver: 'local' } } });
  // Within one start or stop, the volumes' order is not dockerd's concern either (it walks a map).
  expect([
    got.slice(0, 3),
    [...got.slice(3, 5)].sort(byName),
    [...got.slice(5, 7)].sort(byName),
    [...got.slice(7, 9)].sort(byName),
    [...got.slice(9, 11)].sort(byName),
    got.slice(11),
  ]).toEqual([
    [create('evvol'), create('evvol'), create(anon)],
    [...run].sort(byName),
    [...stop].sort(byName),
    [...run].sort(byName),
    [...stop].sort(byName),
    [destroy(anon), destroy('evvol')],
  ]);
  // The mount comes before the container's start, the unmount after its die.
  const all = events('type=volume', 'type=container')
    .filter(
      (e) =>
        (e.Type === 'container' && e.Actor.ID === id) || (e.Type === 'volume' && e.Actor.Attributes.container === id),
    )
    .map((e) => `${e.Type} ${e.Action}`);
  const firstStart = all.indexOf('container start');
  expect(all.slice(firstStart - 2, firstStart + 1)).toEqual(['volume mount', 'volume mount', 'container start']);
  const firstDie = all.findIndex((l) => l.startsWith('container die'));
  expect(all.slice(firstDie + 1, firstDie + 3)).toEqual(['volume unmount', 'volume unmount']);
});

test('volumes and their data survive a daemon SIGKILL', async () => {
  ok(['volume', 'create', '--label', 'x=y', 'durable']);
  ok(['run', '--rm', '-v', 'durable:/d', IMAGE, 'sh', '-c', 'echo kept > /d/f']);
  await d.kill9();
  await d.restart();
  expect(volumes()).toEqual(['durable']);
  expect(JSON.parse(ok(['volume', 'inspect', 'durable']))[0].Labels).toEqual({ x: 'y' });
  expect(ok(['run', '--rm', '-v', 'durable:/d', IMAGE, 'cat', '/d/f'])).toBe('kept');
  ok(['volume', 'rm', 'durable']);
});
