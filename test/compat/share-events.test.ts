/**
 * inotify across the VM's edge, through the stock docker CLI against the real daemon (real QEMU
 * VMs, our guest kernel): a watcher in a container (Python's ctypes over libc's inotify, in
 * the Debian Python fixture) on a bind-mounted directory sees the host's edits (create,
 * modify, close_write, attrib, moved_from/moved_to with one cookie, delete, a directory made),
 * in order; a watcher on a named volume sees another VM's writes, and its own writes once only.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerOk, dockerSync } from '../helpers/docker-cli';

jest.setTimeout(600000);

const PYTHON = `${fixtureRegistry()}/debian-python:3`;

/** A watcher: one line per event, `NAMES name cookie`, flushed; `ready` once the watch is on. */
const WATCHER = `
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
names = {0x2: 'MODIFY', 0x4: 'ATTRIB', 0x8: 'CLOSE_WRITE', 0x40: 'MOVED_FROM', 0x80: 'MOVED_TO',
         0x100: 'CREATE', 0x200: 'DELETE', 0x40000000: 'ISDIR'}
fd = libc.inotify_init()
wd = libc.inotify_add_watch(fd, sys.argv[1].encode(), 0x2 | 0x4 | 0x8 | 0x40 | 0x80 | 0x100 | 0x200)
if wd < 0: sys.exit('inotify_add_watch: errno %d' % ctypes.get_errno())
print('ready', flush=True)
while True:
    buf = os.read(fd, 65536)
    i = 0
    while i < len(buf):
        _, mask, cookie, n = struct.unpack_from('iIII', buf, i)
        name = buf[i + 16:i + 16 + n].rstrip(b'\\0').decode()
        i += 16 + n
        print('|'.join(v for k, v in sorted(names.items()) if mask & k), name, cookie, flush=True)
`;

let d: TestDaemon;
let dir: string;

beforeAll(async () => {
  d = await startDaemon();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-share-events-'));
  dockerOk(d, ['pull', '-q', PYTHON], 300000);
});

afterAll(async () => {
  const left = dockerSync(d, ['ps', '-aq'], 60000).out.split('\n').filter(Boolean);
  if (left.length) dockerSync(d, ['rm', '-f', ...left], 300000);
  dockerSync(d, ['volume', 'rm', '-f', 'pv-eventvol'], 60000);
  await stopDaemonLeavingNothing(d);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The watcher's event lines so far (after `ready`). */
function events(container: string): string[] {
  const out = dockerSync(d, ['logs', container], 60000).out.split('\n');
  return out.slice(out.indexOf('ready') + 1).filter(Boolean);
}

async function until(pred: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (pred()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`never: ${what}`);
}

/**
 * Wait until the watch is on at the host too (its first events may come before): `touch`
 * again until the watcher reports it, then forget those lines.
 */
async function settle(container: string, touch: () => void): Promise<number> {
  await until(() => dockerSync(d, ['logs', container], 60000).out.includes('ready'), `${container} ready`);
  for (let i = 0; i < 100; i++) {
    touch();
    await new Promise((r) => setTimeout(r, 100));
    if (events(container).some((l) => l.includes('probe'))) break;
  }
  await new Promise((r) => setTimeout(r, 300));
  return events(container).length;
}

test("a watcher in a container sees the host's edits of a bind-mounted directory, in order, moves paired", async () => {
  const w = path.join(dir, 'w');
  fs.mkdirSync(w);
  dockerOk(d, ['run', '-d', '--name', 'watcher', '-v', `${w}:/w`, PYTHON, 'python3', '-c', WATCHER, '/w'], 300000);
  const skip = await settle('watcher', () => fs.writeFileSync(path.join(w, 'probe'), 'p'));

  fs.writeFileSync(path.join(w, 'a'), 'x');
  fs.chmodSync(path.join(w, 'a'), 0o600);
  fs.renameSync(path.join(w, 'a'), path.join(w, 'b'));
  fs.unlinkSync(path.join(w, 'b'));
  fs.mkdirSync(path.join(w, 'd'));
  await until(
    () =>
      events('watcher')
        .slice(skip)
        .some((l) => l.startsWith('CREATE|ISDIR d')),
    'the last event',
  );
  const got = events('watcher')
    .slice(skip)
    .filter((l) => !l.includes('probe'));
  const cookie = (l: string | undefined): string => (l ?? '').split(' ')[2];
  expect(got.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual([
    'CREATE a',
    'MODIFY a',
    'CLOSE_WRITE a',
    'ATTRIB a',
    'MOVED_FROM a',
    'MOVED_TO b',
    'DELETE b',
    'CREATE|ISDIR d',
  ]);
  const from = got.find((l) => l.startsWith('MOVED_FROM'));
  const to = got.find((l) => l.startsWith('MOVED_TO'));
  expect(cookie(from)).not.toBe('0');
  expect(cookie(from)).toBe(cookie(to));
  // The host's watcher did this as nobody, with only the capability to read the share's files
  // (beneath this 0700 test directory), no new privileges, and its seccomp filter.
  const watchers = fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .filter((n) => {
      try {
        return fs.readFileSync(`/proc/${n}/cmdline`, 'utf8').split('\0')[0].endsWith('/podvisor-fs-events');
      } catch {
        return false;
      }
    });
  expect(watchers.length).toBeGreaterThan(0);
  for (const pid of watchers) {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(status)?.[1];
    expect(field('Uid')?.split(/\s+/)).toEqual(['65534', '65534', '65534', '65534']);
    // CAP_DAC_READ_SEARCH (2), nothing else, in any set: no CAP_SYS_PTRACE, so no other
    // process's /proc/PID/fd or mem (it resolves paths beneath the share's fd itself).
    expect([field('CapEff'), field('CapPrm'), field('CapBnd')]).toEqual(Array(3).fill('0000000000000004'));
    expect([field('NoNewPrivs'), field('Seccomp')]).toEqual(['1', '2']);
  }
  dockerOk(d, ['rm', '-f', 'watcher'], 300000);
});

test("a watcher on a named volume sees another VM's writes, and its own VM's once", async () => {
  dockerOk(d, ['volume', 'create', 'pv-eventvol'], 60000);
  dockerOk(
    d,
    ['run', '-d', '--name', 'vwatcher', '-v', 'pv-eventvol:/v', PYTHON, 'python3', '-c', WATCHER, '/v'],
    300000,
  );
  dockerOk(d, ['run', '-d', '--name', 'writer', '-v', 'pv-eventvol:/v', PYTHON, 'sleep', '600'], 300000);
  const skip = await settle('vwatcher', () => dockerOk(d, ['exec', 'writer', 'touch', '/v/probe'], 60000));

  dockerOk(d, ['exec', 'writer', 'sh', '-c', 'echo hi > /v/from-writer'], 60000);
  dockerOk(d, ['exec', 'vwatcher', 'sh', '-c', 'echo me > /v/from-self'], 60000);
  await until(
    () =>
      events('vwatcher')
        .slice(skip)
        .filter((l) => l.startsWith('CLOSE_WRITE')).length >= 2,
    'both files closed',
  );
  await new Promise((r) => setTimeout(r, 500));
  const got = events('vwatcher')
    .slice(skip)
    .filter((l) => !l.includes('probe'))
    .map((l) => l.split(' ').slice(0, 2).join(' '));
  expect(got.filter((l) => l.endsWith(' from-writer'))).toEqual([
    'CREATE from-writer',
    'MODIFY from-writer',
    'CLOSE_WRITE from-writer',
  ]);
  // The watcher's own VM's write: its kernel's events, not again from the host.
  expect(got.filter((l) => l.endsWith(' from-self'))).toEqual([
    'CREATE from-self',
    'MODIFY from-self',
    'CLOSE_WRITE from-self',
  ]);
  dockerOk(d, ['rm', '-f', 'vwatcher', 'writer'], 300000);
});
