/**
 * Mounter on real mounts (root, no VM): bind and tmpfs mounts with and without a working
 * directory, paths no line framing could carry, the system's error for a bad request, many
 * requests at once answered in order, and a helper killed under it replaced on the next call.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { isMountPoint, Mounter, mountsBelow, MS_BIND } from '../../../src/util/mounter';
import { mountsUnder } from '../../helpers/leaks';

let tmp: string;
let mounter: Mounter;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-mounter-'));
  mounter = new Mounter();
});

afterEach(() => {
  mounter.close();
  for (const m of mountsUnder(tmp).reverse()) execFileSync('umount', ['-l', m]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

function dir(name: string, file?: string): string {
  const d = path.join(tmp, name);
  fs.mkdirSync(d, { recursive: true });
  if (file) fs.writeFileSync(path.join(d, 'f'), file);
  return d;
}

test('bind-mounts a directory and unmounts it', async () => {
  const src = dir('src', 'hello');
  const dst = dir('dst');
  await mounter.mount({ source: src, target: dst, flags: MS_BIND });
  expect(isMountPoint(dst)).toBe(true);
  expect(fs.readFileSync(path.join(dst, 'f'), 'utf8')).toBe('hello');
  await mounter.unmount(dst);
  expect(isMountPoint(dst)).toBe(false);
  expect(fs.existsSync(path.join(dst, 'f'))).toBe(false);
});

test('paths with spaces, newlines and non-ASCII names arrive intact', async () => {
  const src = dir('so\nurce dir é', 'odd');
  const dst = dir('tar get\n2');
  await mounter.mount({ source: src, target: dst, flags: MS_BIND });
  expect(fs.readFileSync(path.join(dst, 'f'), 'utf8')).toBe('odd');
  // The mount table escapes those characters; reading it gives the real path back.
  expect(mountsBelow(tmp)).toEqual([dst]);
  await mounter.unmount(dst, { detach: true });
  expect(isMountPoint(dst)).toBe(false);
  expect(mountsBelow(tmp)).toEqual([]);
});

test('a filesystem with options, relative to a working directory', async () => {
  const base = dir('base');
  const dst = dir('base/mnt');
  await mounter.mount({ source: 'tmpfs', target: 'mnt', fstype: 'tmpfs', data: 'size=1m,mode=0710', cwd: base });
  expect(isMountPoint(dst)).toBe(true);
  expect((fs.statSync(dst).mode & 0o7777).toString(8)).toBe('710');
  await mounter.unmount(dst);
  expect(isMountPoint(dst)).toBe(false);
});

test("a bad request fails with the system's error and changes nothing", async () => {
  const src = dir('src');
  await expect(mounter.mount({ source: src, target: path.join(tmp, 'missing'), flags: MS_BIND })).rejects.toThrow(
    /mount bind .* on .*missing: No such file or directory/,
  );
  await expect(mounter.unmount(src)).rejects.toThrow(/umount .*src: Invalid argument/);
  await expect(mounter.mount({ source: 'x', target: dir('t'), fstype: 'no-such-fs' })).rejects.toThrow(
    /No such device/,
  );
  expect(mountsUnder(tmp)).toEqual([]);
});

test('many requests at once are answered in order, each with its own result', async () => {
  const src = dir('src', 'x');
  const targets = Array.from({ length: 12 }, (_, i) => dir(`t${i}`));
  const results = await Promise.allSettled(
    targets.map((t, i) =>
      mounter.mount({ source: i % 3 === 2 ? path.join(tmp, 'nope') : src, target: t, flags: MS_BIND }),
    ),
  );
  expect(results.map((r) => r.status)).toEqual(targets.map((_, i) => (i % 3 === 2 ? 'rejected' : 'fulfilled')));
  targets.forEach((t, i) => expect(isMountPoint(t)).toBe(i % 3 !== 2));
  await Promise.all(targets.filter((_, i) => i % 3 !== 2).map((t) => mounter.unmount(t)));
  expect(mountsUnder(tmp)).toEqual([]);
});

test('a helper that died is replaced by the next request', async () => {
  const src = dir('src', 'y');
  const dst = dir('dst');
  await mounter.mount({ source: src, target: dst, flags: MS_BIND });
  const pid = mounter.helperPid;
  expect(pid).toBeGreaterThan(0);
  process.kill(pid!, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 100));
  await mounter.unmount(dst);
  expect(isMountPoint(dst)).toBe(false);
});
