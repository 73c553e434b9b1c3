/**
 * The daemon's half of inotify across the VM's edge (src/pod/network/share-events.ts) with a stand-in
 * for the watcher program (its wire format, spoken by a small python3 script) and a scripted
 * agent, on a real share directory of this machine:
 *  - a watcher program that cannot be started (EACCES) neither ends the daemon (a child's
 *    'error' with no listener is thrown) nor leaves the guest's watch request waiting for ever;
 *  - a guest that stops taking FILE_EVENT holds at most MAX_QUEUED_EVENTS of them in the
 *    daemon: the rest are dropped, as a full inotify queue drops them;
 *  - an event the watcher reports in the same write as its answer to the watch reaches the guest;
 *  - a watcher that fails is started again only after a delay that doubles, up to a cap;
 *  - a watch on a path 1,800 levels deep is resolved in one openat2, not walked.
 */
import * as childProcess from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  FS_EVENTS_BIN,
  MAX_QUEUED_EVENTS,
  MAX_RESTART_DELAY_MS,
  RESTART_DELAY_MS,
  stopShareWatcher,
  watchShareFile,
} from '../../../src/pod/network/share-events';
import { closeResolveHelper } from '../../../src/util/resolve-beneath';
import type { FileEventRequest, ShareSocketEvent, Vm } from '../../../src/vm/types';

const TAG = 'podvisor-vol';
// The module objects themselves (the namespace imports' properties are read-only getters of them).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeFs = require('node:fs') as typeof fs;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeChildProcess = require('node:child_process') as typeof childProcess;
const realSpawn = nodeChildProcess.spawn;
const realExists = nodeFs.existsSync;

let dir: string;
let vm: Vm;
let delivered: FileEventRequest[];
let gate: Promise<void> | undefined;
let children: childProcess.ChildProcess[];
/** Bytes the stand-in wrote to the daemon so far. */
let written: number;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-share-events-'));
  fs.mkdirSync(path.join(dir, 'vol'));
  fs.writeFileSync(path.join(dir, 'vol', 'watched'), '');
  delivered = [];
  gate = undefined;
  children = [];
  written = 0;
  const agent = {
    fileEvent: async (e: FileEventRequest): Promise<void> => {
      delivered.push(e);
      await gate;
    },
  };
  vm = { id: 'vm1', pid: process.pid, agent, devices: { volumes: { hostDir: dir, tag: TAG } } } as unknown as Vm;
  // The watcher program is there, whatever this machine built.
  jest.spyOn(nodeFs, 'existsSync').mockImplementation((p) => p === FS_EVENTS_BIN || realExists(p));
});

afterEach(() => {
  stopShareWatcher(vm);
  jest.restoreAllMocks();
  childProcess.execFileSync('rm', ['-rf', dir]); // 1,800 levels deep: beyond fs.rmSync's recursion
});

/** Have the daemon start `file` with `args` in place of the watcher program. */
function watcherIs(file: string, args: string[]): void {
  jest.spyOn(nodeChildProcess, 'spawn').mockImplementation(((
    f: string,
    a: string[],
    opts: childProcess.SpawnOptions,
  ) => {
    // Other programs (the path resolution's helper) are started as they are.
    if (f !== FS_EVENTS_BIN) return realSpawn(f, a, opts);
    const c = realSpawn(file, args, opts);
    children.push(c);
    c.stdout?.on('data', (b: Buffer) => (written += b.length));
    return c;
  }) as unknown as typeof childProcess.spawn);
}

const watch: ShareSocketEvent = { kind: 'watch', token: 1, tag: TAG, path: '/vol/watched' };

test('a watcher program that cannot be started leaves the guest with its own events, and the daemon running', async () => {
  watcherIs('/dev/null', []); // not executable: EACCES, an 'error' and no 'exit'
  const uncaught: Error[] = [];
  const onUncaught = (e: Error): void => void uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  try {
    // The request waits for no answer of a program that is not there.
    await watchShareFile(vm, watch);
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    process.off('uncaughtException', onUncaught);
  }
  expect(uncaught).toEqual([]);
  expect(children).toHaveLength(1);
  expect(delivered).toEqual([]);
});

/** A watcher that marks the first file it is asked for, then reports `n` IN_MODIFY events on it. */
const FLOOD = `
import struct, sys
i, n = sys.stdin.buffer, int(sys.argv[1])
mid, ln = struct.unpack('<IH', i.read(6)); i.read(ln)
o = sys.stdout.buffer
o.write(struct.pack('<BIIIH', 2, mid, 0, 0, 0))
o.write(struct.pack('<BIIIH', 1, mid, 2, 0, 0) * n)
o.flush()
i.read()
`;

test('a guest that stops taking file events holds at most MAX_QUEUED_EVENTS of them in the daemon', async () => {
  const n = MAX_QUEUED_EVENTS * 3;
  watcherIs('python3', ['-c', FLOOD, String(n)]);
  let open!: () => void;
  gate = new Promise<void>((r) => (open = r)); // the guest takes the first event, and answers nothing
  await watchShareFile(vm, watch);
  // Every record the watcher wrote (its answer, then the events) has reached the daemon.
  for (let i = 0; i < 500 && written < (n + 1) * 15; i++) await new Promise((r) => setTimeout(r, 10));
  expect(written).toBe((n + 1) * 15);
  expect(delivered).toHaveLength(1);
  open();
  gate = undefined;
  for (let i = 0; i < 100 && delivered.length < MAX_QUEUED_EVENTS; i++) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 50));
  // The one taken and those queued behind it; the rest were dropped.
  expect(delivered.length).toBe(MAX_QUEUED_EVENTS);
  expect(delivered[0]).toEqual({ tag: TAG, path: '/vol/watched', mask: 2, cookie: 0 });
});

test('a watcher program whose start throws leaves the guest with its own events, and rejects nothing', async () => {
  jest.spyOn(nodeChildProcess, 'spawn').mockImplementation(() => {
    throw Object.assign(new Error('spawn ENOMEM'), { code: 'ENOMEM' });
  });
  // The relay calls it as `void watchShareFile(...)`: a rejection would be unhandled.
  await expect(watchShareFile(vm, watch)).resolves.toBeUndefined();
  expect(delivered).toEqual([]);
});

test('an event that comes in the same read as the answer to the watch reaches the guest', async () => {
  watcherIs('python3', ['-c', FLOOD, '1']); // the answer and one event, in one write
  await watchShareFile(vm, watch);
  for (let i = 0; i < 100 && written < 30; i++) await new Promise((r) => setTimeout(r, 10));
  expect(written).toBe(30);
  await new Promise((r) => setImmediate(r));
  expect(delivered).toEqual([{ tag: TAG, path: '/vol/watched', mask: 2, cookie: 0 }]);
});

afterAll(() => closeResolveHelper());

test('a watcher that cannot be started is started again only after a delay that doubles, up to a cap', async () => {
  watcherIs('/dev/null', []); // EACCES at every start
  let now = 1_000_000;
  jest.spyOn(Date, 'now').mockImplementation(() => now);
  const starts = async (n: number): Promise<number> => {
    const before = children.length;
    for (let i = 0; i < n; i++) await watchShareFile(vm, { ...watch, token: i });
    return children.length - before;
  };
  // The first WATCH starts it; the flood of WATCHes after the failure starts nothing.
  expect(await starts(50)).toBe(1);
  now += RESTART_DELAY_MS - 1;
  expect(await starts(10)).toBe(0);
  now += 1;
  expect(await starts(10)).toBe(1);
  // Failed again: twice the wait.
  now += RESTART_DELAY_MS;
  expect(await starts(10)).toBe(0);
  now += RESTART_DELAY_MS;
  expect(await starts(10)).toBe(1);
  // Many failures later the wait stops growing at MAX_RESTART_DELAY_MS.
  for (let i = 0; i < 20; i++) {
    now += MAX_RESTART_DELAY_MS;
    expect(await starts(5)).toBe(1);
  }
  now += MAX_RESTART_DELAY_MS - 1;
  expect(await starts(5)).toBe(0);
});

test('a watch on a path 1,800 levels deep is asked of the watcher as one path beneath the share, which it resolves', async () => {
  // 1,800 levels made from the inside (each mkdir names one component).
  childProcess.execFileSync('python3', [
    '-c',
    'import os,sys\nos.chdir(sys.argv[1])\nfor i in range(1800): os.mkdir("d"); os.chdir("d")\nopen("f","w").close()',
    path.join(dir, 'vol'),
  ]);
  const deep = `/vol/${Array(1800).fill('d').join('/')}/f`;
  const list = path.join(dir, 'asked');
  watcherIs('python3', ['-c', ANSWER_AND_LIST, list]);
  const open = jest.spyOn(nodeFs.promises, 'open');
  await watchShareFile(vm, { ...watch, path: deep });
  // The watcher (host/fs-events: openat2 beneath its fd 3, the share) was asked for the path
  // relative to the share; the daemon opened nothing below the share for it.
  const asked = fs.readFileSync(list, 'utf8').split('\n').filter(Boolean);
  expect(asked).toEqual([deep.slice(1)]);
  expect(open).not.toHaveBeenCalled();
  // A path longer than PATH_MAX is refused before the watcher is asked.
  await watchShareFile(vm, { ...watch, path: `/vol/${Array(2100).fill('d').join('/')}` });
  expect(fs.readFileSync(list, 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
});

/** A watcher that answers every request 0 and writes each path it is asked for to the file argv[1]. */
const ANSWER_AND_LIST = `
import struct, sys
i, o = sys.stdin.buffer, sys.stdout.buffer
while True:
    h = i.read(6)
    if len(h) < 6: break
    mid, ln = struct.unpack('<IH', h)
    with open(sys.argv[1], 'a') as f: f.write(i.read(ln).decode() + '\\n')
    o.write(struct.pack('<BIIIH', 2, mid, 0, 0, 0)); o.flush()
`;
