/**
 * tmpfs and bind mounts through the stock docker CLI against the real daemon (real QEMU VMs):
 * `--tmpfs` and `--mount type=tmpfs` with size and mode, `-v /host:/ctr[:ro]` and
 * `--mount type=bind` of directories and single files, writes seen on both sides, read-only enforced in the guest, a missing
 * source created for -v and refused for --mount, inspect's Mounts / Binds / Mounts / Tmpfs as
 * dockerd shows them, and nothing left mounted on the host afterwards.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { mountsUnder } from '../helpers/leaks';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerSync, dockerOk, type CliResult } from '../helpers/docker-cli';

jest.setTimeout(180000);

const IMAGE = `${fixtureRegistry()}/busybox`;

let d: TestDaemon;
let host: string;

const docker = (args: string[]): CliResult => dockerSync(d, args, 90000);
const ok = (args: string[]): string => dockerOk(d, args, 90000);

beforeAll(async () => {
  d = await startDaemon();
  host = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-binds-'));
  ok(['pull', '-q', IMAGE]);
});

afterAll(async () => {
  await stopDaemonLeavingNothing(d);
  expect(mountsUnder(host)).toEqual([]);
  fs.rmSync(host, { recursive: true, force: true });
});

test("--tmpfs and --mount type=tmpfs: size, mode and Docker's flags in the guest; inspect shows them", () => {
  const out = ok([
    'run',
    '--rm',
    '--name',
    'tm',
    '--tmpfs',
    '/x',
    '--tmpfs',
    '/y:size=1m,mode=700',
    '--mount',
    'type=tmpfs,destination=/z,tmpfs-size=2000000,tmpfs-mode=0750',
    IMAGE,
    'sh',
    '-c',
    'grep -E " /(x|y|z) " /proc/mounts; echo hi > /y/f && cat /y/f',
  ]);
  const lines = out.split('\n');
  const line = (p: string) => lines.find((l) => l.split(' ')[1] === p) ?? '';
  expect(line('/x')).toMatch(/^\S+ \/x tmpfs rw,nosuid,nodev,noexec,relatime[, ]/);
  expect(line('/y')).toMatch(/^\S+ \/y tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k,(nr_inodes=\d+,)?mode=700[, ]/);
  expect(line('/z')).toMatch(/^\S+ \/z tmpfs rw,nosuid,nodev,noexec,relatime,size=1956k,(nr_inodes=\d+,)?mode=750[, ]/);
  expect(lines[lines.length - 1]).toBe('hi');

  ok(['create', '--name', 'tmi', '--tmpfs', '/x', '--mount', 'type=tmpfs,destination=/z,tmpfs-size=2000000', IMAGE]);
  const [j] = JSON.parse(ok(['inspect', 'tmi']));
  expect(j.HostConfig.Tmpfs).toEqual({ '/x': '' });
  expect(j.HostConfig.Mounts).toEqual([{ Type: 'tmpfs', Target: '/z', TmpfsOptions: { SizeBytes: 2000000 } }]);
  expect(j.Mounts).toEqual([{ Type: 'tmpfs', Source: '', Destination: '/z', Mode: '', RW: true, Propagation: '' }]);
  ok(['rm', 'tmi']);
});

test('bind mounts: writes seen on both sides, :ro enforced in the guest, sources created for -v only', async () => {
  const rw = path.join(host, 'rw');
  const ro = path.join(host, 'ro');
  const created = path.join(host, 'made', 'by', 'v');
  fs.mkdirSync(rw);
  fs.mkdirSync(ro);
  fs.writeFileSync(path.join(rw, 'from-host'), 'host says hi\n');
  fs.writeFileSync(path.join(ro, 'keep'), 'untouched\n');
  ok([
    'run',
    '-d',
    '--name',
    'b1',
    '-v',
    `${rw}:/data`,
    '--mount',
    `type=bind,source=${ro},target=/ro,readonly`,
    '-v',
    `${created}:/made`,
    IMAGE,
    'sleep',
    '600',
  ]);
  // Host -> guest, guest -> host.
  expect(ok(['exec', 'b1', 'cat', '/data/from-host'])).toBe('host says hi');
  ok(['exec', 'b1', 'sh', '-c', 'echo guest says hi > /data/from-guest']);
  expect(fs.readFileSync(path.join(rw, 'from-guest'), 'utf8')).toBe('guest says hi\n');
  // A change made on the host while the container runs is seen by the next read.
  fs.writeFileSync(path.join(rw, 'from-host'), 'changed\n');
  expect(ok(['exec', 'b1', 'cat', '/data/from-host'])).toBe('changed');
  // Read-only: refused in the guest, the host file untouched.
  const w = docker(['exec', 'b1', 'sh', '-c', 'echo x > /ro/keep']);
  expect(w.code).not.toBe(0);
  expect(w.err).toContain('Read-only file system');
  expect(fs.readFileSync(path.join(ro, 'keep'), 'utf8')).toBe('untouched\n');
  // -v created the missing source.
  expect(fs.statSync(created).isDirectory()).toBe(true);
  ok(['exec', 'b1', 'touch', '/made/f']);
  expect(fs.existsSync(path.join(created, 'f'))).toBe(true);

  const [j] = JSON.parse(ok(['inspect', 'b1']));
  // The docker CLI sends its -v binds in Go map order (random), and dockerd lists Mounts from
  // a map too: compare them sorted.
  expect([...j.HostConfig.Binds].sort()).toEqual([`${rw}:/data`, `${created}:/made`].sort());
  expect(j.HostConfig.Mounts).toEqual([{ Type: 'bind', Source: ro, Target: '/ro', ReadOnly: true }]);
  const byDestination = (a: { Destination: string }, b: { Destination: string }) =>
    a.Destination.localeCompare(b.Destination);
  expect([...j.Mounts].sort(byDestination)).toEqual([
    { Type: 'bind', Source: rw, Destination: '/data', Mode: '', RW: true, Propagation: 'rprivate' },
    { Type: 'bind', Source: created, Destination: '/made', Mode: '', RW: true, Propagation: 'rprivate' },
    { Type: 'bind', Source: ro, Destination: '/ro', Mode: '', RW: false, Propagation: 'rprivate' },
  ]);
  ok(['rm', '-f', 'b1']);
  // Nothing of the binds stays mounted on the host once the VM is torn down (in the background after rm -f).
  for (let i = 0; i < 100 && mountsUnder(d.execRoot).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  expect(mountsUnder(d.execRoot)).toEqual([]);
  expect(fs.readFileSync(path.join(rw, 'from-guest'), 'utf8')).toBe('guest says hi\n');

  // --mount with a missing source is an error, as in dockerd.
  const missing = path.join(host, 'nope');
  const r = docker(['create', '--mount', `type=bind,source=${missing},target=/x`, IMAGE, 'true']);
  expect(r.code).not.toBe(0);
  expect(r.err).toContain(`invalid mount config for type "bind": bind source path does not exist: ${missing}`);
  expect(fs.existsSync(missing)).toBe(false);
  expect(ok(['ps', '-aq'])).toBe('');
});

test('bind mounts: directories the host removes, replaces or renames are seen so by the container', () => {
  // The guest keeps a directory's dentry once walked (guest/kernel/patches/0002-9p-keep-dentries.patch) and checks it
  // again at the next walk: each case walks into the directory first, then changes it on the host.
  const src = path.join(host, 'dirs');
  fs.mkdirSync(path.join(src, 'gone', 'deep'), { recursive: true });
  fs.mkdirSync(path.join(src, 'swapped', 'deep'), { recursive: true });
  fs.mkdirSync(path.join(src, 'moved', 'deep'), { recursive: true });
  for (const d of ['gone', 'swapped', 'moved']) fs.writeFileSync(path.join(src, d, 'deep', 'old'), `${d}\n`);
  ok(['run', '-d', '--name', 'bdirs', '-v', `${src}:/d`, IMAGE, 'sleep', '600']);
  try {
    expect(ok(['exec', 'bdirs', 'cat', '/d/gone/deep/old', '/d/swapped/deep/old', '/d/moved/deep/old'])).toBe(
      'gone\nswapped\nmoved',
    );
    fs.rmSync(path.join(src, 'gone'), { recursive: true });
    fs.rmSync(path.join(src, 'swapped'), { recursive: true });
    fs.mkdirSync(path.join(src, 'swapped', 'deep'), { recursive: true });
    fs.writeFileSync(path.join(src, 'swapped', 'deep', 'new'), 'new\n');
    fs.renameSync(path.join(src, 'moved'), path.join(src, 'renamed'));
    // Removed: gone in the guest, and the guest can make it again.
    expect(docker(['exec', 'bdirs', 'ls', '/d/gone/deep']).err).toMatch(/No such file or directory/);
    ok(['exec', 'bdirs', 'mkdir', '-p', '/d/gone/deep']);
    expect(fs.statSync(path.join(src, 'gone', 'deep')).isDirectory()).toBe(true);
    // Replaced: the new directory's content.
    expect(ok(['exec', 'bdirs', 'ls', '/d/swapped/deep'])).toBe('new');
    // Renamed: under its new name only.
    expect(docker(['exec', 'bdirs', 'ls', '/d/moved']).code).not.toBe(0);
    expect(ok(['exec', 'bdirs', 'cat', '/d/renamed/deep/old'])).toBe('moved');
    expect(ok(['exec', 'bdirs', 'ls', '/d']).split('\n').sort()).toEqual(['gone', 'renamed', 'swapped']);
  } finally {
    docker(['rm', '-f', 'bdirs']);
  }
});

test("bad mount specs answer dockerd's messages and create nothing", () => {
  const cases: Array<[string[], string]> = [
    [
      ['-v', '/tmp/q:rel'],
      "invalid volume specification: '/tmp/q:rel': invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute",
    ],
    [['-v', '/tmp/q:/x:bogus'], 'invalid mode: bogus'],
    [['-v', '/tmp/q:/x', '-v', '/tmp/r:/x'], 'Duplicate mount point: /x'],
    [['--mount', 'type=bind,target=/x'], 'invalid mount config for type "bind": field Source must not be empty'],
    [
      ['--mount', 'type=tmpfs,source=/a,target=/x'],
      'invalid mount config for type "tmpfs": field Source must not be specified',
    ],
    [['--tmpfs', 'rel'], "invalid mount path: 'rel' mount path must be absolute"],
  ];
  for (const [args, msg] of cases) {
    const r = docker(['create', ...args, IMAGE]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain(msg);
  }
  expect(ok(['ps', '-aq'])).toBe('');
});

test('single-file binds: content both ways, ownership and mode kept, :ro enforced in the guest', async () => {
  const file = path.join(host, 'app.conf');
  fs.writeFileSync(file, 'setting=1\n', { mode: 0o640 });
  fs.chownSync(file, 1000, 1000);
  const ro = path.join(host, 'ro.conf');
  fs.writeFileSync(ro, 'fixed\n');
  ok([
    'run',
    '-d',
    '--name',
    'f1',
    '-v',
    `${file}:/etc/app/app.conf`,
    '-v',
    `${ro}:/etc/ro.conf:ro`,
    IMAGE,
    'sleep',
    '600',
  ]);
  expect(ok(['exec', 'f1', 'cat', '/etc/app/app.conf'])).toBe('setting=1');
  expect(ok(['exec', 'f1', 'stat', '-c', '%u:%g %a', '/etc/app/app.conf'])).toBe('1000:1000 640');
  // Guest -> host, then host -> guest, on the same file.
  ok(['exec', 'f1', 'sh', '-c', 'echo setting=2 > /etc/app/app.conf']);
  expect(fs.readFileSync(file, 'utf8')).toBe('setting=2\n');
  fs.writeFileSync(file, 'setting=3\n');
  expect(ok(['exec', 'f1', 'cat', '/etc/app/app.conf'])).toBe('setting=3');
  const w = docker(['exec', 'f1', 'sh', '-c', 'echo x > /etc/ro.conf']);
  expect(w.err).toContain('Read-only file system');
  expect(fs.readFileSync(ro, 'utf8')).toBe('fixed\n');
  ok(['rm', '-f', 'f1']);
  for (let i = 0; i < 100 && mountsUnder(d.execRoot).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  expect(mountsUnder(d.execRoot)).toEqual([]);
  expect(fs.readFileSync(file, 'utf8')).toBe('setting=3\n');
});
