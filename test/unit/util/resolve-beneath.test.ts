/**
 * A guest's path beneath a share resolved in one openat2 call (src/util/resolve-beneath.ts),
 * on a real directory of this machine: what it opens, and everything it refuses (a symlink
 * anywhere, `..`, a /proc magic link, another kind, a path past PATH_MAX), with no fd left in
 * the daemon or in the helper.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { closeResolveHelper, openGuestFile, openGuestPath, resolveHelperPid } from '../../../src/util/resolve-beneath';

let dir: string;
let root: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-resolve-'));
  root = path.join(dir, 'share');
  fs.mkdirSync(path.join(root, 'a', 'b'), { recursive: true });
  fs.writeFileSync(path.join(root, 'a', 'b', 'f'), 'x');
  fs.writeFileSync(path.join(dir, 'secret'), 'outside');
  fs.symlinkSync(dir, path.join(root, 'a', 'up'));
  fs.symlinkSync('/proc/self/root', path.join(root, 'a', 'magic'));
  fs.symlinkSync('b/f', path.join(root, 'a', 'last'));
});

afterEach(() => execFileSync('rm', ['-rf', dir]));
afterAll(() => closeResolveHelper());

const codeOf = (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => 'opened',
    (e: NodeJS.ErrnoException) => e.code,
  );

test('opens a directory or a file of the kind asked, and holds its inode', async () => {
  const d = await openGuestPath({ root, rel: 'a/b' }, 'dir');
  expect((await d.stat()).ino).toBe(fs.statSync(path.join(root, 'a', 'b')).ino);
  await d.close();
  const f = await openGuestFile({ root, rel: 'a/b/f' }, 'any');
  expect((await f.stat()).ino).toBe(fs.statSync(path.join(root, 'a', 'b', 'f')).ino);
  await f.close();
});

test('refuses a symlink anywhere, `..`, a magic link, another kind and a path past PATH_MAX', async () => {
  expect(await codeOf(openGuestPath({ root, rel: 'a/up/secret' }, 'any'))).toBe('ELOOP');
  expect(await codeOf(openGuestPath({ root, rel: 'a/magic' }, 'any'))).toBe('ELOOP');
  expect(await codeOf(openGuestPath({ root, rel: 'a/last' }, 'any'))).toBe('ELOOP');
  // The last name opened O_PATH|O_NOFOLLOW is the symlink itself: refused for its kind.
  expect(await codeOf(openGuestFile({ root, rel: 'a/last' }, 'any'))).not.toBe('opened');
  expect(await codeOf(openGuestPath({ root, rel: 'a/../../secret' }, 'any'))).toBe('EINVAL');
  expect(await codeOf(openGuestPath({ root, rel: 'a/b/f' }, 'dir'))).toMatch(/ENOTDIR/);
  expect(await codeOf(openGuestPath({ root, rel: 'a/nope' }, 'any'))).toBe('ENOENT');
  expect(await codeOf(openGuestPath({ root, rel: 'a/'.repeat(2100) + 'f' }, 'any'))).toBe('ENAMETOOLONG');
});

test('leaves no fd open in the daemon or in the helper', async () => {
  await (await openGuestPath({ root, rel: 'a/b' }, 'dir')).close();
  const helper = resolveHelperPid()!;
  const fds = (pid: number | string): number => fs.readdirSync(`/proc/${pid}/fd`).length;
  const [mine, its] = [fds('self'), fds(helper)];
  for (let i = 0; i < 200; i++) {
    await (await openGuestPath({ root, rel: 'a/b' }, 'dir')).close();
    await codeOf(openGuestPath({ root, rel: 'a/up/secret' }, 'any'));
  }
  // The helper closes its copy after the daemon took it, so a round trip answers the ones before
  // it; under load the last close can still be on its way: a few more round trips, at most, let
  // it land (a leak of the 400 opens above would stay).
  for (let i = 0; i < 10 && (fds('self') > mine || fds(helper) > its); i++)
    await codeOf(openGuestPath({ root, rel: 'a/b' }, 'dir').then((f) => f.close()));
  expect(fds('self')).toBeLessThanOrEqual(mine);
  expect(fds(helper)).toBeLessThanOrEqual(its);
});
