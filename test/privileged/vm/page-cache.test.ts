/**
 * readIntoPageCache (src/vm/qemu/memory/post-boot-reclaim.ts): after the post-boot page-out has dropped the
 * boot files from the page cache, they are read in again (unmapped) for the next boot.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readIntoPageCache } from '../../../src/vm/qemu/memory/post-boot-reclaim';

let dir: string;

beforeEach(() => {
  // On disk (not a tmpfs /tmp): only then does dropping a file from the page cache mean anything.
  dir = fs.mkdtempSync('/var/tmp/pv-pagecache-');
});

afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Bytes of `file` in the page cache (util-linux fincore). */
function cachedBytes(file: string): number {
  return Number(
    execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], { encoding: 'utf8' }).trim(),
  );
}

/** Write `file` to disk and drop it from the page cache. */
function writeUncached(file: string, bytes: number): void {
  fs.writeFileSync(file, crypto.randomBytes(bytes));
  execFileSync('sync', [file]);
  execFileSync('python3', [
    '-c',
    `import os; fd = os.open(${JSON.stringify(file)}, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)`,
  ]);
}

test('reads every file into the page cache, whole', async () => {
  const a = path.join(dir, 'kernel');
  const b = path.join(dir, 'initrd');
  writeUncached(a, 3 << 20);
  writeUncached(b, (1 << 20) + 12345);
  const before = cachedBytes(a) + cachedBytes(b);
  await readIntoPageCache([a, b]);
  expect(cachedBytes(a)).toBe(3 << 20);
  expect(cachedBytes(b)).toBeGreaterThanOrEqual((1 << 20) + 12345);
  expect(before).toBeLessThan(1 << 20); // the test's own precondition: they were not cached
});

test('a missing file is skipped without an error, the others still read', async () => {
  const a = path.join(dir, 'kernel');
  writeUncached(a, 1 << 20);
  await expect(readIntoPageCache([path.join(dir, 'missing'), a])).resolves.toBeUndefined();
  expect(cachedBytes(a)).toBe(1 << 20);
});
