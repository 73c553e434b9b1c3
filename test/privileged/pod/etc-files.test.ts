/**
 * Host-side /etc files of a container rootfs: the plain case is served, every unusual one
 * (symlinks anywhere, FIFOs, oversize, a missing root) is left to the agent, and nothing is
 * ever written through a symlink.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { FALLBACK, readEtcFile, writeEtcFile } from '../../../src/pod/etc-files';

let tmp: string;
let root: string;
let outside: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'etc-files-'));
  root = path.join(tmp, 'rootfs');
  outside = path.join(tmp, 'outside');
  fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'secret'), 'host secret\n');
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('writeEtcFile', () => {
  it('creates a missing file and rewrites an existing one with the given mode', async () => {
    expect(await writeEtcFile(root, 'hostname', Buffer.from('abc\n'), 0o644)).toBe(true);
    expect(fs.readFileSync(path.join(root, 'etc/hostname'), 'utf8')).toBe('abc\n');
    fs.writeFileSync(path.join(root, 'etc/hosts'), 'a much longer old content\n'.repeat(10), { mode: 0o600 });
    expect(await writeEtcFile(root, 'hosts', Buffer.from('new\n'), 0o644)).toBe(true);
    expect(fs.readFileSync(path.join(root, 'etc/hosts'), 'utf8')).toBe('new\n');
    expect(fs.statSync(path.join(root, 'etc/hosts')).mode & 0o777).toBe(0o644);
  });

  it('leaves a symlinked file or /etc, a FIFO or a missing root to the agent, writing nothing; makes a missing /etc', async () => {
    fs.symlinkSync(path.join(outside, 'secret'), path.join(root, 'etc/resolv.conf'));
    expect(await writeEtcFile(root, 'resolv.conf', Buffer.from('x'), 0o644)).toBe(FALLBACK);
    fs.symlinkSync('../../outside/secret', path.join(root, 'etc/hosts'));
    expect(await writeEtcFile(root, 'hosts', Buffer.from('x'), 0o644)).toBe(FALLBACK);
    execFileSync('mkfifo', [path.join(root, 'etc/hostname')]);
    expect(await writeEtcFile(root, 'hostname', Buffer.from('x'), 0o644)).toBe(FALLBACK);
    expect(fs.readFileSync(path.join(outside, 'secret'), 'utf8')).toBe('host secret\n');

    const other = path.join(tmp, 'rootfs2');
    fs.mkdirSync(other);
    fs.symlinkSync(outside, path.join(other, 'etc'));
    expect(await writeEtcFile(other, 'hostname', Buffer.from('x'), 0o644)).toBe(FALLBACK);
    expect(fs.existsSync(path.join(outside, 'hostname'))).toBe(false);

    // A root without /etc (an image built FROM scratch) gets one, 0755, as dockerd gives every
    // container an /etc.
    const noEtc = path.join(tmp, 'rootfs3');
    fs.mkdirSync(noEtc);
    expect(await writeEtcFile(noEtc, 'hostname', Buffer.from('x'), 0o644)).toBe(true);
    expect(fs.statSync(path.join(noEtc, 'etc')).mode & 0o777).toBe(0o755);
    expect(fs.readFileSync(path.join(noEtc, 'etc/hostname'), 'utf8')).toBe('x');
    expect(await writeEtcFile(path.join(tmp, 'missing'), 'hostname', Buffer.from('x'), 0o644)).toBe(FALLBACK);
  });

  it('refuses names that are not plain file names', async () => {
    await expect(writeEtcFile(root, '../x', Buffer.from('x'), 0o644)).rejects.toThrow(/not a plain file name/);
  });
});

describe('readEtcFile', () => {
  it('reads a regular file; a missing file or /etc is undefined', async () => {
    fs.writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    expect(await readEtcFile(root, 'passwd', 1 << 20)).toBe('root:x:0:0:root:/root:/bin/sh\n');
    expect(await readEtcFile(root, 'group', 1 << 20)).toBeUndefined();
    const noEtc = path.join(tmp, 'rootfs3');
    fs.mkdirSync(noEtc);
    expect(await readEtcFile(noEtc, 'passwd', 1 << 20)).toBeUndefined();
  });

  it('leaves symlinks, FIFOs, oversize files and a missing root to the agent', async () => {
    fs.symlinkSync(path.join(outside, 'secret'), path.join(root, 'etc/passwd'));
    expect(await readEtcFile(root, 'passwd', 1 << 20)).toBe(FALLBACK);
    execFileSync('mkfifo', [path.join(root, 'etc/group')]);
    expect(await readEtcFile(root, 'group', 1 << 20)).toBe(FALLBACK);
    fs.writeFileSync(path.join(root, 'etc/big'), 'x'.repeat(100));
    expect(await readEtcFile(root, 'big', 10)).toBe(FALLBACK);
    const other = path.join(tmp, 'rootfs2');
    fs.mkdirSync(other);
    fs.symlinkSync(outside, path.join(other, 'etc'));
    expect(await readEtcFile(other, 'secret', 1 << 20)).toBe(FALLBACK);
    expect(await readEtcFile(path.join(tmp, 'missing'), 'passwd', 1 << 20)).toBe(FALLBACK);
  });
});
