/**
 * What a killed daemon's image disk makes left, removed at the next start
 * (src/daemon/image-disk-leftovers.ts): the make's mkfs.ext4 killed, its temporary file, the
 * image's tree mount (however many times mounted) and mount directory, and its layer links
 * removed; whole disks, other files, other mounts and what a symlink leads to left alone; a
 * make under way in this process never touched. The mounts and processes are stand-ins here (a
 * unit test mounts nothing): test/compat/image-disks.test.ts kills a real daemon mid-make.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { removeInterruptedMakes } from '../../../src/daemon/image-disk-leftovers';
import { ImageDisks, makeScratch, type ImageTree } from '../../../src/storage/image-disks/image-disks';
import { setLogSink } from '../../../src/util/log';
import type { Mounter } from '../../../src/util/mounter';

let tmp: string;
let dir: string;
const lines: string[] = [];

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-leftovers-'));
  dir = path.join(tmp, 'image-disks');
  fs.mkdirSync(dir);
  lines.length = 0;
  setLogSink((l) => lines.push(l));
});

afterEach(() => {
  setLogSink((l) => process.stderr.write(l + '\n'));
  fs.rmSync(tmp, { recursive: true, force: true });
});

/**
 * A mount table by name in the disks' directory: `mounted[name]` mounts stacked there.
 * unmount answers as umount2 does through unmountBeneath (EINVAL: nothing mounted) and
 * records each unmount that took one away, with its flags; `failing` names answer EPERM.
 */
function fakeMounter(mounted: Record<string, number>, failing: string[] = []) {
  const unmounted: string[] = [];
  const mounter = {
    unmount: async (target: string, opts: { detach?: boolean; noFollow?: boolean } = {}) => {
      const name = path.basename(target);
      expect(target).toMatch(/^\/proc\/\d+\/fd\/\d+\//); // through the held directory
      if (failing.includes(name)) throw new Error(`umount ${target}: Operation not permitted`);
      if (!mounted[name]) throw new Error(`umount ${target}: Invalid argument`);
      mounted[name]--;
      unmounted.push(`${name}${opts.detach ? ' detach' : ''}${opts.noFollow ? ' nofollow' : ''}`);
    },
  } as unknown as Mounter;
  return { mounter, unmounted };
}

const key = (c: string) => c.repeat(64);

test('the leftovers of each interrupted make go; whole disks, other files and mounts, and what links lead to stay', async () => {
  const disks = new ImageDisks(dir, 8 << 20);
  const a = path.join(dir, `${key('a')}.ext4`);
  const b = path.join(dir, `${key('b')}.ext4`);
  const whole = path.join(dir, `${key('c')}.ext4`);
  const sa = makeScratch(a);
  const sb = makeScratch(b);
  // a: killed during mkfs (its temporary file, its tree mounted twice, its layer links).
  fs.writeFileSync(sa.tmp, 'half a filesystem');
  fs.mkdirSync(sa.tree);
  const layer = path.join(tmp, 'layers', 'l0');
  fs.mkdirSync(layer, { recursive: true });
  fs.writeFileSync(path.join(layer, 'file'), 'layer\n');
  fs.mkdirSync(path.join(sa.links, 'l'), { recursive: true });
  fs.symlinkSync(layer, path.join(sa.links, 'l', '0'));
  // b: killed before its mount; a whole disk; a file and a mount that are no make's.
  fs.mkdirSync(sb.tree);
  fs.writeFileSync(whole, 'a whole disk');
  fs.writeFileSync(path.join(dir, 'notes'), '');
  fs.writeFileSync(path.join(dir, `${key('c')}.ext4.tmp.keep`), '');
  fs.mkdirSync(path.join(dir, 'user-mnt'));
  const { mounter, unmounted } = fakeMounter({ [path.basename(sa.tree)]: 2, 'user-mnt': 1 });
  const killed: number[] = [];
  const processes = [
    { pid: 101, argv: ['/usr/sbin/mkfs.ext4', '-q', '-F', '-d', sa.tree, sa.tmp] },
    { pid: 102, argv: ['mkfs.ext4', '-q', '-d', '/elsewhere', path.join(tmp, 'other', `${key('a')}.ext4.tmp`)] },
    { pid: 103, argv: ['cat', sa.tmp] },
  ];
  const n = await removeInterruptedMakes(disks, {
    mounter,
    processes: () => processes,
    kill: async (pid) => {
      killed.push(pid);
      return true;
    },
  });
  expect(n).toBe(2);
  expect(killed).toEqual([101]);
  expect(unmounted).toEqual([`${path.basename(sa.tree)} detach nofollow`, `${path.basename(sa.tree)} detach nofollow`]);
  expect(fs.readdirSync(dir).sort()).toEqual([`${key('c')}.ext4`, `${key('c')}.ext4.tmp.keep`, 'notes', 'user-mnt']);
  expect(fs.readFileSync(path.join(layer, 'file'), 'utf8')).toBe('layer\n');
  expect(lines.filter((l) => l.includes('WARN'))).toEqual([]);
  expect(lines).toContainEqual(expect.stringContaining(`killing mkfs.ext4 101 left by an earlier daemon`));
  // Nothing left: a second start finds nothing to do and lists no process.
  const noScan = () => {
    throw new Error('no leftovers: no /proc scan');
  };
  expect(await removeInterruptedMakes(disks, { mounter, processes: noScan })).toBe(0);
});

test('a symlink named as a temporary file or a mount directory is unlinked, never followed or unmounted through', async () => {
  const disks = new ImageDisks(dir, 8 << 20);
  const s = makeScratch(path.join(dir, `${key('d')}.ext4`));
  const outside = path.join(tmp, 'outside');
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'precious'), 'kept\n');
  fs.symlinkSync(path.join(outside, 'precious'), s.tmp);
  fs.symlinkSync(outside, s.tree);
  fs.symlinkSync(outside, s.links);
  const { mounter, unmounted } = fakeMounter({ outside: 1 });
  expect(await removeInterruptedMakes(disks, { mounter, processes: () => [] })).toBe(1);
  expect(unmounted).toEqual([]);
  expect(fs.readdirSync(dir)).toEqual([]);
  expect(fs.readdirSync(outside)).toEqual(['precious']);
});

test('a step that fails is logged and the others still go; the start goes on', async () => {
  const disks = new ImageDisks(dir, 8 << 20);
  const s = makeScratch(path.join(dir, `${key('e')}.ext4`));
  fs.writeFileSync(s.tmp, '');
  fs.mkdirSync(s.tree);
  fs.writeFileSync(path.join(s.tree, 'seen through the mount'), '');
  const { mounter } = fakeMounter({}, [path.basename(s.tree)]);
  const processes = [{ pid: 104, argv: ['mkfs.ext4', '-d', s.tree, s.tmp] }];
  await expect(
    removeInterruptedMakes(disks, { mounter, processes: () => processes, kill: async () => false }),
  ).resolves.toBe(1);
  expect(fs.readdirSync(dir)).toEqual([path.basename(s.tree)]);
  expect(lines.filter((l) => l.includes('WARN'))).toEqual([
    expect.stringContaining('its mkfs.ext4 (pid 104) an interrupted make left stays: still running after SIGKILL'),
    expect.stringContaining("the image's tree mount an interrupted make left stays"),
  ]);
});

test("a make under way in this daemon is not an earlier daemon's: its paths are left to it", async () => {
  const disks = new ImageDisks(dir, 8 << 20);
  disks.keepWhile(async () => true);
  let mountedNow: () => void = () => undefined;
  const mounted = new Promise<void>((r) => (mountedNow = r));
  let goOn: () => void = () => undefined;
  const held = new Promise<void>((r) => (goOn = r));
  // mkfs.ext4 -d reads any directory: a file copied in stands for the image's mount.
  const tree: ImageTree = {
    mount: async (target) => {
      fs.writeFileSync(path.join(target, 'file'), 'content\n');
      mountedNow();
      await held;
    },
    unmount: async (target) => fs.rmSync(path.join(target, 'file')),
  };
  const made = disks.ensure(['/l/1'], tree);
  await mounted;
  const { mounter, unmounted } = fakeMounter({});
  expect(await removeInterruptedMakes(disks, { mounter, processes: () => [] })).toBe(0);
  expect(unmounted).toEqual([]);
  goOn();
  const file = await made;
  expect(fs.readdirSync(dir)).toEqual([path.basename(file)]);
});
