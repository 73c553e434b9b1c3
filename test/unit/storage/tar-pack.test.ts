/**
 * A tar stream whose reader goes away in the middle (a client closing its connection during
 * `docker cp` or `docker export`): the stream ends, no error escapes to the event loop (which
 * would end the daemon), and no file of the tree is left open. Before tar-pack.ts, each of
 * these cases threw "tar entry destroyed" out of the event loop and left the file open.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packTree } from '../../../src/storage/archive/tar-out';

let root: string;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-tarpack-'));
  fs.mkdirSync(path.join(root, 'sub'));
  fs.writeFileSync(path.join(root, 'big'), Buffer.alloc(2_000_000, 1));
  for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(root, 'sub', `f${i}`), 'x'.repeat(100));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function openFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(`${dir}/`)) out.push(target);
    } catch {
      // closed while listing
    }
  }
  return out;
}

test('a reader that stops after a few chunks ends the tree tar without an uncaught error or an open file', async () => {
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown) => uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  try {
    for (const after of [1, 2, 3, 8, 12, 20]) {
      const dir = await fs.promises.open(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      try {
        const tar = packTree(dir, undefined, '');
        let chunks = 0;
        const ended = await new Promise<string>((resolve) => {
          tar.on('data', () => {
            if (++chunks === after) {
              tar.destroy();
              resolve('destroyed');
            }
          });
          tar.on('end', () => resolve('ended'));
          tar.on('error', () => resolve('error'));
        });
        expect(ended).toBe('destroyed');
        for (let i = 0; i < 50 && openFilesUnder(root).length; i++) await new Promise((r) => setTimeout(r, 20));
        expect(openFilesUnder(root)).toEqual([]);
      } finally {
        await dir.close();
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  } finally {
    process.off('uncaughtException', onUncaught);
  }
  expect(uncaught).toEqual([]);
});
