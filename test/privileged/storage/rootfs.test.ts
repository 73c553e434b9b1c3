/**
 * OverlayRootfs on real overlayfs mounts (root, no VM): layers top-first, the writable layer
 * kept across unmount/mount, whiteouts from lower layers honoured, long layer lists through
 * short links, and nothing left mounted or on disk after remove.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { OverlayRootfs } from '../../../src/storage/rootfs';
import { ImageDisks } from '../../../src/storage/image-disks/image-disks';
import { treeSize } from '../../../src/storage/tree-walk';
import { isMountPoint, Mounter } from '../../../src/util/mounter';
import { mountsUnder } from '../../helpers/leaks';

let tmp: string;
/** `p` as a path below tmp (which stands for a VM's share directory). */
const beneathTmp = (p: string) => ({ root: tmp, rel: path.relative(tmp, p) });
let layersDir: string;
let rootfs: OverlayRootfs;

function layer(name: string, files: Record<string, string>): string {
  const dir = path.join(layersDir, name.padEnd(64, '0'), 'diff');
  fs.mkdirSync(dir, { recursive: true });
  for (const [p, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
    fs.writeFileSync(path.join(dir, p), content);
  }
  return dir;
}

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-rootfs-'));
  layersDir = path.join(tmp, 'layers', 'sha256');
  rootfs = new OverlayRootfs(path.join(tmp, 'containers'));
});

afterEach(() => {
  // Only after a failed test is anything still mounted here.
  for (const m of mountsUnder(tmp).reverse()) execFileSync('umount', ['-l', m]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('layers stack top-first, writes land in the container layer and survive unmount/mount', async () => {
  const low = layer('a', { 'etc/os': 'low\n', 'bin/tool': 'v1\n' });
  const high = layer('b', { 'bin/tool': 'v2\n' });
  await rootfs.prepare('c1', [low, high]);
  const target = path.join(tmp, 'share', 'containers', 'c1', 'rootfs');
  await rootfs.mount('c1', beneathTmp(target));
  expect(isMountPoint(target)).toBe(true);
  expect(fs.readFileSync(path.join(target, 'bin/tool'), 'utf8')).toBe('v2\n');
  fs.writeFileSync(path.join(target, 'new.txt'), 'mine\n');
  fs.rmSync(path.join(target, 'etc/os'));
  expect(await rootfs.sizeRw('c1')).toBe(5);
  await rootfs.unmount('c1');
  expect(isMountPoint(target)).toBe(false);
  // The lower layers are untouched; the next mount shows the container's changes again.
  expect(fs.readFileSync(path.join(low, 'etc/os'), 'utf8')).toBe('low\n');
  const again = path.join(tmp, 'share2', 'rootfs');
  await rootfs.mount('c1', beneathTmp(again));
  expect(fs.readFileSync(path.join(again, 'new.txt'), 'utf8')).toBe('mine\n');
  expect(fs.existsSync(path.join(again, 'etc/os'))).toBe(false);
  expect((await rootfs.paths('c1')).mergedDir).toBe(again);
  await rootfs.remove('c1');
  expect(mountsUnder(tmp)).toEqual([]);
  expect(fs.readdirSync(path.join(tmp, 'containers', 'c1'))).toEqual([]);
});

test('a layer list too long for one mount-option page is mounted through short links', async () => {
  const layers = Array.from({ length: 60 }, (_v, i) =>
    layer(`l${String(i).padStart(2, '0')}-${'x'.repeat(40)}`, { [`f${i}`]: `${i}\n` }),
  );
  await rootfs.prepare('c2', layers);
  expect(fs.readdirSync(path.join(tmp, 'containers', 'c2', 'l'))).toHaveLength(60);
  const target = path.join(tmp, 'share', 'c2');
  await rootfs.mount('c2', beneathTmp(target));
  expect(fs.readdirSync(target).sort()).toEqual(layers.map((_l, i) => `f${i}`).sort());
  await rootfs.remove('c2');
  expect(mountsUnder(tmp)).toEqual([]);
});

test('too many layers, relative and odd layer paths are refused', async () => {
  await expect(
    rootfs.prepare(
      'c3',
      Array.from({ length: 129 }, (_v, i) => `/l/${i}`),
    ),
  ).rejects.toThrow('max depth exceeded');
  await expect(rootfs.prepare('c3', ['relative/dir'])).rejects.toThrow('bad layer directory');
  await expect(rootfs.prepare('c3', ['/a:b'])).rejects.toThrow('bad layer directory');
  await expect(rootfs.prepare('../evil', ['/a'])).rejects.toThrow('invalid container id');
});

test('sizes never follow symlinks out of the writable layer', async () => {
  const dir = path.join(tmp, 'upper');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'a'), 'xyz');
  fs.symlinkSync('/etc', path.join(dir, 'link'));
  expect(await treeSize(dir)).toBe(3);
});

test('paths() (inspect) follows mount, unmount, prepare and remove, also while a read is in flight', async () => {
  const low = layer('p', { a: '1\n' });
  await rootfs.prepare('c3', [low]);
  const dirs = path.join(tmp, 'containers', 'c3');
  expect(await rootfs.paths('c3')).toEqual({
    lowerDirs: [low],
    upperDir: path.join(dirs, 'upper'),
    workDir: path.join(dirs, 'work'),
  });
  const target = path.join(tmp, 'share', 'c3');
  // A read that starts before the mount and ends after it is not kept as the answer.
  const racing = rootfs.paths('c3');
  await rootfs.mount('c3', beneathTmp(target));
  await racing;
  expect((await rootfs.paths('c3')).mergedDir).toBe(target);
  expect((await rootfs.paths('c3')).mergedDir).toBe(target);
  await rootfs.unmount('c3');
  expect((await rootfs.paths('c3')).mergedDir).toBeUndefined();
  const high = layer('q', { b: '2\n' });
  await rootfs.prepare('c3', [low, high]);
  expect((await rootfs.paths('c3')).lowerDirs).toEqual([high, low]);
  await rootfs.remove('c3');
  await expect(rootfs.paths('c3')).rejects.toThrow(/no rootfs prepared/);
});

test('a docker cp of a stopped container ends cleanly when a removal beside it detached its mount first', async () => {
  // The removal's lazy detach lands between the request's "still mounted?" check and its own
  // unmount (seen in the fuzz test as a 500 "umount -l ...: Invalid argument").
  class RemovalFirst extends Mounter {
    raced = false;
    override async unmount(target: string, opts: { detach?: boolean } = {}): Promise<void> {
      if (!this.raced) {
        this.raced = true;
        await super.unmount(target, { detach: true });
      }
      return super.unmount(target, opts);
    }
  }
  const mounter = new RemovalFirst();
  try {
    const racing = new OverlayRootfs(path.join(tmp, 'containers'), mounter);
    await racing.prepare('c5', [layer('r', { a: '1\n' })]);
    const target = path.join(tmp, 'containers', 'c5', 'archive-mnt');
    await racing.mountDetached('c5', target);
    expect(isMountPoint(target)).toBe(true);
    await racing.unmountDetached(target);
    expect(mounter.raced).toBe(true);
    expect(isMountPoint(target)).toBe(false);
    await racing.remove('c5');
  } finally {
    mounter.close();
  }
});

test('adopt() records a mount an earlier daemon made but lost track of, so inspect and unmount find it', async () => {
  const low = layer('a', { 'etc/os': 'low\n' });
  await rootfs.prepare('c1', [low]);
  const target = path.join(tmp, 'share', 'containers', 'c1', 'rootfs');
  await rootfs.mount('c1', beneathTmp(target));
  // An earlier daemon went away with its record of the mount deleted (a teardown cut short).
  fs.rmSync(path.join(tmp, 'containers', 'c1', 'mountpoint'));
  const restarted = new OverlayRootfs(path.join(tmp, 'containers'));
  expect((await restarted.paths('c1')).mergedDir).toBeUndefined();
  await restarted.adopt('c1', beneathTmp(target));
  expect((await restarted.paths('c1')).mergedDir).toBe(target);
  await restarted.unmount('c1');
  expect(isMountPoint(target)).toBe(false);
  // A target that is not mounted is not recorded.
  await restarted.adopt('c1', beneathTmp(target));
  expect((await restarted.paths('c1')).mergedDir).toBeUndefined();
  await restarted.remove('c1');
});

test("an older daemon's record (the path alone) is unmounted with no symlink followed: a parent swapped for one reaches no mount outside", async () => {
  const low = layer('a', { 'etc/os': 'low\n' });
  const real = new Mounter();
  // The guest's move, made just before the unmount itself (after every check of the path).
  let swap: (() => void) | undefined;
  const mounter = Object.create(real) as Mounter;
  mounter.unmount = (t, o) => {
    swap?.();
    swap = undefined;
    return real.unmount(t, o);
  };
  try {
    const legacy = new OverlayRootfs(path.join(tmp, 'containers'), mounter);
    await legacy.prepare('c1', [low]);
    const dir = path.join(tmp, 'share', 'containers', 'c1');
    const target = path.join(dir, 'rootfs');
    await legacy.mount('c1', beneathTmp(target));
    fs.writeFileSync(path.join(tmp, 'containers', 'c1', 'mountpoint'), `${target}\n`);
    // A host mount with the same last name, where the guest's symlink leads.
    const outside = path.join(tmp, 'outside');
    fs.mkdirSync(path.join(outside, 'rootfs'), { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', path.join(outside, 'rootfs')]);
    swap = () => {
      fs.renameSync(dir, `${dir}.moved`);
      fs.symlinkSync(outside, dir);
    };
    await legacy.unmount('c1');
    expect(isMountPoint(path.join(outside, 'rootfs'))).toBe(true);
    expect(isMountPoint(path.join(`${dir}.moved`, 'rootfs'))).toBe(false);
  } finally {
    real.close();
  }
});

test('block mode: an empty ext4 disk file made at the first mount, the image layers alone mounted read-only, cp/export refused then, removed with the container', async () => {
  const low = layer('a', { 'etc/os': 'low\n', 'bin/tool': 'v1\n' });
  const high = layer('b', { 'bin/tool': 'v2\n' });
  const single = layer('c', { 'etc/only': 'one\n' });
  await rootfs.prepare('d1', [low, high], { bytes: 64 << 20 });
  await rootfs.prepare('d2', [single], { bytes: 64 << 20 });
  // Until the first mount the layer is the host's: a created container's cp is done here.
  expect([rootfs.diskOf('d1'), rootfs.usesDisk('d1')]).toEqual([undefined, true]);
  await rootfs.mountDetached('d1', path.join(tmp, 'detached'));
  expect(fs.readFileSync(path.join(tmp, 'detached', 'bin/tool'), 'utf8')).toBe('v2\n');
  await rootfs.unmountDetached(path.join(tmp, 'detached'));
  await rootfs.makeDisk('d1');
  const disk = rootfs.diskOf('d1') as string;
  expect(disk).toBe(path.join(tmp, 'containers', 'd1', 'upper.ext4'));
  expect(fs.statSync(disk).size).toBe(64 << 20);
  // What mkfs.ext4 made (read with dumpe2fs, never mounted on the host).
  expect(execFileSync('dumpe2fs', ['-h', disk], { encoding: 'utf8', stdio: 'pipe' })).toMatch(
    /Filesystem state:\s+clean/,
  );
  expect(rootfs.diskOf('plain')).toBeUndefined();
  expect(rootfs.usesDisk('plain')).toBe(false);
  for (const [id, files] of [
    ['d1', { 'bin/tool': 'v2\n', 'etc/os': 'low\n' }],
    ['d2', { 'etc/only': 'one\n' }],
  ] as const) {
    const target = path.join(tmp, 'share', 'containers', id, 'rootfs');
    await rootfs.mount(id, beneathTmp(target));
    for (const [p, content] of Object.entries(files))
      expect(fs.readFileSync(path.join(target, p), 'utf8')).toBe(content);
    expect(() => fs.writeFileSync(path.join(target, 'new.txt'), 'x')).toThrow(/EROFS/);
    expect((await rootfs.paths(id)).disk).toBe(rootfs.diskOf(id));
    await expect(rootfs.mountDetached(id, path.join(tmp, 'detached'))).rejects.toThrow(/block device/);
    await rootfs.unmount(id);
    expect(isMountPoint(target)).toBe(false);
  }
  expect(await rootfs.sizeRw('d1')).toBeGreaterThan(0);
  await rootfs.remove('d1');
  await rootfs.remove('d2');
  expect(fs.existsSync(disk)).toBe(false);
  expect(mountsUnder(tmp)).toEqual([]);
});

test("block mode: what a created container's host layer holds (docker cp before the first start) moves into its disk at the first mount", async () => {
  const base = layer('seed-base', { 'etc/os': 'base\n', 'opt/keep': 'k\n' });
  await rootfs.prepare('s1', [base], { bytes: 64 << 20 });
  const detached = path.join(tmp, 'detached-s1');
  await rootfs.mountDetached('s1', detached);
  fs.mkdirSync(path.join(detached, 'app/deep'), { recursive: true });
  fs.writeFileSync(path.join(detached, 'app/deep/conf'), 'copied in\n', { mode: 0o640 });
  fs.chownSync(path.join(detached, 'app/deep/conf'), 1234, 5678);
  fs.symlinkSync('deep/conf', path.join(detached, 'app/link'));
  fs.rmSync(path.join(detached, 'opt/keep'));
  await rootfs.unmountDetached(detached);
  const upper = (await rootfs.paths('s1')).upperDir;
  expect(fs.readdirSync(upper).sort()).toEqual(['app', 'opt']);

  const target = path.join(tmp, 'share', 'containers', 's1', 'rootfs');
  await rootfs.mount('s1', beneathTmp(target));
  const disk = rootfs.diskOf('s1') as string;
  expect(disk).toBeDefined();
  // The host's upper/ is empty now; the files are in the disk's upper/ (read with debugfs in
  // user space: the host never mounts it), owners and modes kept, the whiteout of the deleted
  // image file too (a character device 0/0, as overlayfs makes it).
  expect(fs.readdirSync(upper)).toEqual([]);
  const debugfs = (req: string) => execFileSync('debugfs', ['-R', req, disk], { encoding: 'utf8', stdio: 'pipe' });
  expect(debugfs('cat /upper/app/deep/conf')).toBe('copied in\n');
  expect(debugfs('stat /upper/app/deep/conf')).toMatch(/User:\s+1234\s+Group:\s+5678/);
  expect(debugfs('stat /upper/app/deep/conf')).toMatch(/Mode:\s+0640/);
  expect(debugfs('stat /upper/app/link')).toMatch(/Fast link dest: "deep\/conf"/);
  expect(debugfs('stat /upper/opt/keep')).toMatch(/Type: character special/);
  expect(debugfs('ls -p /work')).toContain('/');
  expect(execFileSync('e2fsck', ['-fn', disk], { encoding: 'utf8', stdio: 'pipe' })).toBeDefined();
  // From now on the layer is the guest's: the host refuses it.
  await expect(rootfs.mountDetached('s1', detached)).rejects.toThrow(/block device/);
  await rootfs.unmount('s1');
  await rootfs.remove('s1');
  expect(mountsUnder(tmp)).toEqual([]);
});

test("block mode with the image on a disk of its own (--storage-opt image=disk): one read-only disk of the image's merged tree, shared by its containers, made once; the upper disk holds only upper/ and work/; nothing left mounted", async () => {
  const disks = new ImageDisks(path.join(tmp, 'image-disks'), 64 << 20);
  rootfs = new OverlayRootfs(path.join(tmp, 'containers'), undefined, undefined, disks);
  const base = layer('img-base', { 'etc/os': 'base\n', 'bin/tool': 'v1\n' });
  const top = layer('img-top', { 'bin/tool': 'v2\n', 'etc/motd': 'hi\n' });
  await rootfs.prepare('i1', [base, top], { bytes: 64 << 20, imageOnDisk: true });
  await rootfs.prepare('i2', [base, top], { bytes: 64 << 20, imageOnDisk: true });
  const detached = path.join(tmp, 'detached-i1');
  await rootfs.mountDetached('i1', detached);
  fs.writeFileSync(path.join(detached, 'copied'), 'before the first start\n');
  await rootfs.unmountDetached(detached);
  const target = path.join(tmp, 'share', 'containers', 'i1', 'rootfs');
  await rootfs.mount('i1', beneathTmp(target));
  // Two first uses at once make it once: one file, one inode.
  const [image1, image2] = await Promise.all([rootfs.imageDisk('i1'), rootfs.imageDisk('i2')]);
  expect(image2).toBe(image1);
  const ino = fs.statSync(image1).ino;
  expect(await rootfs.imageDisk('i2')).toBe(image1);
  expect(fs.statSync(image1).ino).toBe(ino);
  expect(fs.readdirSync(path.join(tmp, 'image-disks'))).toEqual([path.basename(image1)]);
  const debugfs = (file: string, req: string) =>
    execFileSync('debugfs', ['-R', req, file], { encoding: 'utf8', stdio: 'pipe' });
  // The image disk: the layers merged, the top one winning; nothing of the container's.
  expect(debugfs(image1, 'cat /bin/tool')).toBe('v2\n');
  expect(debugfs(image1, 'cat /etc/os')).toBe('base\n');
  expect(debugfs(image1, 'cat /etc/motd')).toBe('hi\n');
  expect(debugfs(image1, 'ls -p /')).not.toContain('/copied/');
  expect(execFileSync('e2fsck', ['-fn', image1], { encoding: 'utf8', stdio: 'pipe' })).toBeDefined();
  // The container's disk: what was copied in, in upper/, and no copy of the image.
  const disk = rootfs.diskOf('i1') as string;
  expect(debugfs(disk, 'cat /upper/copied')).toBe('before the first start\n');
  expect(debugfs(disk, 'ls -p /')).not.toContain('/lower/');
  // Only the container's rootfs target is mounted: the image's mount for the make is gone.
  expect(mountsUnder(tmp)).toEqual([target]);
  await rootfs.unmount('i1');
  await rootfs.remove('i1');
  await rootfs.remove('i2');
  expect(mountsUnder(tmp)).toEqual([]);
  // It goes with its image.
  await disks.remove([base, top]);
  expect(fs.readdirSync(path.join(tmp, 'image-disks'))).toEqual([]);
});

test("an image's disk made from its layers alone, before any container (a list long enough for short links): the layers merged, nothing left beside the disk file, and a container of the image finds it made", async () => {
  const disks = new ImageDisks(path.join(tmp, 'image-disks'), 64 << 20);
  rootfs = new OverlayRootfs(path.join(tmp, 'containers'), undefined, undefined, disks);
  const layers = Array.from({ length: 60 }, (_v, i) =>
    layer(`l${String(i).padStart(2, '0')}-${'x'.repeat(40)}`, { [`f${i}`]: `${i}\n`, same: `${i}\n` }),
  );
  // The image store's keep (ImageStore.useImageDisks): the image is stored.
  disks.keepWhile(async () => true);
  const images = rootfs.imageDisks;
  if (!images) throw new Error('a rootfs given image disks serves them');
  expect(images.hasImageDisk(layers)).toBe(false);
  const file = await images.imageDiskOfLayers(layers);
  expect(images.hasImageDisk(layers)).toBe(true);
  const debugfs = (req: string) => execFileSync('debugfs', ['-R', req, file], { encoding: 'utf8', stdio: 'pipe' });
  expect(debugfs('cat /f0')).toBe('0\n');
  expect(debugfs('cat /f59')).toBe('59\n');
  expect(debugfs('cat /same')).toBe('59\n');
  expect(fs.readdirSync(path.join(tmp, 'image-disks'))).toEqual([path.basename(file)]);
  expect(mountsUnder(tmp)).toEqual([]);
  const ino = fs.statSync(file).ino;
  await rootfs.prepare('c1', layers, { bytes: 64 << 20, imageOnDisk: true });
  expect(await rootfs.imageDisk('c1')).toBe(file);
  expect(fs.statSync(file).ino).toBe(ino);
  await rootfs.remove('c1');
});
