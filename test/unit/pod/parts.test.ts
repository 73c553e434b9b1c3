import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LogWriter, readLogEntries, MAX_LINE } from '../../../src/pod/io/logs';
import { parseTimeArg } from '../../../src/api/v1.41/kit/time';
import { DetachScanner } from '../../../src/pod/io/detach';
import { parseDetachKeys, DEFAULT_DETACH_KEYS } from '../../../src/translate/detach-keys';
import { resolveUser, withGroupAdd } from '../../../src/pod/security/user';
import { RestartBackoff, shouldRestart, startsWithDaemon } from '../../../src/pod/lifecycle/restart';
import { EventBus } from '../../../src/pod/events';
import { parseProcStat, parseMeminfo, parseLoadavgTasks } from '../../../src/pod/stats/guest-stats';
import { resolvConfFor } from '../../../src/pod/lifecycle/runtime';
import { runtimeEnv } from '../../../src/pod/lifecycle/container-init';
import { humanDuration, statusText } from '../../../src/api/v1.41/json/status';
import { overlayOptions, MOUNT_OPTIONS_MAX } from '../../../src/storage/rootfs';
import { StateStore } from '../../../src/storage/state';
import { createdState } from '../../../src/pod/types';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-parts-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('json-file logs', () => {
  test('one entry per line, partial lines kept until the newline or the end of the stream', async () => {
    const file = path.join(tmp, 'x-json.log');
    const w = new LogWriter(file);
    w.write('stdout', Buffer.from('a\nb'));
    w.write('stdout', Buffer.from('c\n'));
    w.write('stderr', Buffer.from('no newline'));
    w.flush('stderr');
    w.close();
    const raw = fs
      .readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(raw.map((x) => [x.stream, x.log])).toEqual([
      ['stdout', 'a\n'],
      ['stdout', 'bc\n'],
      ['stderr', 'no newline'],
    ]);
    expect(Object.keys(raw[0])).toEqual(['log', 'stream', 'time']);
  });

  test('lines longer than 16 KiB are split', async () => {
    const file = path.join(tmp, 'y-json.log');
    const w = new LogWriter(file);
    w.write('stdout', Buffer.alloc(MAX_LINE + 10, 'x'));
    w.write('stdout', Buffer.from('\n'));
    w.close();
    const entries = await readLogEntries(file, { stdout: true, stderr: true });
    expect(entries.map((e) => e.log.length)).toEqual([MAX_LINE, 11]);
  });

  test('since/until/tail filters; torn last line ignored', async () => {
    const file = path.join(tmp, 'z-json.log');
    const lines = [
      { log: 'old\n', stream: 'stdout', time: '2020-01-01T00:00:00.000000001Z' },
      { log: 'mid\n', stream: 'stderr', time: '2021-01-01T00:00:00Z' },
      { log: 'new\n', stream: 'stdout', time: '2022-01-01T00:00:00.5Z' },
    ];
    fs.writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n{"log":"torn');
    const read = async (o: object) =>
      (await readLogEntries(file, { stdout: true, stderr: true, ...o })).map((e) => e.log.toString().trim());
    expect(await read({})).toEqual(['old', 'mid', 'new']);
    expect(await read({ sinceNano: parseTimeArg('2021-01-01T00:00:00Z') })).toEqual(['mid', 'new']);
    expect(await read({ untilNano: parseTimeArg(String(Date.parse('2021-06-01') / 1000)) })).toEqual(['old', 'mid']);
    expect(await read({ tail: 1 })).toEqual(['new']);
    expect(await read({ stdout: false })).toEqual(['mid']);
    expect(parseTimeArg('1609459200.5')).toBe(1609459200500000000n);
  });

  test('a missing log reads as empty', async () => {
    expect(await readLogEntries(path.join(tmp, 'none'), { stdout: true, stderr: true })).toEqual([]);
  });
});

describe('detach keys', () => {
  test.each([
    ['ctrl-p,ctrl-q', [16, 17]],
    ['ctrl-a', [1]],
    ['a,b', [97, 98]],
    ['ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_', [0, 27, 28, 29, 30, 31]],
  ])('%s', (spec, bytes) => {
    expect([...parseDetachKeys(spec)]).toEqual(bytes);
  });
  test.each([['ctrl-'], ['ctrl-1'], ['abc'], ['a,,b']])('invalid %s', (spec) => {
    expect(() => parseDetachKeys(spec)).toThrow(`Invalid detach keys (${spec}) provided`);
  });
  test('scanner holds prefixes back, releases them on mismatch, detaches on the full sequence', () => {
    const s = new DetachScanner(DEFAULT_DETACH_KEYS);
    expect(s.feed(Buffer.from('ab\x10'))).toEqual({ data: Buffer.from('ab'), detach: false });
    expect(s.feed(Buffer.from('x'))).toEqual({ data: Buffer.from('\x10x'), detach: false });
    expect(s.feed(Buffer.from('\x10\x10'))).toEqual({ data: Buffer.from('\x10'), detach: false });
    expect(s.feed(Buffer.from('\x11rest'))).toEqual({ data: Buffer.alloc(0), detach: true });
    expect(new DetachScanner(Buffer.alloc(0)).feed(Buffer.from('\x10\x11'))).toEqual({
      data: Buffer.from('\x10\x11'),
      detach: false,
    });
  });
});

describe('user resolution', () => {
  const passwd = 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\nbroken line\n';
  const group = 'root:x:0:\nwheel:x:10:user,root\nuser:x:1000:\nstaff:x:50:user\n';
  test.each([
    ['', { uid: 0, gid: 0, additionalGids: [0, 10], home: '/root' }],
    ['user', { uid: 1000, gid: 1000, additionalGids: [1000, 10, 50], home: '/home/user' }],
    ['1000', { uid: 1000, gid: 1000, additionalGids: [1000, 10, 50], home: '/home/user' }],
    ['4242', { uid: 4242, gid: 0, additionalGids: [0], home: '/' }],
    ['user:staff', { uid: 1000, gid: 50, additionalGids: [50], home: '/home/user' }],
    ['4242:4343', { uid: 4242, gid: 4343, additionalGids: [4343], home: '/' }],
  ])('%s', (spec, want) => {
    expect(resolveUser(spec, passwd, group)).toEqual(want);
  });
  test("unknown names fail with runc's messages", () => {
    expect(() => resolveUser('bob', passwd, group)).toThrow(
      'unable to find user bob: no matching entries in passwd file',
    );
    expect(() => resolveUser('user:nogrp', passwd, group)).toThrow(
      'unable to find group nogrp: no matching entries in group file',
    );
    expect(() => resolveUser('bob', undefined, undefined)).toThrow('unable to find user bob');
  });
});

describe('restart policy and backoff', () => {
  test('delays: 100 ms doubling, capped at 1 minute, reset after a 10 s run', () => {
    const b = new RestartBackoff();
    const seen = Array.from({ length: 12 }, () => b.next(50));
    expect(seen).toEqual([100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000]);
    expect(b.next(10_000)).toBe(100);
    expect(b.next(0)).toBe(200);
    b.reset();
    expect(b.next(0)).toBe(100);
  });

  test('backoff drives real timers (fake clock)', () => {
    jest.useFakeTimers();
    try {
      const b = new RestartBackoff();
      const fired: number[] = [];
      for (let i = 0; i < 3; i++) setTimeout(() => fired.push(i), b.next(0));
      jest.advanceTimersByTime(100);
      expect(fired).toEqual([0]);
      jest.advanceTimersByTime(100);
      expect(fired).toEqual([0, 1]);
      jest.advanceTimersByTime(200);
      expect(fired).toEqual([0, 1, 2]);
    } finally {
      jest.useRealTimers();
    }
  });

  test.each([
    ['no', 0, 1, 0, false, false],
    ['always', 0, 0, 0, false, true],
    ['always', 0, 0, 0, true, false],
    ['unless-stopped', 0, 3, 5, false, true],
    ['on-failure', 0, 0, 0, false, false],
    ['on-failure', 0, 1, 0, false, true],
    ['on-failure', 2, 1, 1, false, true],
    ['on-failure', 2, 1, 2, false, false],
  ] as const)('%s:%d exit %d after %d restarts, manual=%s -> %s', (name, max, code, count, manual, want) => {
    expect(shouldRestart({ name, maximumRetryCount: max }, code, count, manual)).toBe(want);
  });

  test('which pods start with the daemon', () => {
    expect(startsWithDaemon({ name: 'always', maximumRetryCount: 0 }, false)).toBe(true);
    expect(startsWithDaemon({ name: 'unless-stopped', maximumRetryCount: 0 }, true)).toBe(false);
    expect(startsWithDaemon({ name: 'on-failure', maximumRetryCount: 0 }, false)).toBe(false);
  });
});

describe('events', () => {
  test('history keeps order and strictly increasing times; subscribers get live events', () => {
    const bus = new EventBus();
    const live: string[] = [];
    const off = bus.subscribe((e) => live.push(e.action));
    const a = bus.emit('container', 'create', 'x');
    const b = bus.emit('container', 'start', 'x');
    off();
    bus.emit('container', 'die', 'x');
    expect(live).toEqual(['create', 'start']);
    expect(b.timeNano > a.timeNano).toBe(true);
    expect(bus.past(b.timeNano).map((e) => e.action)).toEqual(['start', 'die']);
    expect(bus.past(0n, a.timeNano).map((e) => e.action)).toEqual(['create']);
  });
});

describe('guest stats parsing (untrusted input)', () => {
  test('proc/stat', () => {
    const s = parseProcStat(
      'cpu  100 0 50 1000 10 0 0 0 0 0\ncpu0 60 0 30 500 5 0 0 0 0 0\ncpu1 40 0 20 500 5 0 0 0\nintr 1\n',
    );
    expect(s).toEqual({
      cpuTotalNs: 1.5e9,
      cpuUserNs: 1e9,
      cpuSystemNs: 5e8,
      perCpuNs: [9e8, 6e8],
      systemNs: 11.6e9,
      onlineCpus: 2,
    });
    expect(parseProcStat('garbage\ncpu x y z').cpuTotalNs).toBe(0);
  });
  test('meminfo and loadavg', () => {
    const m = parseMeminfo('MemTotal:  1000 kB\nMemAvailable: 600 kB\nCached: 100 kB\nnonsense\n');
    expect([m.usage, m.limit, m.stats.cache]).toEqual([400 * 1024, 1000 * 1024, 100 * 1024]);
    expect(parseLoadavgTasks('0.00 0.01 0.05 1/57 1234\n')).toBe(57);
    expect(parseLoadavgTasks('junk')).toBe(0);
  });
});

describe('env, resolv.conf', () => {
  test('runtime env: PATH/HOSTNAME/TERM first, replaced in place, HOME appended', () => {
    expect(runtimeEnv(['PATH=/x', 'A=1'], 'h', true, '/root')).toEqual([
      'PATH=/x',
      'HOSTNAME=h',
      'TERM=xterm',
      'A=1',
      'HOME=/root',
    ]);
    expect(runtimeEnv(['HOME=/h', 'TERM=dumb'], 'h', true, '/root')).toEqual([
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'HOSTNAME=h',
      'TERM=dumb',
      'HOME=/h',
    ]);
  });
  test('resolv.conf drops loopback resolvers', () => {
    expect(resolvConfFor('nameserver 127.0.0.53\nnameserver ::1\nnameserver 1.1.1.1\noptions edns0\n')).toBe(
      'nameserver 1.1.1.1\noptions edns0\n',
    );
  });
});

describe('status text', () => {
  test.each([
    [500, 'Less than a second'],
    [1000, '1 second'],
    [59000, '59 seconds'],
    [60000, 'About a minute'],
    [150000, '2 minutes'],
    [3600000, 'About an hour'],
    [3 * 3600000, '3 hours'],
    [3 * 86400000, '3 days'],
    [20 * 86400000, '2 weeks'],
    [90 * 86400000, '3 months'],
    [800 * 86400000, '2 years'],
  ])('%d ms -> %s', (ms, s) => {
    expect(humanDuration(ms)).toBe(s);
  });
  test('Status column', () => {
    const now = Date.parse('2026-01-01T00:01:00Z');
    const st = createdState();
    expect(statusText(st, now)).toBe('Created');
    expect(statusText({ ...st, status: 'running', startedAt: '2026-01-01T00:00:57.123456789Z' }, now)).toBe(
      'Up 2 seconds',
    );
    expect(statusText({ ...st, status: 'paused', startedAt: '2026-01-01T00:00:00Z' }, now)).toBe(
      'Up About a minute (Paused)',
    );
    expect(
      statusText(
        { ...st, status: 'exited', exitCode: 3, startedAt: '2026-01-01T00:00:00Z', finishedAt: '2025-12-31T23:58:00Z' },
        now,
      ),
    ).toBe('Exited (3) 3 minutes ago');
    expect(statusText({ ...st, status: 'restarting', exitCode: 1, finishedAt: '2026-01-01T00:00:59Z' }, now)).toBe(
      'Restarting (1) 1 second ago',
    );
  });
});

describe('overlay options', () => {
  test('absolute paths, top layer first, while they fit in a page', () => {
    const o = overlayOptions(['/l/a', '/l/b'], '/c/x');
    expect(o).toEqual({ options: 'lowerdir=/l/b:/l/a,upperdir=/c/x/upper,workdir=/c/x/work', links: false });
  });
  test('short relative links when the absolute form would not fit', () => {
    const layers = Array.from(
      { length: 60 },
      (_v, i) => `/var/lib/podvisor/layers/sha256/${String(i).padStart(64, '0')}/diff`,
    );
    const o = overlayOptions(layers, '/c/x');
    expect(o.links).toBe(true);
    expect(o.cwd).toBe('/c/x');
    expect(o.options.startsWith('lowerdir=l/59:l/58:')).toBe(true);
    expect(o.options.endsWith('l/0,upperdir=upper,workdir=work')).toBe(true);
    expect(o.options.length).toBeLessThan(MOUNT_OPTIONS_MAX);
  });
});

describe('state store', () => {
  // Records are opaque to the store: any JSON object with its directory's id.
  const rec = (id: string) => ({ id, name: `n-${id}`, restartCount: 0, frontend: { hostConfig: { Memory: 0 } } });
  test('records round-trip; orphans (no record) are reported; writes are atomic', async () => {
    const s = new StateStore(path.join(tmp, 'containers'));
    await s.init();
    const r = rec('aaa');
    await s.save(r);
    r.name = 'renamed';
    await Promise.all([s.save({ ...r, restartCount: 1 }), s.save({ ...r, restartCount: 2 })]);
    fs.mkdirSync(path.join(tmp, 'containers', 'orphan'));
    const { records, orphans } = await s.loadAll();
    expect(records.map((x) => [x.id, x.name, x.restartCount])).toEqual([['aaa', 'renamed', 2]]);
    expect(orphans).toEqual(['orphan']);
    // One file per record: no copy of the front end's data beside it.
    expect(fs.readdirSync(path.join(tmp, 'containers', 'aaa'))).toEqual(['config.v2.json']);
    expect(fs.readdirSync(path.join(tmp, 'containers', 'aaa')).filter((f) => f.startsWith('.tmp'))).toEqual([]);
    await s.remove('aaa');
    expect(fs.existsSync(path.join(tmp, 'containers', 'aaa'))).toBe(false);
  });
  test('a corrupt record is an orphan, not a crash', async () => {
    const s = new StateStore(path.join(tmp, 'containers'));
    await s.init();
    fs.mkdirSync(path.join(tmp, 'containers', 'bad'));
    fs.writeFileSync(path.join(tmp, 'containers', 'bad', 'config.v2.json'), '{"id":');
    expect((await s.loadAll()).orphans).toEqual(['bad']);
    expect(() => s.dir('../etc')).toThrow();
  });
});

describe('GroupAdd (dockerd getUser)', () => {
  const group = 'root:x:0:\naudio:x:29:\nstaff:x:50:\n';
  it("adds groups by name and number, once each, after the user's own", () => {
    const u = resolveUser('', 'root:x:0:0:root:/root:/bin/sh\n', group);
    expect(withGroupAdd(u, ['audio', '1000', '29'], group).additionalGids).toEqual([
      ...u.additionalGids.filter((g) => g !== 29 && g !== 1000),
      29,
      1000,
    ]);
  });
  it("refuses a group name the image does not have, with runc's message", () => {
    const u = resolveUser('', 'root:x:0:0:root:/root:/bin/sh\n', group);
    expect(() => withGroupAdd(u, ['nosuch'], group)).toThrow(
      'Unable to find group nosuch: no matching entries in group file',
    );
  });
});
