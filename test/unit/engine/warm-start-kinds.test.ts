/**
 * The kind of a container for warm starts (src/engine/warm-starts.ts keyOf): what a fork gives
 * each container anew (ID, name, hostname, labels, network, restart policy, --rm, log, its
 * anonymous volumes' names) is not in it; everything else of the pod spec is; and a container
 * whose start depends on the host has no kind. And who asks for warm starts (wanted).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WarmStarts } from '../../../src/engine/warm-starts';
import type { PodSpec } from '../../../src/pod/types';

const warm = (enabled = true) =>
  new WarmStarts({
    root: '/nonexistent/warm-starts',
    enabled,
    pods: {} as never,
    imageTagged: () => true,
  });

/** A pod spec as a Docker create makes it, with `change` applied. */
function spec(change: (s: PodSpec) => void = () => undefined): PodSpec {
  const s = {
    id: 'a'.repeat(64),
    hostname: 'aaaaaaaaaaaa',
    domainname: '',
    labels: { x: 'y' },
    vm: { memoryMiB: 2048, cpus: 1 },
    restartPolicy: { name: 'no', maximumRetryCount: 0 },
    autoRemove: false,
    log: { type: 'json-file', config: {} },
    network: { mode: 'bridge', ports: [{ container: 5432, proto: 'tcp', host: 0 }] },
    containers: [
      {
        id: 'a'.repeat(64),
        name: 'first',
        image: 'sha256:' + 'f'.repeat(64),
        imageRef: 'postgres:15',
        args: ['postgres'],
        env: ['PATH=/usr/bin', 'POSTGRES_PASSWORD=secret'],
        workingDir: '/',
        user: '',
        tty: false,
        openStdin: false,
        stdinOnce: false,
        stopSignal: 2,
        stopTimeout: 10,
        imageOnDisk: true,
        security: { capabilities: ['CHOWN'], privileged: false },
        mounts: [
          {
            type: 'volume',
            name: 'anon1',
            source: '/v/anon1',
            target: '/var/lib/postgresql/data',
            readOnly: false,
            anonymous: true,
          },
          { type: 'tmpfs', target: '/run', options: 'size=64m' },
        ],
      },
    ],
  } as unknown as PodSpec;
  change(s);
  return s;
}

const IMAGE = 'sha256:' + '1'.repeat(64);

test("a container's own ID, name, hostname, labels, ports, restart policy, --rm, log and volume names are not its kind", () => {
  const w = warm();
  const first = w.keyOf(spec(), IMAGE, ['/var/lib/postgresql/data']);
  expect(first).toMatch(/^[0-9a-f]{64}$/);
  const other = w.keyOf(
    spec((s) => {
      s.id = 'b'.repeat(64);
      s.hostname = 'bbbbbbbbbbbb';
      s.labels = { other: 'label' };
      s.restartPolicy = { name: 'always', maximumRetryCount: 0 };
      s.autoRemove = true;
      s.log = { type: 'none', config: {} } as never;
      (s as { network?: unknown }).network = { mode: 'custom', ports: [] };
      const c = s.containers[0];
      c.id = 'b'.repeat(64);
      c.name = 'second';
      c.imageRef = 'localhost/postgres:mine';
      (c.mounts![0] as { name: string; source: string }).name = 'anon2';
      (c.mounts![0] as { name: string; source: string }).source = '/v/anon2';
    }),
    IMAGE,
    ['/var/lib/postgresql/data'],
  );
  expect(other).toBe(first);
});

test('the image, the env, the command, the capabilities, the memory and the volumes are', () => {
  const w = warm();
  const first = w.keyOf(spec(), IMAGE, ['/data']);
  const kinds = [
    w.keyOf(spec(), 'sha256:' + '2'.repeat(64), ['/data']),
    w.keyOf(
      spec((s) => s.containers[0].env.push('X=1')),
      IMAGE,
      ['/data'],
    ),
    w.keyOf(
      spec((s) => (s.containers[0].args = ['postgres', '-c', 'fsync=off'])),
      IMAGE,
      ['/data'],
    ),
    w.keyOf(
      spec((s) => s.containers[0].security!.capabilities.push('SYS_ADMIN')),
      IMAGE,
      ['/data'],
    ),
    w.keyOf(
      spec((s) => (s.vm = { memoryMiB: 512, cpus: 1 })),
      IMAGE,
      ['/data'],
    ),
    w.keyOf(spec(), IMAGE, ['/other']),
    w.keyOf(
      spec((s) => ((s.containers[0].mounts![0] as { target: string }).target = '/elsewhere')),
      IMAGE,
      ['/data'],
    ),
  ];
  expect(new Set([first, ...kinds]).size).toBe(kinds.length + 1);
});

test('a container whose start depends on the host has no kind: it always starts cold', () => {
  const w = warm();
  const cold: Array<(s: PodSpec) => void> = [
    (s) => s.containers[0].mounts!.push({ type: 'bind', source: '/srv', target: '/srv', readOnly: false } as never),
    (s) =>
      s.containers[0].mounts!.push({
        type: 'volume',
        name: 'pgdata',
        source: '/v/pgdata',
        target: '/pg',
        readOnly: false,
        anonymous: false,
      }),
    (s) => (s.containers[0].tty = true),
    (s) => (s.containers[0].openStdin = true),
    (s) => (s.joinPod = { pod: 'x', pid: false }),
    (s) => (s.containers[0].imageOnDisk = false),
    (s) => ((s.containers[0].security as { devices?: unknown[] }).devices = [{ path: '/dev/fuse' }]),
    (s) => (s.hostCgroupParent = '/mine'),
    (s) => s.containers.push({ ...s.containers[0], id: 'c'.repeat(64) }),
  ];
  for (const change of cold) expect(w.keyOf(spec(change), IMAGE)).toBeUndefined();
});

test('a named volume going on the disk is of the kind by its name, target and mode; any other one has none', () => {
  const w = warm();
  const withPgdata = (name = 'pgdata', target = '/pg', readOnly = false) =>
    spec((s) => s.containers[0].mounts!.push({ type: 'volume', name, source: '', target, readOnly, anonymous: false }));
  const key = w.keyOf(withPgdata(), IMAGE, [], new Set(['pgdata']));
  expect(key).toMatch(/^[0-9a-f]{64}$/);
  expect(w.keyOf(withPgdata(), IMAGE, [], new Set(['pgdata']))).toBe(key);
  const others = [
    w.keyOf(spec(), IMAGE),
    w.keyOf(withPgdata('other'), IMAGE, [], new Set(['other'])),
    w.keyOf(withPgdata('pgdata', '/elsewhere'), IMAGE, [], new Set(['pgdata'])),
    w.keyOf(withPgdata('pgdata', '/pg', true), IMAGE, [], new Set(['pgdata'])),
  ];
  expect(new Set([key, ...others]).size).toBe(others.length + 1);
  // Not going on the disk (it holds data, another container mounts it): no kind.
  expect(w.keyOf(withPgdata(), IMAGE, [], new Set())).toBeUndefined();
  expect(w.keyOf(withPgdata(), IMAGE, [], new Set(['another']))).toBeUndefined();
});

test("the label asks for or refuses warm starts, else the daemon's option decides", () => {
  expect(warm(false).wanted(undefined)).toBe(false);
  expect(warm(true).wanted({})).toBe(true);
  expect(warm(false).wanted({ 'org.podvisor.warm-start': 'true' })).toBe(true);
  expect(warm(true).wanted({ 'org.podvisor.warm-start': 'false' })).toBe(false);
});

describe('the states on disk: usage, prune and the size cap', () => {
  let root: string;
  const inUseDir = () => path.join(root, 'b'.repeat(64));

  /** A whole state `key` of `kb` KiB, last used `ago` seconds ago (undefined: never used). */
  function state(key: string, kb: number, ago?: number): void {
    const dir = path.join(root, key);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'saved.json'), '{}');
    fs.writeFileSync(path.join(dir, 'image'), JSON.stringify({ id: IMAGE }));
    fs.writeFileSync(path.join(dir, 'vm.state'), Buffer.alloc(kb * 1024, 1));
    if (ago !== undefined) {
      fs.writeFileSync(path.join(dir, 'uses'), '2');
      const t = new Date(Date.now() - ago * 1000);
      fs.utimesSync(path.join(dir, 'uses'), t, t);
    }
  }

  /** Warm starts over `root`, capped at `maxBytes`, the state in inUseDir() named by a container. */
  const over = (maxBytes?: number) =>
    new WarmStarts({
      root,
      enabled: true,
      pods: { list: () => [{ sandbox: { spec: { savedState: { dir: inUseDir(), image: IMAGE } } } }] } as never,
      imageTagged: () => true,
      ...(maxBytes !== undefined ? { maxBytes } : {}),
    });

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-unit-warm-'));
    state('a'.repeat(64), 256, 300);
    state('b'.repeat(64), 256, 600);
    state('c'.repeat(64), 256, 60);
    state('d'.repeat(64), 256);
    fs.mkdirSync(path.join(root, '.new-eeeeeeeeeeee-1234'));
  });

  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  test('usage lists the whole states, least recently used first, with their size, uses and whether in use', async () => {
    const u = await over().usage();
    expect(u.map((x) => [x.key[0], x.uses, x.inUse])).toEqual([
      ['b', 2, true],
      ['a', 2, false],
      ['c', 2, false],
      ['d', 0, false],
    ]);
    for (const x of u) expect(x.bytes).toBeGreaterThanOrEqual(256 * 1024);
  });

  test('prune removes every state no container started from, and says what it freed', async () => {
    const { deleted, reclaimed } = await over().prune();
    expect(deleted.map((k) => k[0]).sort()).toEqual(['a', 'c', 'd']);
    expect(reclaimed).toBeGreaterThanOrEqual(3 * 256 * 1024);
    expect(fs.readdirSync(root).sort()).toEqual(['.new-eeeeeeeeeeee-1234', 'b'.repeat(64)]);
  });

  test('the cap removes the least recently used states not in use until the rest fit', async () => {
    // Room for two of the four: b is in use and stays; a (the oldest unused) goes, then c.
    await over(2 * 300 * 1024).enforceCap();
    expect(
      fs
        .readdirSync(root)
        .filter((n) => !n.startsWith('.'))
        .map((n) => n[0])
        .sort(),
    ).toEqual(['b', 'd']);
  });
});
