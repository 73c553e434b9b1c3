/**
 * No folder of src holds more than MAX_FILES files: a folder that grows past it is split into
 * folders by concern (docs/architecture.md, "Where things live"), so that a folder's name says
 * what its files are about and a reader can take in one folder at a time.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const SRC = path.resolve(__dirname, '../../../src');

/** The most files one folder of src may hold (its sub-folders' files not counted). */
const MAX_FILES = 30;

/** Each folder under `root` (itself included, relative to `base`, `/`-separated) with its count of files. */
function folderSizes(root: string, base = root): Array<[string, number]> {
  const entries = fs.readdirSync(root, { withFileTypes: true });
  const rel = path.relative(base, root).split(path.sep).join('/') || '.';
  const own: Array<[string, number]> = [[rel, entries.filter((e) => e.isFile()).length]];
  return own.concat(...entries.filter((e) => e.isDirectory()).map((e) => folderSizes(path.join(root, e.name), base)));
}

/** The folders of a tree that hold more than `max` files, each as `folder: count`. */
function oversized(sizes: Array<[string, number]>, max: number): string[] {
  return sizes.filter(([, n]) => n > max).map(([dir, n]) => `${dir}: ${n}`);
}

test(`no folder of src holds more than ${MAX_FILES} files`, () => {
  expect(oversized(folderSizes(SRC), MAX_FILES)).toEqual([]);
});

test('the count sees every folder of the real tree, nested ones included', () => {
  const sizes = new Map(folderSizes(SRC));
  expect(sizes.get('.')).toBeGreaterThan(0);
  expect(sizes.get('pod')).toBeGreaterThan(0);
  expect(sizes.get('api/cri/streaming/spdy')).toBeGreaterThan(0);
});

test('a folder over the limit is named with its count', () => {
  expect(
    oversized(
      [
        ['pod', 31],
        ['vm', 30],
      ],
      MAX_FILES,
    ),
  ).toEqual(['pod: 31']);
});
