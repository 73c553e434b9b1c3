/**
 * The size walks of `docker ps -s` and `docker system df` (src/storage/tree-walk.ts) over a
 * tree a guest writes: a symlink is never entered, nor a directory that the guest swaps for a
 * symlink to a host directory after the host saw it as a directory.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { treeSize, walkNoFollow } from '../../../src/storage/tree-walk';
import { VolumeStore } from '../../../src/storage/volumes';

let tmp: string;
/** A host directory outside the tree, with 1000 bytes the walk must never count. */
let outside: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-tree-walk-'));
  outside = path.join(tmp, 'outside');
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'host-file'), Buffer.alloc(1000));
});
afterEach(() => {
  jest.restoreAllMocks();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A tree: a/b (3 bytes), a/sub/c (4 bytes), and a symlink `link` to the outside directory. */
function makeTree(dir: string): void {
  fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'b'), 'xyz');
  fs.writeFileSync(path.join(dir, 'sub', 'c'), 'abcd');
  fs.symlinkSync(outside, path.join(dir, 'link'));
}

/** Rename `sub` of directory `dir` away and put a symlink to the outside directory in its place. */
function swapSub(dir: string): void {
  const parent = fs.realpathSync(dir);
  fs.renameSync(path.join(parent, 'sub'), path.join(parent, 'sub.moved'));
  fs.symlinkSync(outside, path.join(parent, 'sub'));
}

/**
 * Play the guest, once: as soon as the walk has listed the directory holding `sub`
 * ('listed'), or has looked at `sub` itself and seen a directory ('looked-at'), swap it.
 */
function swapSubOnce(when: 'listed' | 'looked-at'): void {
  let swapped = false;
  if (when === 'listed') {
    const real = fs.promises.readdir.bind(fs.promises) as (p: fs.PathLike, o?: unknown) => Promise<unknown[]>;
    jest.spyOn(fs.promises, 'readdir').mockImplementation((async (p: fs.PathLike, o?: unknown) => {
      const names = await real(p, o);
      const has = names.some((n) => (typeof n === 'string' ? n : (n as fs.Dirent).name) === 'sub');
      if (!swapped && has) {
        swapped = true;
        swapSub(String(p));
      }
      return names;
    }) as typeof fs.promises.readdir);
    return;
  }
  const real = fs.promises.lstat.bind(fs.promises);
  jest.spyOn(fs.promises, 'lstat').mockImplementation((async (p: fs.PathLike, opts?: fs.StatOptions) => {
    const st = await real(p, opts as fs.StatOptions & { bigint: true });
    if (!swapped && String(p).endsWith('/sub') && st.isDirectory()) {
      swapped = true;
      swapSub(path.dirname(String(p)));
    }
    return st;
  }) as typeof fs.promises.lstat);
}

test('counts regular files and never enters a symlink', async () => {
  const dir = path.join(tmp, 'upper');
  makeTree(dir);
  expect(await treeSize(dir)).toBe(7);
  const seen: string[] = [];
  await walkNoFollow(dir, (st) => seen.push(st.isSymbolicLink() ? 'link' : `file:${st.size}`));
  expect(seen.sort()).toEqual(['file:3', 'file:4', 'link']);
  expect(await treeSize(path.join(tmp, 'missing'))).toBe(0);
});

test.each(['listed', 'looked-at'] as const)(
  'a directory swapped for a symlink once the walk %s it is not entered: nothing outside is counted',
  async (when) => {
    const dir = path.join(tmp, 'upper');
    makeTree(dir);
    swapSubOnce(when);
    // b only: sub was a directory when listed or looked at, a symlink to the outside after.
    expect(await treeSize(dir)).toBe(3);
    expect(fs.lstatSync(path.join(dir, 'sub')).isSymbolicLink()).toBe(true);
  },
);

test('the root named by a symlink is not walked', async () => {
  const link = path.join(tmp, 'upper-link');
  fs.symlinkSync(outside, link);
  expect(await treeSize(link)).toBe(0);
});

test.each([
  ['listed', 'the symlink now at sub counted as one'],
  ['looked-at', 'sub skipped'],
] as const)(
  "a volume's size (system df) never counts what a directory swapped once the walk %s it leads to (%s)",
  async (when, _what) => {
    const s = await VolumeStore.open(path.join(tmp, 'root'));
    await s.create({ name: 'vol' });
    makeTree(s.dataDir('vol'));
    // Everything but directories, the symlink's own size too.
    const linkSize = fs.lstatSync(path.join(s.dataDir('vol'), 'link')).size;
    expect(await s.size('vol')).toBe(7 + linkSize);
    swapSubOnce(when);
    // b and link; and the symlink at sub when it was swapped before the walk looked at it (both
    // symlinks lead to the same place: the same size).
    expect(await s.size('vol')).toBe(3 + linkSize + (when === 'listed' ? linkSize : 0));
  },
);
