/**
 * host/fs-events resolves the paths it is asked to watch itself, beneath the share's directory
 * the daemon gives it at its start (fd 3), with openat2 (RESOLVE_BENEATH, no symlinks, no magic
 * links): so it needs no CAP_SYS_PTRACE (which reading the daemon's /proc/PID/fd links took,
 * and which let it open the daemon's memory), and a path a guest bends out of the share
 * (`..`, an absolute path, a symlink) is refused. Another VM's QEMU (whose making of a file
 * leaves out the ATTRIB of its owner) is told by its uids, the VM range's, never by the command
 * name a process gives itself. Driven here as the daemon drives it
 * (src/pod/network/share-events.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FS_EVENTS_BIN } from '../../../src/pod/network/share-events';
import { VM_UID_BASE, VM_UID_COUNT } from '../../../src/vm/qemu/confinement/jail';

let dir: string;
let child: ChildProcess | undefined;
/** The events the watcher reported: its mark's id, the inotify mask, the entry's name. */
let events: { id: number; mask: number; name: string }[];

beforeEach(() => {
  events = [];
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
function start(share: string, args = ['1']): (p: string) => Promise<number> {
  const fd = fs.openSync(share, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    child = spawn(FS_EVENTS_BIN, args, { stdio: ['pipe', 'pipe', 'inherit', fd] });
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
      else
        events.push({ id: buf.readUInt32LE(1), mask: buf.readUInt32LE(5), name: buf.toString('utf8', 15, 15 + len) });
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

const IN_ATTRIB = 0x4;
const IN_CLOSE_WRITE = 0x8;
const IN_CREATE = 0x100;

/**
 * As host user `uid` (its command name `comm` when given), make NAME in `share`, set its mode
 * and write it, as QEMU's 9p server makes a guest's file; the process stays until killed (the
 * watcher checks a process still there). Resolves once the file is written.
 */
async function makeFileAs(share: string, uid: number, name: string, comm?: string): Promise<ChildProcess> {
  const py = spawn('python3', [
    '-c',
    'import os, sys\n' +
      'if sys.argv[3]: open("/proc/self/comm", "w").write(sys.argv[3])\n' +
      'u = int(sys.argv[2]); os.setgroups([]); os.setgid(u); os.setuid(u)\n' +
      'fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o600); os.fchmod(fd, 0o644); os.write(fd, b"x"); os.close(fd)\n' +
      'print("done", flush=True); sys.stdin.read()',
    path.join(share, name),
    String(uid),
    comm ?? '',
  ]);
  await new Promise<void>((resolve, reject) => {
    py.once('exit', (code) => reject(new Error(`python3 exited ${code}`)));
    py.stdout.once('data', () => resolve());
  });
  return py;
}

test("another VM's QEMU is told by its uids (the VM range), not by a command name a process gives itself", async () => {
  const share = path.join(dir, 'share');
  fs.chmodSync(dir, 0o711);
  fs.chmodSync(share, 0o777);
  const ask = start(share, ['1', String(VM_UID_BASE), String(VM_UID_COUNT)]);
  expect(await ask('.')).toBe(0);
  const made = [
    // A host user's process that calls itself QEMU: its file's mode change is reported.
    await makeFileAs(share, 1000, 'spoof', 'qemu-system-x86'),
    // A process of a VM's uid, whatever its name: the ATTRIB of its making is left out.
    await makeFileAs(share, VM_UID_BASE + 7, 'vm'),
  ];
  try {
    const closed = (name: string) => events.some((e) => e.name === name && e.mask & IN_CLOSE_WRITE);
    for (let i = 0; i < 500 && !(closed('spoof') && closed('vm')); i++) await new Promise((r) => setTimeout(r, 10));
    const masks = (name: string) => events.filter((e) => e.name === name).reduce((m, e) => m | e.mask, 0);
    expect({ spoof: masks('spoof') & (IN_CREATE | IN_ATTRIB), vm: masks('vm') & (IN_CREATE | IN_ATTRIB) }).toEqual({
      spoof: IN_CREATE | IN_ATTRIB,
      vm: IN_CREATE,
    });
    expect([closed('spoof'), closed('vm')]).toEqual([true, true]);
  } finally {
    for (const p of made) p.kill('SIGKILL');
  }
});

test('a uid range that is not one is refused at the start', async () => {
  for (const args of [
    ['1', 'x', '5'],
    ['1', '0', '5'],
    ['1', '5', '0'],
    ['1', '4294967295', '1'],
    ['1', '5'],
  ]) {
    const c = spawn(FS_EVENTS_BIN, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    expect(await new Promise((r) => c.once('exit', r))).toBe(2);
  }
});
