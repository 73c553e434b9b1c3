/**
 * Host-side /etc files of a container rootfs: the plain case is served, every unusual one
 * (symlinks anywhere, FIFOs, oversize, a missing root) is left to the agent, and nothing is
 * ever written through a symlink.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { FALLBACK, readEtcFile, writeEtcFile } from '../../../src/pod/mounts/etc-files';

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

/** `p` as a path below tmp (which stands for the VM's share directory). */
const under = (p: string) => ({ root: tmp, rel: path.relative(tmp, p) });

describe('writeEtcFile', () => {
  it('creates a missing file and rewrites an existing one with the given mode', async () => {
    expect(await writeEtcFile(under(root), 'hostname', Buffer.from('abc\n'), 0o644)).toBe(true);
    expect(fs.readFileSync(path.join(root, 'etc/hostname'), 'utf8')).toBe('abc\n');
    fs.writeFileSync(path.join(root, 'etc/hosts'), 'a much longer old content\n'.repeat(10), { mode: 0o600 });
    expect(await writeEtcFile(under(root), 'hosts', Buffer.from('new\n'), 0o644)).toBe(true);
    expect(fs.readFileSync(path.join(root, 'etc/hosts'), 'utf8')).toBe('new\n');
    expect(fs.statSync(path.join(root, 'etc/hosts')).mode & 0o777).toBe(0o644);
  });

  it('leaves a symlinked file or /etc, a FIFO or a missing root to the agent, writing nothing; makes a missing /etc', async () => {
    fs.symlinkSync(path.join(outside, 'secret'), path.join(root, 'etc/resolv.conf'));
    expect(await writeEtcFile(under(root), 'resolv.conf', Buffer.from('x'), 0o644)).toBe(FALLBACK);
    fs.symlinkSync('../../outside/secret', path.join(root, 'etc/hosts'));
    expect(await writeEtcFile(under(root), 'hosts', Buffer.from('x'), 0o644)).toBe(FALLBACK);
    execFileSync('mkfifo', [path.join(root, 'etc/hostname')]);
    expect(await writeEtcFile(under(root), 'hostname', Buffer.from('x'), 0o644)).toBe(FALLBACK);
    expect(fs.readFileSync(path.join(outside, 'secret'), 'utf8')).toBe('host secret\n');

    const other = path.join(tmp, 'rootfs2');
    fs.mkdirSync(other);
    fs.symlinkSync(outside, path.join(other, 'etc'));
    expect(await writeEtcFile(under(other), 'hostname', Buffer.from('x'), 0o644)).toBe(FALLBACK);
    expect(fs.existsSync(path.join(outside, 'hostname'))).toBe(false);

    // A root without /etc (an image built FROM scratch) gets one, 0755, as dockerd gives every
    // container an /etc.
    const noEtc = path.join(tmp, 'rootfs3');
    fs.mkdirSync(noEtc);
    expect(await writeEtcFile(under(noEtc), 'hostname', Buffer.from('x'), 0o644)).toBe(true);
    expect(fs.statSync(path.join(noEtc, 'etc')).mode & 0o777).toBe(0o755);
    expect(fs.readFileSync(path.join(noEtc, 'etc/hostname'), 'utf8')).toBe('x');
    expect(await writeEtcFile(under(path.join(tmp, 'missing')), 'hostname', Buffer.from('x'), 0o644)).toBe(FALLBACK);
  });

  it('refuses names that are not plain file names', async () => {
    await expect(writeEtcFile(under(root), '../x', Buffer.from('x'), 0o644)).rejects.toThrow(/not a plain file name/);
  });
});

describe('a share whose components a guest swaps', () => {
  it('never follows a symlink on the way to the root, nor /etc swapped for one while files are written', async () => {
    // containers/c1 a symlink to a host directory shaped like a rootfs: nothing is written there.
    fs.mkdirSync(path.join(tmp, 'decoy/rootfs/etc'), { recursive: true });
    fs.writeFileSync(path.join(tmp, 'decoy/rootfs/etc/hosts'), 'host file\n');
    fs.mkdirSync(path.join(tmp, 'containers'));
    fs.symlinkSync(path.join(tmp, 'decoy'), path.join(tmp, 'containers/c1'));
    const target = { root: tmp, rel: 'containers/c1/rootfs' };
    expect(await writeEtcFile(target, 'hosts', Buffer.from('x'), 0o644)).toBe(FALLBACK);
    expect(await readEtcFile(target, 'hosts', 1 << 20)).toBe(FALLBACK);
    expect(fs.readFileSync(path.join(tmp, 'decoy/rootfs/etc/hosts'), 'utf8')).toBe('host file\n');

    // /etc of a real root flipped between a directory and a symlink to the decoy's /etc while
    // the host writes: every write lands in the root's own /etc or falls back.
    const etc = path.join(root, 'etc');
    const decoyEtc = path.join(tmp, 'decoy/rootfs/etc');
    let flips = 0;
    let stop = false;
    // (The host makes a missing /etc again: whatever it made meanwhile is dropped.)
    const flipper = (async () => {
      while (!stop) {
        try {
          fs.renameSync(etc, `${etc}.real`);
          fs.rmSync(etc, { recursive: true, force: true });
          fs.symlinkSync(decoyEtc, etc);
          flips++;
        } catch {
          // the host made /etc again first: the next round
        }
        await new Promise((r) => setImmediate(r));
        fs.rmSync(etc, { recursive: true, force: true });
        if (fs.existsSync(`${etc}.real`)) fs.renameSync(`${etc}.real`, etc);
        await new Promise((r) => setImmediate(r));
      }
    })();
    for (let i = 0; i < 300; i++) await writeEtcFile(under(root), 'hosts', Buffer.from('pod\n'), 0o644);
    stop = true;
    await flipper;
    expect(flips).toBeGreaterThan(0);
    expect(fs.readdirSync(decoyEtc)).toEqual(['hosts']);
    expect(fs.readFileSync(path.join(decoyEtc, 'hosts'), 'utf8')).toBe('host file\n');
  });
});

describe('readEtcFile', () => {
  it('reads a regular file; a missing file or /etc is undefined', async () => {
    fs.writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    expect(await readEtcFile(under(root), 'passwd', 1 << 20)).toBe('root:x:0:0:root:/root:/bin/sh\n');
    expect(await readEtcFile(under(root), 'group', 1 << 20)).toBeUndefined();
    const noEtc = path.join(tmp, 'rootfs3');
    fs.mkdirSync(noEtc);
    expect(await readEtcFile(under(noEtc), 'passwd', 1 << 20)).toBeUndefined();
  });

  it('leaves symlinks, FIFOs, oversize files and a missing root to the agent', async () => {
    fs.symlinkSync(path.join(outside, 'secret'), path.join(root, 'etc/passwd'));
    expect(await readEtcFile(under(root), 'passwd', 1 << 20)).toBe(FALLBACK);
    execFileSync('mkfifo', [path.join(root, 'etc/group')]);
    expect(await readEtcFile(under(root), 'group', 1 << 20)).toBe(FALLBACK);
    fs.writeFileSync(path.join(root, 'etc/big'), 'x'.repeat(100));
    expect(await readEtcFile(under(root), 'big', 10)).toBe(FALLBACK);
    const other = path.join(tmp, 'rootfs2');
    fs.mkdirSync(other);
    fs.symlinkSync(outside, path.join(other, 'etc'));
    expect(await readEtcFile(under(other), 'secret', 1 << 20)).toBe(FALLBACK);
    expect(await readEtcFile(under(path.join(tmp, 'missing')), 'passwd', 1 << 20)).toBe(FALLBACK);
  });
});
