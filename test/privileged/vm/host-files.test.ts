/**
 * Taking down a VM's runtime directory safely: never through a mount that survived, never
 * following a symlink the guest planted, coping with trees deeper than PATH_MAX; the console
 * tail shown in errors keeps only printable text; a disk file bound for QEMU's open never goes
 * onto what a planted name leads to. Uses real mounts (root).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { removeTreeOnOneDevice, tailLines, trimLogFile, unmountBelow } from '../../../src/vm/qemu/host-files';
import { isMountPoint, mountsBelow } from '../../../src/util/mounter';
import { QMP_FILE_NAME, withFileInVmDir } from '../../../src/vm/qemu/confinement/jail-mounts';
import { activeJail } from '../../../src/vm/qemu/confinement/jail';
import { UnavailableError } from '../../../src/errors';

let base: string;
beforeEach(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-hostfiles-'));
});
afterEach(() => {
  for (const m of mountsBelow(base)) execFileSync('umount', ['-l', m]);
  fs.rmSync(base, { recursive: true, force: true });
});

it('does not delete through a mount that is still there, and says so', async () => {
  const victim = path.join(base, 'precious');
  fs.mkdirSync(victim);
  fs.writeFileSync(path.join(victim, 'data'), 'keep me');
  const dir = path.join(base, 'vm');
  fs.mkdirSync(path.join(dir, 'share/rootfs'), { recursive: true });
  execFileSync('mount', ['--bind', victim, path.join(dir, 'share/rootfs')]);
  await expect(removeTreeOnOneDevice(dir)).rejects.toBeInstanceOf(UnavailableError);
  expect(fs.readFileSync(path.join(victim, 'data'), 'utf8')).toBe('keep me');
});

it('unmounts nested mounts deepest first, then removes everything', async () => {
  const src = path.join(base, 'src');
  fs.mkdirSync(path.join(src, 'inner'), { recursive: true });
  const dir = path.join(base, 'vm with space');
  const a = path.join(dir, 'share/a');
  fs.mkdirSync(a, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', a]);
  fs.mkdirSync(path.join(a, 'b'));
  execFileSync('mount', ['--bind', src, path.join(a, 'b')]);
  expect(mountsBelow(dir)).toEqual([path.join(a, 'b'), a]);
  await unmountBelow(dir);
  expect(mountsBelow(dir)).toEqual([]);
  await removeTreeOnOneDevice(dir);
  expect(fs.existsSync(dir)).toBe(false);
  expect(fs.existsSync(path.join(src, 'inner'))).toBe(true);
});

it('removes a symlink the guest planted, not what it points to, and a tree deeper than PATH_MAX', async () => {
  const outside = path.join(base, 'outside');
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'f'), 'x');
  const dir = path.join(base, 'vm');
  fs.mkdirSync(path.join(dir, 'share'), { recursive: true });
  fs.symlinkSync(outside, path.join(dir, 'share/link'));
  // 300 levels of 20-character names: 6,300 characters, more than PATH_MAX (4096).
  // Built with relative mkdir/chdir (perl): a shell's `cd` (dash) goes through the full
  // logical path and stops working past PATH_MAX, so the tree would end far short of 300.
  const share = path.join(dir, 'share');
  execFileSync('perl', [
    '-e',
    'chdir $ARGV[0] or die; for (1..300) { mkdir "d" x 20 or die "mkdir: $!"; chdir "d" x 20 or die "chdir: $!" } open(my $f, ">", "leaf") or die "leaf: $!"',
    share,
  ]);
  const depth = execFileSync('perl', [
    '-e',
    'chdir $ARGV[0] or die; my $n = 0; $n++ while chdir "d" x 20; print $n, (-e "leaf" ? " leaf" : "")',
    share,
  ]).toString();
  expect(depth).toBe('300 leaf');
  await removeTreeOnOneDevice(dir);
  expect(fs.existsSync(dir)).toBe(false);
  expect(fs.readFileSync(path.join(outside, 'f'), 'utf8')).toBe('x');
});

it('keeps only printable text of the last console lines', () => {
  const f = path.join(base, 'console.log');
  fs.writeFileSync(
    f,
    Buffer.concat([Buffer.from('one\r\n\n'), Buffer.from([0x1b, 0x5b, 0x32, 0x4a, 0x07]), Buffer.from('two\nthree\n')]),
  );
  expect(tailLines(f, 2)).toEqual(['?[2J?two', 'three']);
  expect(tailLines(path.join(base, 'missing'), 5)).toEqual([]);
});

it('cuts a console log that outgrew its bound to its last bytes, and lets the writer go on appending', () => {
  const f = path.join(base, 'console.log');
  const appender = fs.openSync(f, 'a');
  fs.writeSync(appender, 'x'.repeat(5000) + 'the end\n');
  expect(trimLogFile(f, 10_000, 100)).toBe(false);
  expect(trimLogFile(f, 4000, 100)).toBe(true);
  fs.writeSync(appender, 'after\n');
  fs.closeSync(appender);
  const text = fs.readFileSync(f, 'utf8');
  expect(text.length).toBeLessThan(200);
  expect(text).toMatch(/trimmed[\s\S]*x+the end\nafter\n$/);
});

// In the directory of a VM an earlier build started (no run/: its QEMU writes where the daemon
// binds the disk files it opens by QMP), a taken-over QEMU can plant the mount point's name.
it.each([
  ['a symlink to a host file', (p: string, victim: string) => fs.symlinkSync(victim, p)],
  ['a FIFO', (p: string) => execFileSync('mkfifo', [p])],
  ['a hard link to a host file', (p: string, victim: string) => fs.linkSync(victim, p)],
])(
  'binds a disk file for QEMU onto a mount point of its own when the name was planted as %s: the host file is neither emptied nor mounted over',
  async (_what, plant) => {
    expect(activeJail()).toBeDefined();
    const victim = path.join(base, 'victim');
    fs.writeFileSync(victim, 'keep me');
    const disk = path.join(base, 'disk');
    fs.writeFileSync(disk, 'disk data');
    const dir = path.join(base, 'vm');
    fs.mkdirSync(dir);
    const target = path.join(dir, QMP_FILE_NAME);
    plant(target, victim);
    const seen = await withFileInVmDir(dir, disk, async (p) => ({
      p,
      content: fs.readFileSync(p, 'utf8'),
      victimMounted: isMountPoint(victim),
    }));
    expect(seen).toEqual({ p: target, content: 'disk data', victimMounted: false });
    expect(fs.readFileSync(victim, 'utf8')).toBe('keep me');
    expect(fs.readFileSync(disk, 'utf8')).toBe('disk data');
    expect(mountsBelow(base)).toEqual([]);
    expect(fs.existsSync(target)).toBe(false);
  },
);
