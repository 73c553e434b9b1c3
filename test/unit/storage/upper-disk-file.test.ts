/**
 * Block mode's upper disk files (src/storage/upper-disk-file.ts) with the host's real
 * mkfs.ext4: a spare made ahead is moved into a container's directory at its first mount
 * (makeDisk), and the next one is made in the background; a disk of another size is made on demand; the files are
 * sparse ext4 images of the device's size.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { OverlayRootfs } from '../../../src/storage/rootfs';
import { makeUpperDisk, scratchDisks, SpareDisks } from '../../../src/storage/upper-disk-file';

const BYTES = 1024 ** 3;
let root: string;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'upper-disk-test-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

/** The ext4 filesystem's size, from the superblock dumpe2fs reads in a disk file. */
function ext4Bytes(file: string): number {
  const out = execFileSync('dumpe2fs', ['-h', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return Number(/^Block count:\s+(\d+)$/m.exec(out)?.[1]) * Number(/^Block size:\s+(\d+)$/m.exec(out)?.[1]);
}

/** A spare disk made ready, an empty image layer, and a rootfs manager that takes the spare. */
async function withSpare() {
  const spares = new SpareDisks(path.join(root, 'spares'), BYTES);
  spares.refill();
  await spares.idle();
  const spare = path.join(root, 'spares', 'spare.ext4');
  const layer = path.join(root, 'layer');
  fs.mkdirSync(layer);
  const rootfs = new OverlayRootfs(path.join(root, 'containers'), undefined, spares);
  return { spares, spare, ino: fs.statSync(spare).ino, layer, rootfs };
}

test('makeUpperDisk: a sparse file of the given size holding an ext4 of it, or of a smaller size', async () => {
  const whole = path.join(root, 'whole.ext4');
  await makeUpperDisk(whole, BYTES);
  const st = fs.statSync(whole);
  expect(st.size).toBe(BYTES);
  expect(st.blocks * 512).toBeLessThan(BYTES / 8);
  expect(ext4Bytes(whole)).toBe(BYTES);
  const small = path.join(root, 'small.ext4');
  await makeUpperDisk(small, BYTES, 64 * 1024 ** 2);
  expect(fs.statSync(small).size).toBe(BYTES);
  expect(ext4Bytes(small)).toBe(64 * 1024 ** 2);
  expect(fs.readdirSync(root).sort()).toEqual(['small.ext4', 'whole.ext4']);
});

test('the first mount takes the spare with a rename and the next one is made; a sized disk is made on demand', async () => {
  const { spares, spare, ino, layer, rootfs } = await withSpare();

  await rootfs.prepare('c1', [layer], { bytes: BYTES });
  // Pending until the first mount (makeDisk): the layer is the host's meanwhile.
  expect(rootfs.diskOf('c1')).toBeUndefined();
  expect(rootfs.usesDisk('c1')).toBe(true);
  expect(fs.statSync(spare).ino).toBe(ino);
  await rootfs.makeDisk('c1');
  expect(rootfs.usesDisk('c1')).toBe(true);
  const disk = rootfs.diskOf('c1') as string;
  expect(fs.statSync(disk).ino).toBe(ino);
  await spares.idle();
  expect(fs.statSync(spare).ino).not.toBe(ino);
  expect(ext4Bytes(spare)).toBe(BYTES);

  // --storage-opt size: its own filesystem size, made now; the spare stays.
  const next = fs.statSync(spare).ino;
  await rootfs.prepare('c2', [layer], { bytes: BYTES, fsBytes: 64 * 1024 ** 2 });
  await rootfs.makeDisk('c2');
  expect(ext4Bytes(rootfs.diskOf('c2') as string)).toBe(64 * 1024 ** 2);
  expect(fs.statSync(spare).ino).toBe(next);

  // With no spare ready (taken by a create before), the disk is made on demand.
  fs.rmSync(spare);
  await rootfs.prepare('c3', [layer], { bytes: BYTES });
  await rootfs.makeDisk('c3');
  expect(ext4Bytes(rootfs.diskOf('c3') as string)).toBe(BYTES);
  await spares.idle();
  expect(fs.existsSync(spare)).toBe(true);
  await rootfs.remove('c1');
  expect(fs.existsSync(disk)).toBe(false);
});

test('scratchDisks: empties its directory at start, makes and removes named disks, refuses odd names', async () => {
  const dir = path.join(root, 'scratch');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'left-by-a-killed-daemon.ext4'), '');
  const disks = scratchDisks(dir, BYTES, 64 * 1024 ** 2);
  expect(fs.existsSync(dir)).toBe(false);
  const f = await disks.make('vm1-rehearsal-1');
  expect(ext4Bytes(f)).toBe(64 * 1024 ** 2);
  expect(fs.readdirSync(dir)).toEqual(['vm1-rehearsal-1.ext4']);
  await disks.remove(f);
  expect(fs.readdirSync(dir)).toEqual([]);
  await expect(disks.make('../escape')).rejects.toThrow(/bad scratch disk name/);
});

test("a pool VM's ready disk goes first when it fits; the spare stays; a sized disk takes neither", async () => {
  const spares = new SpareDisks(path.join(root, 'spares'), BYTES);
  spares.refill();
  await spares.idle();
  const spare = path.join(root, 'spares', 'spare.ext4');
  const spareIno = fs.statSync(spare).ino;
  const layer = path.join(root, 'layer');
  fs.mkdirSync(layer);
  const rootfs = new OverlayRootfs(path.join(root, 'containers'), undefined, spares);
  const readyFile = path.join(root, 'spares', 'ready-abc.ext4');
  await makeUpperDisk(readyFile, BYTES);
  const readyIno = fs.statSync(readyFile).ino;
  const asked: Array<{ bytes: number; fsBytes?: number }> = [];
  const readyDisk = {
    take: async (to: string, disk: { bytes: number; fsBytes?: number }) => {
      asked.push(disk);
      if (disk.bytes !== BYTES || disk.fsBytes !== undefined || !fs.existsSync(readyFile)) return false;
      fs.renameSync(readyFile, to);
      return true;
    },
  };

  await rootfs.prepare('c1', [layer], { bytes: BYTES });
  await rootfs.makeDisk('c1', readyDisk);
  expect(fs.statSync(rootfs.diskOf('c1') as string).ino).toBe(readyIno);
  expect(fs.statSync(spare).ino).toBe(spareIno); // not taken, not remade

  await rootfs.prepare('c2', [layer], { bytes: BYTES, fsBytes: 64 * 1024 ** 2 });
  await rootfs.makeDisk('c2', readyDisk);
  expect(ext4Bytes(rootfs.diskOf('c2') as string)).toBe(64 * 1024 ** 2);
  expect(fs.statSync(spare).ino).toBe(spareIno);
  expect(asked).toEqual([{ bytes: BYTES }, { bytes: BYTES, fsBytes: 64 * 1024 ** 2 }]);

  // The ready disk gone (taken by c1): the spare is next.
  await rootfs.prepare('c3', [layer], { bytes: BYTES });
  await rootfs.makeDisk('c3', readyDisk);
  expect(fs.statSync(rootfs.diskOf('c3') as string).ino).toBe(spareIno);
  await spares.idle();
});

test("volumes kept on the disk: what copy-up put in their seeds becomes the disk's volumes/, with owner and mode; the spare is not taken", async () => {
  const { spare, ino, layer, rootfs } = await withSpare();
  await rootfs.prepare('c1', [layer], { bytes: BYTES, imageOnDisk: true });
  await expect(rootfs.diskVolumeSeed('c1', '../x')).rejects.toThrow(/bad volume name/);
  const seed = await rootfs.diskVolumeSeed('c1', 'vol1');
  fs.writeFileSync(path.join(seed, 'seed'), 'from the image\n');
  fs.chownSync(seed, 1000, 1000);
  fs.chmodSync(seed, 0o750);
  await rootfs.makeDisk('c1');
  const disk = rootfs.diskOf('c1') as string;
  expect(fs.statSync(spare).ino).toBe(ino);
  const debugfs = (req: string) =>
    execFileSync('debugfs', ['-R', req, disk], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  expect(debugfs('cat /volumes/vol1/seed')).toBe('from the image\n');
  const st = debugfs('stat /volumes/vol1');
  expect(st).toMatch(/Mode:\s+0750/);
  expect(st).toMatch(/User:\s+1000\s+Group:\s+1000/);
  expect(debugfs('ls -p /')).toMatch(/\/upper\//);
  // The seeds are the disk's now; none is made once it is.
  expect(fs.existsSync(path.join(root, 'containers', 'c1', 'disk-volumes'))).toBe(false);
  await expect(rootfs.diskVolumeSeed('c1', 'vol2')).rejects.toThrow(/no disk still to be made/);
  await rootfs.remove('c1');
});
