/**
 * removeTree (src/util/remove-tree.ts) removes a tree deeper than PATH_MAX, which fs.rm cannot
 * (every entry named by its full path: ENAMETOOLONG), and anything shallower as fs.rm does;
 * removeGuestTree removes a tree a guest still writes, never entering a directory swapped for a
 * symlink while it works.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { removeGuestTree, removeTree } from '../../../src/util/remove-tree';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-rmtree-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Make `levels` nested directories of `name` under `dir` (relative to open directories), a file at the bottom. */
function deepTree(dir: string, name: string, levels: number): void {
  let fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  for (let i = 0; i < levels; i++) {
    fs.mkdirSync(`/proc/self/fd/${fd}/${name}`);
    const next = fs.openSync(`/proc/self/fd/${fd}/${name}`, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    fs.closeSync(fd);
    fd = next;
  }
  fs.writeFileSync(`/proc/self/fd/${fd}/bottom`, 'x');
  fs.closeSync(fd);
}

test('a tree deeper than PATH_MAX goes (fs.rm alone fails on it)', async () => {
  const root = path.join(tmp, 'deep');
  fs.mkdirSync(root);
  deepTree(root, 'd'.repeat(100), 60);
  await expect(fs.promises.rm(root, { recursive: true, force: true })).rejects.toMatchObject({ code: 'ENAMETOOLONG' });
  await removeTree(root);
  expect(fs.existsSync(root)).toBe(false);
});

test('a plain tree goes, a missing one is no error', async () => {
  const root = path.join(tmp, 'plain');
  fs.mkdirSync(path.join(root, 'a', 'b'), { recursive: true });
  fs.writeFileSync(path.join(root, 'a', 'b', 'f'), 'x');
  await removeTree(root);
  expect(fs.existsSync(root)).toBe(false);
  await removeTree(root);
});

test('removeGuestTree never removes what a directory swapped for a symlink while it works leads to', async () => {
  const outside = path.join(tmp, 'outside');
  fs.mkdirSync(outside);
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(outside, `host-${i}`), 'keep');
  for (let round = 0; round < 5; round++) {
    const root = path.join(tmp, `upper-${round}`);
    for (let i = 0; i < 50; i++) {
      fs.mkdirSync(path.join(root, `d${i}`, 'inner'), { recursive: true });
      for (let j = 0; j < 20; j++) fs.writeFileSync(path.join(root, `d${i}`, 'inner', `f${j}`), 'x');
    }
    // The guest: each directory in turn moved away and replaced by a symlink to the outside.
    let done = false;
    const swapper = (async () => {
      for (let i = 0; !done; i = (i + 1) % 50) {
        try {
          fs.renameSync(path.join(root, `d${i}`), path.join(root, `m${i}`));
          fs.symlinkSync(outside, path.join(root, `d${i}`));
        } catch {
          // gone already
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    await removeGuestTree(root).catch(() => undefined);
    done = true;
    await swapper;
    await removeGuestTree(root);
    expect(fs.readdirSync(outside).length).toBe(20);
    expect(fs.existsSync(root)).toBe(false);
  }
  await removeGuestTree(path.join(tmp, 'missing'));
});
