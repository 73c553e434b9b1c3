/**
 * host/fs-events resolves the paths it is asked to watch itself, beneath the share's directory
 * the daemon gives it at its start (fd 3), with openat2 (RESOLVE_BENEATH, no symlinks, no magic
 * links): so it needs no CAP_SYS_PTRACE (which reading the daemon's /proc/PID/fd links took,
 * and which let it open the daemon's memory), and a path a guest bends out of the share
 * (`..`, an absolute path, a symlink) is refused. Driven here as the daemon drives it
 * (src/pod/network/share-events.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FS_EVENTS_BIN } from '../../../src/pod/network/share-events';

let dir: string;
let child: ChildProcess | undefined;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-fs-events-'));
  fs.mkdirSync(path.join(dir, 'share', 'sub', 'deeper'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'outside'), '');
  fs.symlinkSync('sub', path.join(dir, 'share', 'link'));
  fs.symlinkSync('/etc', path.join(dir, 'share', 'etc'));
});
afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
  child = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Start the watcher on `share` and return a function that asks it to watch a path: its errno. */
function start(share: string): (p: string) => Promise<number> {
  const fd = fs.openSync(share, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    child = spawn(FS_EVENTS_BIN, ['1'], { stdio: ['pipe', 'pipe', 'inherit', fd] });
  } finally {
    fs.closeSync(fd);
  }
  let buf = Buffer.alloc(0);
  const answers = new Map<number, (errno: number) => void>();
  child.stdout!.on('data', (b: Buffer) => {
    buf = Buffer.concat([buf, b]);
    while (buf.length >= 15) {
      const len = buf.readUInt16LE(13);
      if (buf.length < 15 + len) break;
      if (buf[0] === 2) answers.get(buf.readUInt32LE(1))?.(buf.readUInt32LE(5));
      buf = buf.subarray(15 + len);
    }
  });
  let id = 0;
  return (p) =>
    new Promise((resolve) => {
      const n = ++id;
      answers.set(n, resolve);
      const b = Buffer.from(p);
      const head = Buffer.alloc(6);
      head.writeUInt32LE(n, 0);
      head.writeUInt16LE(b.length, 4);
      child!.stdin!.write(Buffer.concat([head, b]));
    });
}

const EXDEV = 18;
const ELOOP = 40;

test('paths beneath the share are watched; one that leaves it, or passes a symlink, is refused', async () => {
  const ask = start(path.join(dir, 'share'));
  expect(await ask('.')).toBe(0);
  expect(await ask('sub')).toBe(0);
  expect(await ask('sub/deeper')).toBe(0);
  expect(await ask('../outside')).toBe(EXDEV);
  expect(await ask(path.join(dir, 'outside'))).toBe(EXDEV);
  expect(await ask('/etc/passwd')).toBe(EXDEV);
  expect(await ask('link/deeper')).toBe(ELOOP);
  expect(await ask('etc')).toBe(ELOOP);
  expect(await ask(`/proc/${process.pid}/fd/0`)).toBe(EXDEV);
  // Still serving after the refusals.
  expect(await ask('sub/deeper')).toBe(0);
});

test('it runs as nobody with CAP_DAC_READ_SEARCH alone: no CAP_SYS_PTRACE, not dumpable', async () => {
  const ask = start(path.join(dir, 'share'));
  expect(await ask('sub')).toBe(0); // confined by now (before its first request)
  const status = fs.readFileSync(`/proc/${child!.pid}/status`, 'utf8');
  const field = (name: string) => new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(status)?.[1];
  expect(field('Uid')?.split(/\s+/)).toEqual(['65534', '65534', '65534', '65534']);
  expect([field('CapEff'), field('CapPrm'), field('CapBnd')]).toEqual(Array(3).fill('0000000000000004'));
  expect([field('NoNewPrivs'), field('Seccomp')]).toEqual(['1', '2']);
  // Not dumpable: its /proc entries stay root's, so no other process of nobody's reads them.
  expect(fs.statSync(`/proc/${child!.pid}/fd`).uid).toBe(0);
});

test('without the share at fd 3 it refuses to start', async () => {
  const c = spawn(FS_EVENTS_BIN, ['1'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  c.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const code = await new Promise((r) => c.once('exit', r));
  expect(code).toBe(2);
  expect(err).toContain("fd 3 is not the share's directory");
});
