/**
 * A tree deeper than any path (issue 67 item 5b): the walk holds one descriptor per level it is
 * in, so packTree leaves out what lies beyond PATH_MAX, as dockerd does (its lstat fails with
 * ENAMETOOLONG and it goes on): the archive ends whole, with every entry up to that length and
 * the tree's other entries after it, and the walk never holds more descriptors than that depth.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tar from 'tar-stream';
import { MAX_PATH_BYTES, packTree } from '../../../src/storage/archive/tar-out';
import { makeDeepTree } from '../../helpers/deep-tree';

const LEVELS = 5000;
let root: string;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-deep-'));
  fs.mkdirSync(path.join(root, 'data'));
  makeDeepTree(path.join(root, 'data'), LEVELS);
});
afterAll(() => execFileSync('rm', ['-rf', root]));

function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

test('entries beyond PATH_MAX are left out, as dockerd leaves them; the rest is archived and the descriptors stay bounded', async () => {
  const dir = await fs.promises.open(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  const before = openFds();
  let most = 0;
  const names: string[] = [];
  try {
    // `docker cp c:/data -`: the entries' paths in the container are `/` + their tar names.
    const stream = packTree(dir, 'data', 'data', { prefixBytes: 1 });
    const extract = tar.extract();
    await new Promise<void>((resolve, reject) => {
      extract.on('entry', (h, body, next) => {
        names.push(h.name);
        if (names.length % 100 === 0) most = Math.max(most, openFds() - before);
        body.on('end', next).resume();
      });
      extract.on('finish', resolve);
      extract.on('error', reject);
      stream.on('error', reject);
      stream.pipe(extract);
    });
  } finally {
    await dir.close();
  }
  // dockerd's answer for this tree: `data/`, then `d/` levels while `/data/d/.../d` fits in
  // 4095 bytes (2045 of them), then the file beside them; no leaf.
  const deepest = (MAX_PATH_BYTES - '/data'.length) / 2;
  expect(deepest).toBe(2045);
  expect(names).toHaveLength(1 + 2045 + 1);
  expect(names[0]).toBe('data/');
  expect(names[2045]).toBe(`data/${'d/'.repeat(2045)}`);
  expect(names[2046]).toBe('data/z-after');
  expect(names.some((n) => n.endsWith('leaf'))).toBe(false);
  expect(most).toBeGreaterThan(100);
  expect(most).toBeLessThanOrEqual(2045 + 16);
});
