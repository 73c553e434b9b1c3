/**
 * removeTree (src/util/remove-tree.ts) removes a tree deeper than PATH_MAX, which fs.rm cannot
 * (every entry named by its full path: ENAMETOOLONG), and anything shallower as fs.rm does.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { removeTree } from '../../../src/util/remove-tree';

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
