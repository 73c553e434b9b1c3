import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createSparseFile } from '../../../src/util/sparse-file';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparse-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test('a new file of the size asked, all holes, owner-only', async () => {
  const f = path.join(dir, 'disk');
  await createSparseFile(f, 64 << 20);
  const st = fs.statSync(f);
  expect(st.size).toBe(64 << 20);
  expect(st.blocks * 512).toBeLessThan(1 << 20);
  expect(st.mode & 0o777).toBe(0o600);
});

test('refuses a name that exists, as a file or as a symlink, and follows neither', async () => {
  const f = path.join(dir, 'taken');
  fs.writeFileSync(f, 'kept');
  await expect(createSparseFile(f, 1024)).rejects.toMatchObject({ code: 'EEXIST' });
  expect(fs.readFileSync(f, 'utf8')).toBe('kept');
  const target = path.join(dir, 'target');
  fs.symlinkSync(target, path.join(dir, 'link'));
  await expect(createSparseFile(path.join(dir, 'link'), 1024)).rejects.toMatchObject({ code: 'EEXIST' });
  expect(fs.existsSync(target)).toBe(false);
});
