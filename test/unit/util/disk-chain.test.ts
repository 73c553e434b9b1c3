import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  backingOf,
  copyDisk,
  isOverlay,
  makeOverlay,
  MAX_BACKING_FILES,
  removeDisk,
} from '../../../src/util/disk-chain';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'disk-chain-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A raw disk of 16 GiB holding `text` at its start. */
function rawDisk(name: string, text: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  fs.truncateSync(f, 16 * 1024 ** 3);
  return f;
}

const inode = (f: string) => fs.statSync(f).ino;

describe('copy-on-write disks', () => {
  it('makes an overlay a small qcow2 standing on a read-only link of its base', async () => {
    const base = rawDisk('base.ext4', 'base');
    const fork = path.join(dir, 'fork', 'upper.ext4');
    fs.mkdirSync(path.dirname(fork));
    await makeOverlay(base, fork);
    expect(isOverlay(fork)).toBe(true);
    expect(isOverlay(base)).toBe(false);
    expect(fs.readFileSync(fork).subarray(0, 4).toString('latin1')).toBe('QFI\xfb');
    expect(fs.readFileSync(fork).readBigUInt64BE(24)).toBe(BigInt(16 * 1024 ** 3));
    expect(fs.statSync(fork).size).toBe(256 * 1024);
    const [under] = backingOf(fork);
    expect(backingOf(fork)).toHaveLength(1);
    expect(inode(under)).toBe(inode(base));
    expect(fs.statSync(base).mode & 0o777).toBe(0o400);
    // The base removed (its checkpoint removed): the fork's link keeps it.
    fs.rmSync(base);
    const fd = fs.openSync(under, 'r');
    const head = Buffer.alloc(4);
    fs.readSync(fd, head, 0, 4, 0);
    fs.closeSync(fd);
    expect(head.toString('latin1')).toBe('base');
    await removeDisk(fork);
    expect(fs.readdirSync(path.dirname(fork))).toEqual([]);
  });

  it('copies an overlay as its own file and the links under it, and stacks an overlay on that copy', async () => {
    const base = rawDisk('base.ext4', 'base');
    const a = path.join(dir, 'a');
    await makeOverlay(base, a);
    fs.appendFileSync(a, 'written by a guest');
    const saved = path.join(dir, 'saved');
    await copyDisk(a, saved);
    expect(fs.readFileSync(saved).equals(fs.readFileSync(a))).toBe(true);
    expect(inode(saved)).not.toBe(inode(a));
    expect(backingOf(saved).map(inode)).toEqual([inode(base)]);
    const b = path.join(dir, 'b');
    await makeOverlay(saved, b);
    expect(backingOf(b).map(inode)).toEqual([inode(saved), inode(base)]);
    // In place of a disk there: a restore's disk over the container's earlier one.
    await makeOverlay(base, b);
    expect(backingOf(b).map(inode)).toEqual([inode(base)]);
    expect(fs.readdirSync(dir).sort()).toEqual([
      'a',
      'a.backing',
      'b',
      'b.backing',
      'base.ext4',
      'saved',
      'saved.backing',
    ]);
  });

  it('copies a raw disk as a raw disk', async () => {
    const base = rawDisk('base.ext4', 'base');
    await copyDisk(base, path.join(dir, 'copy'));
    expect(isOverlay(path.join(dir, 'copy'))).toBe(false);
    expect(fs.statSync(path.join(dir, 'copy')).size).toBe(16 * 1024 ** 3);
  });

  it(`refuses a disk on more than ${MAX_BACKING_FILES} files, leaving nothing`, async () => {
    let disk = rawDisk('base.ext4', 'base');
    for (let i = 0; i < MAX_BACKING_FILES; i++) {
      const next = path.join(dir, `d${i}`);
      await makeOverlay(disk, next);
      disk = next;
    }
    await expect(makeOverlay(disk, path.join(dir, 'last'))).rejects.toThrow(/at most 16/);
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('last'))).toEqual([]);
  });
});
