/**
 * A user's host path resolved once, at create, and opened after that with no symlink followed
 * (src/util/host-path.ts): the user's own symlinks are followed at create; a component a
 * container later swaps for a symlink, or a source that became a FIFO, is refused; a file
 * replaced by rename (an editor's save) is what the next open finds.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { canonicalHostPath, HostPathChangedError, openHostPath } from '../../../src/util/host-path';

let dir: string;

beforeEach(() => {
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'pv-host-path-')));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const openAndClose = async (p: string, create = false) => {
  const o = await openHostPath(p, { createDirectory: create });
  await o.fh.close();
  return o;
};

test('at create, the user’s own symlinks are followed and the missing rest is kept as written', async () => {
  fs.mkdirSync(path.join(dir, 'real', 'sub'), { recursive: true });
  fs.symlinkSync(path.join(dir, 'real'), path.join(dir, 'link'));
  expect(await canonicalHostPath(path.join(dir, 'link', 'sub'))).toBe(path.join(dir, 'real', 'sub'));
  expect(await canonicalHostPath(path.join(dir, 'link', 'new', 'deeper'))).toBe(
    path.join(dir, 'real', 'new', 'deeper'),
  );
  expect(await canonicalHostPath(`${dir}//link/./sub/../sub`)).toBe(path.join(dir, 'real', 'sub'));
  // A dangling link: the part that exists is resolved, the link kept as a name below it.
  fs.symlinkSync(path.join(dir, 'nowhere'), path.join(dir, 'dangling'));
  expect(await canonicalHostPath(path.join(dir, 'dangling'))).toBe(path.join(dir, 'dangling'));
  expect(await canonicalHostPath('/')).toBe('/');
});

test('a directory on the path swapped for a symlink after create is refused, and the file it points at never opened', async () => {
  fs.mkdirSync(path.join(dir, 'app', 'conf'), { recursive: true });
  const pinned = await canonicalHostPath(path.join(dir, 'app', 'conf'));
  expect((await openAndClose(pinned)).kind).toBe('directory');
  // The container (with app bound) swaps conf for a link to a host directory outside it.
  fs.mkdirSync(path.join(dir, 'secret'));
  fs.rmSync(path.join(dir, 'app', 'conf'), { recursive: true });
  fs.symlinkSync(path.join(dir, 'secret'), path.join(dir, 'app', 'conf'));
  await expect(openHostPath(pinned)).rejects.toThrow(HostPathChangedError);
  await expect(openHostPath(pinned)).rejects.toThrow(/conf: a symlink/);
});

test('a parent directory swapped for a symlink is refused as well', async () => {
  fs.mkdirSync(path.join(dir, 'a', 'b'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'a', 'b', 'f'), 'mine');
  const pinned = await canonicalHostPath(path.join(dir, 'a', 'b', 'f'));
  expect((await openAndClose(pinned)).kind).toBe('file');
  fs.mkdirSync(path.join(dir, 'x'));
  fs.writeFileSync(path.join(dir, 'x', 'f'), 'host secret');
  fs.renameSync(path.join(dir, 'a', 'b'), path.join(dir, 'a', 'old'));
  fs.symlinkSync(path.join(dir, 'x'), path.join(dir, 'a', 'b'));
  await expect(openHostPath(pinned)).rejects.toThrow(HostPathChangedError);
});

test('a file saved by rename (a new inode at the same path) is what the next open finds', async () => {
  const f = path.join(dir, 'config.yml');
  fs.writeFileSync(f, 'v1');
  const pinned = await canonicalHostPath(f);
  const before = await openAndClose(pinned);
  fs.writeFileSync(`${f}.tmp`, 'v2');
  fs.renameSync(`${f}.tmp`, f);
  const after = await openAndClose(pinned);
  expect(after.kind).toBe('file');
  expect(after.stat.ino).not.toBe(before.stat.ino);
});

test('a source that became a FIFO is refused by kind; a missing one is ENOENT unless it is to be made', async () => {
  const p = path.join(dir, 'src');
  fs.writeFileSync(p, '');
  const pinned = await canonicalHostPath(p);
  fs.rmSync(p);
  execFileSync('mkfifo', [p]);
  await expect(openHostPath(pinned)).rejects.toMatchObject({ special: true, found: 'a FIFO' });
  const missing = path.join(dir, 'made', 'here');
  await expect(openHostPath(missing)).rejects.toMatchObject({ code: 'ENOENT' });
  expect((await openAndClose(missing, true)).kind).toBe('directory');
  expect(fs.statSync(missing).mode & 0o777).toBe(0o755);
});

test('a path that is not canonical is refused before any open', async () => {
  await expect(openHostPath('relative/path')).rejects.toThrow(HostPathChangedError);
  await expect(openHostPath(`${dir}/../x`)).rejects.toThrow(HostPathChangedError);
});
