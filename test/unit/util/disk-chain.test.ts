import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  backingOf,
  copyDisk,
  dropMergedFiles,
  FILES_A_CHECKPOINT_ADDS,
  isOverlay,
  makeOverlay,
  MAX_BACKING_FILES,
  mustFlattenForSave,
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

describe('flattening a chain at a save (issue 56)', () => {
  /** A disk `name` standing on `under` files: raw `base` at the bottom, overlays above it. */
  async function diskOn(name: string, under: number): Promise<{ disk: string; chain: string[] }> {
    let disk = rawDisk(`${name}-base`, 'base');
    for (let i = 1; i <= under; i++) {
      const next = path.join(dir, `${name}-${i}`);
      await makeOverlay(disk, next);
      disk = next;
    }
    return { disk, chain: backingOf(disk) };
  }

  it(`flattens before a save only when a fork of the checkpoint would stand on more than ${MAX_BACKING_FILES} files`, async () => {
    expect(FILES_A_CHECKPOINT_ADDS).toBe(2);
    expect(mustFlattenForSave(rawDisk('raw', 'raw'))).toBe(false);
    const limit = MAX_BACKING_FILES - FILES_A_CHECKPOINT_ADDS;
    expect(mustFlattenForSave((await diskOn('at', limit)).disk)).toBe(false);
    expect(mustFlattenForSave((await diskOn('past', limit + 1)).disk)).toBe(true);
  });

  it('drops the merged links, keeping the raw file at the bottom as 0, and nothing else of the disk', async () => {
    const { disk, chain } = await diskOn('d', 5);
    const bottom = inode(chain[4]);
    const others = chain.slice(0, 4).map(inode);
    const overlay = fs.readFileSync(disk);
    expect(await dropMergedFiles(disk)).toBe(4);
    expect(fs.readdirSync(`${disk}.backing`)).toEqual(['0']);
    expect(backingOf(disk).map(inode)).toEqual([bottom]);
    expect(fs.readFileSync(disk).equals(overlay)).toBe(true);
    // The files merged are still whole where other disks link them (the ones they came from).
    for (let i = 1; i <= 4; i++) expect(others).toContain(inode(path.join(dir, `d-${i}`)));
    expect(backingOf(path.join(dir, 'd-4')).map(inode)).toEqual([...others.slice(1), bottom]);
    // On the raw file alone already: nothing to drop.
    expect(await dropMergedFiles(disk)).toBe(0);
    expect(backingOf(disk).map(inode)).toEqual([bottom]);
  });

  it('reads the chain in its order at every step of a drop (a crash between two steps leaves a whole chain)', () => {
    const d = path.join(dir, 'disk');
    fs.writeFileSync(d, '');
    fs.mkdirSync(`${d}.backing`);
    // The steps dropMergedFiles takes for 0-3 over 4 (the bottom): 0, 1, 2, 3 go, then 4 becomes 0.
    for (const n of ['0', '1', '2', '3', '4']) fs.writeFileSync(path.join(`${d}.backing`, n), n);
    const seen = () => backingOf(d).map((f) => fs.readFileSync(f, 'utf8'));
    expect(seen()).toEqual(['0', '1', '2', '3', '4']);
    for (const [i, n] of ['0', '1', '2', '3'].entries()) {
      fs.rmSync(path.join(`${d}.backing`, n));
      expect(seen()).toEqual(['1', '2', '3', '4'].slice(i));
    }
    fs.renameSync(path.join(`${d}.backing`, '4'), path.join(`${d}.backing`, '0'));
    expect(seen()).toEqual(['4']);
    // Numbers in their order, not the names': 10 is under 9.
    for (const n of ['9', '10']) fs.writeFileSync(path.join(`${d}.backing`, n), n);
    expect(seen()).toEqual(['4', '9', '10']);
  });

  it("keeps every disk of forks of forks of forks within the limit, each standing on the first save's raw copy", async () => {
    // What the save, its fork template and a fork do to a chain, generation after generation:
    // the container's disk saved (flattened first when it must be: the merge is its QEMU's,
    // the links' drop the host's), the template's disk an overlay over the copy, the fork's
    // disk an overlay over that.
    let disk = rawDisk('gen0', 'base');
    const depths: number[] = [];
    let flattened = 0;
    for (let g = 1; g <= 3 * MAX_BACKING_FILES; g++) {
      if (mustFlattenForSave(disk)) {
        await dropMergedFiles(disk);
        flattened++;
      }
      const copy = path.join(dir, `cp${g}`);
      await copyDisk(disk, copy);
      const template = path.join(dir, `fork${g}.disk`);
      await makeOverlay(copy, template);
      const fork = path.join(dir, `gen${g}`);
      await makeOverlay(template, fork);
      depths.push(backingOf(fork).length);
      // The raw file at the bottom: the first save's copy of the first container's raw disk.
      expect(inode(backingOf(fork).at(-1)!)).toBe(inode(path.join(dir, 'cp1')));
      disk = fork;
    }
    expect(Math.max(...depths)).toBe(MAX_BACKING_FILES);
    // The eighth's save flattens (its disk stands on 16), then every seventh's (on 15).
    expect(depths.slice(0, 8)).toEqual([2, 4, 6, 8, 10, 12, 14, 16]);
    for (let from = 8; from + 7 <= depths.length; from += 7)
      expect(depths.slice(from, from + 7)).toEqual([3, 5, 7, 9, 11, 13, 15]);
    expect(flattened).toBe(depths.filter((n) => n === 3).length);
    expect(flattened).toBeGreaterThanOrEqual(6);
  });
});
