/**
 * Paths below a share a guest writes (src/util/beneath.ts) on real mounts (root, no VM): a
 * symlink anywhere on the way is never followed (planted before, or swapped in a loop while
 * the host opens, mounts and unmounts), missing directories and files are made without
 * following one, a mount lands on the directory or file that was opened, a read-only copy is
 * read-only on the host from the start, and an unmount through a symlinked parent touches
 * nothing outside.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  fdPath,
  openBeneath,
  openMountBeneath,
  SharePathError,
  unmountBeneath,
  type BeneathPath,
} from '../../../src/util/beneath';
import { isMountPoint, Mounter, mountPoints } from '../../../src/util/mounter';
import { mountsUnder } from '../../helpers/leaks';

let tmp: string;
let share: string;
let decoy: string;
let source: string;
let mounter: Mounter;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-beneath-'));
  share = path.join(tmp, 'share');
  decoy = path.join(tmp, 'decoy');
  source = path.join(tmp, 'source');
  for (const d of [share, decoy, source]) fs.mkdirSync(d);
  fs.writeFileSync(path.join(decoy, 'host-file'), 'host\n');
  fs.writeFileSync(path.join(source, 'f'), 'source\n');
  mounter = new Mounter();
});

afterEach(() => {
  mounter.close();
  for (const m of mountsUnder(tmp).reverse()) execFileSync('umount', ['-l', m]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Mount points outside the share, below tmp (where the decoy is). */
const outsideShare = () => mountsUnder(tmp).filter((m) => m !== share && !m.startsWith(share + '/'));

/** Bind `source` onto `p` as the daemon does: opened (made) below the share, then bound onto the fd. */
async function bindBeneath(p: BeneathPath, readOnly = false): Promise<void> {
  const fh = await openBeneath(p, { create: true });
  try {
    await mounter.bindTree({ source, target: fdPath(fh), readOnly, slave: true });
  } finally {
    await fh.close();
  }
}

test('makes missing directories and files, and refuses a symlink, a wrong kind or `..` on the way', async () => {
  const fh = await openBeneath({ root: share, rel: 'a/b/c' }, { create: true });
  await fh.close();
  expect(fs.statSync(path.join(share, 'a/b/c')).isDirectory()).toBe(true);
  const file = await openBeneath({ root: share, rel: 'a/f' }, { create: true, kind: 'file' });
  await file.close();
  expect(fs.statSync(path.join(share, 'a/f')).isFile()).toBe(true);

  fs.symlinkSync(decoy, path.join(share, 'link'));
  for (const rel of ['link', 'link/x', 'link/host-file'])
    await expect(openBeneath({ root: share, rel }, { create: true })).rejects.toBeInstanceOf(SharePathError);
  await expect(openBeneath({ root: share, rel: 'a/f' })).rejects.toBeInstanceOf(SharePathError);
  await expect(openBeneath({ root: share, rel: 'a/b/c' }, { kind: 'file' })).rejects.toBeInstanceOf(SharePathError);
  for (const rel of ['../decoy', 'a/../../decoy', '/etc', 'a//b', '.'])
    await expect(openBeneath({ root: share, rel })).rejects.toBeInstanceOf(SharePathError);
  expect(fs.readdirSync(decoy)).toEqual(['host-file']);
});

test('a bind lands on what was opened, never on the target of a symlink swapped in while the host works', async () => {
  // Planted before: the mount is refused, nothing outside is mounted.
  fs.mkdirSync(path.join(share, 'src'));
  fs.symlinkSync(decoy, path.join(share, 'src/planted'));
  await expect(bindBeneath({ root: share, rel: 'src/planted' })).rejects.toBeInstanceOf(SharePathError);

  // Swapped in a loop: `src` and each target flip between a directory and a symlink to the decoy.
  let stop = false;
  let flips = 0;
  const swap = (p: string) => {
    try {
      fs.renameSync(p, `${p}.moved`);
      fs.symlinkSync(decoy, p);
      flips++;
    } catch {
      // gone meanwhile, or a mount point (EBUSY): the next round
    }
  };
  const swapper = (async () => {
    while (!stop) {
      swap(path.join(share, 'src'));
      for (let i = 0; i < 20; i++) swap(path.join(share, `x${i}`, 't'));
      await new Promise((r) => setImmediate(r));
      for (const p of [
        path.join(share, 'src'),
        ...Array.from({ length: 20 }, (_v, i) => path.join(share, `x${i}`, 't')),
      ])
        try {
          if (fs.lstatSync(p).isSymbolicLink()) {
            fs.unlinkSync(p);
            fs.renameSync(`${p}.moved`, p);
          }
        } catch {
          // not there
        }
      await new Promise((r) => setImmediate(r));
    }
  })();
  for (let i = 0; i < 20; i++) {
    await bindBeneath({ root: share, rel: `x${i}/t` }).catch(() => undefined);
    await bindBeneath({ root: share, rel: `src/s${i}` }).catch(() => undefined);
  }
  stop = true;
  await swapper;
  expect(flips).toBeGreaterThan(0);
  expect(outsideShare()).toEqual([]);
  expect(fs.readdirSync(decoy)).toEqual(['host-file']);
});

test('a read-only copy cannot be written on the host, nor made writable by a remount of another copy', async () => {
  await bindBeneath({ root: share, rel: 'ro' }, true);
  await bindBeneath({ root: share, rel: 'rw' });
  expect(() => fs.writeFileSync(path.join(share, 'ro/f'), 'x')).toThrow(/EROFS/);
  fs.writeFileSync(path.join(share, 'rw/g'), 'rw\n');
  expect(fs.readFileSync(path.join(share, 'ro/g'), 'utf8')).toBe('rw\n');
  expect(fs.readFileSync(path.join(source, 'f'), 'utf8')).toBe('source\n');
  const ro = await openMountBeneath({ root: share, rel: 'ro' });
  expect(ro?.mountRoot).toBe(true);
  await ro?.fh.close();
  const plain = await openMountBeneath({ root: share, rel: 'ro/sub' });
  expect(plain).toBeUndefined();
});

test('an unmount names the mount by its held parent: a symlinked parent reaches nothing outside', async () => {
  await bindBeneath({ root: share, rel: 'a/m' });
  // A mount outside the share, at the place a symlinked parent would lead to.
  fs.mkdirSync(path.join(decoy, 'm'));
  execFileSync('mount', ['--bind', source, path.join(decoy, 'm')]);
  fs.renameSync(path.join(share, 'a'), path.join(share, 'a.moved'));
  fs.symlinkSync(decoy, path.join(share, 'a'));
  expect(await unmountBeneath(mounter, { root: share, rel: 'a/m' }, { detach: true })).toBe(false);
  expect(isMountPoint(path.join(decoy, 'm'))).toBe(true);
  // The share's own mount, where it now is, unmounts.
  expect(await unmountBeneath(mounter, { root: share, rel: 'a.moved/m' })).toBe(true);
  expect(mountPoints()).not.toContain(path.join(share, 'a.moved/m'));
  expect(await unmountBeneath(mounter, { root: share, rel: 'a.moved/m' })).toBe(false);
});
