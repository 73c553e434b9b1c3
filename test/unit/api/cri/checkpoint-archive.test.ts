/**
 * The CheckpointContainer archive (src/api/cri/checkpoint-archive.ts writes it,
 * checkpoint-archive-read.ts reads it as hostile input): what is written reads back byte for
 * byte, its disks as their data extents (a sparse disk costs its few data bytes), and
 * written without following a link; and every archive that breaks the format or the limits is
 * refused naming why, leaving nothing in the directory it was read into.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { writeCriCheckpointArchive, type CriCheckpointManifest } from '../../../../src/api/cri/checkpoint-archive';
import {
  DEFAULT_CRI_ARCHIVE_LIMITS,
  unpackCriCheckpointArchive,
} from '../../../../src/api/cri/checkpoint-archive-read';
import { InvalidArgumentError } from '../../../../src/errors';
import { counterManifest, sparse } from './archive-fixture';

let dir: string;
let ckpt: string;
let into: string;

const DISK_ID = 'a'.repeat(64);
const base = counterManifest(DISK_ID, '2026-11-29T15:00:00.000Z');

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-cri-archive-'));
  ckpt = path.join(dir, 'ckpt');
  into = path.join(dir, 'into');
  fs.mkdirSync(ckpt);
  fs.mkdirSync(into);
  fs.writeFileSync(path.join(ckpt, 'vm.state'), crypto.randomBytes(3 * 1024 * 1024 + 17));
  fs.writeFileSync(path.join(ckpt, 'vm.json'), '{"vm":1}');
  fs.writeFileSync(path.join(ckpt, 'pod.json'), '{"pod":1}');
  sparse(path.join(ckpt, 'joined-0.disk'), 64 * 1024 * 1024, [
    [0, Buffer.from('superblock')],
    [32 * 1024 * 1024, crypto.randomBytes(70_000)],
  ]);
  sparse(path.join(ckpt, 'image-0.ext4'), 16 * 1024 * 1024, [[4096, crypto.randomBytes(8192)]]);
});

afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A tar of `members` (name, body, or a header of another type) at `file`. */
async function rawArchive(
  file: string,
  members: Array<{ name: string; body?: Buffer; type?: 'symlink' }>,
): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack as unknown as Readable, fs.createWriteStream(file));
  for (const m of members) {
    if (m.type === 'symlink') pack.entry({ name: m.name, type: 'symlink', linkname: '/etc/passwd' });
    else pack.entry({ name: m.name, size: m.body!.length }, m.body!);
  }
  pack.finalize();
  await done;
}

/** The members of a valid archive, as raw bodies (its disks' extent streams too). */
async function membersOfValid(): Promise<Array<{ name: string; body: Buffer }>> {
  const good = path.join(dir, 'good.tar');
  await writeCriCheckpointArchive(ckpt, base, good);
  const out: Array<{ name: string; body: Buffer }> = [];
  const extract = tar.extract();
  const reading = (async () => {
    for await (const e of extract) {
      const chunks: Buffer[] = [];
      for await (const b of e) chunks.push(b as Buffer);
      out.push({ name: e.header.name, body: Buffer.concat(chunks) });
    }
  })();
  await Promise.all([pipeline(fs.createReadStream(good), extract), reading]);
  return out;
}

async function refused(file: string, limits = DEFAULT_CRI_ARCHIVE_LIMITS): Promise<string> {
  const err = await unpackCriCheckpointArchive(file, into, limits).then(
    () => undefined,
    (e: Error) => e,
  );
  expect(err).toBeInstanceOf(InvalidArgumentError);
  expect(fs.readdirSync(into)).toEqual([]);
  return err!.message;
}

describe('the CheckpointContainer archive', () => {
  it('reads back byte for byte, its sparse disks as their data only', async () => {
    const archive = path.join(dir, 'a.tar');
    await writeCriCheckpointArchive(ckpt, base, archive);
    // 3 MiB of state and ~80 KB of disk data: not the disks' 80 MiB.
    expect(fs.statSync(archive).size).toBeLessThan(4 * 1024 * 1024);
    const m = await unpackCriCheckpointArchive(archive, into);
    expect(m.container.id).toBe(DISK_ID);
    expect(m.files.map((f) => [f.name, f.encoding])).toEqual([
      ['vm.state', 'bytes'],
      ['vm.json', 'bytes'],
      ['pod.json', 'bytes'],
      ['joined-0.disk', 'extents'],
      ['image-0.ext4', 'extents'],
    ]);
    for (const f of fs.readdirSync(ckpt)) {
      const a = fs.readFileSync(path.join(ckpt, f));
      const b = fs.readFileSync(path.join(into, f));
      expect(b.length).toBe(a.length);
      expect(b.equals(a)).toBe(true);
    }
    // The disk read back is sparse too.
    expect(fs.statSync(path.join(into, 'joined-0.disk')).blocks * 512).toBeLessThan(1024 * 1024);
  });

  it('replaces a link at location with the archive, never writing through it', async () => {
    const victim = path.join(dir, 'victim');
    fs.writeFileSync(victim, 'keep');
    const archive = path.join(dir, 'a.tar');
    fs.symlinkSync(victim, archive);
    await writeCriCheckpointArchive(ckpt, base, archive);
    expect(fs.readFileSync(victim, 'utf8')).toBe('keep');
    expect(fs.lstatSync(archive).isFile()).toBe(true);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('.a.tar'))).toEqual([]);
  });

  it('refuses what breaks the format or the limits, writing nothing', async () => {
    const members = await membersOfValid();
    const bad = path.join(dir, 'bad.tar');
    const manifest = JSON.parse(members[0].body.toString()) as CriCheckpointManifest;
    const withManifest = (m: object) => [
      { name: members[0].name, body: Buffer.from(JSON.stringify(m)) },
      ...members.slice(1),
    ];

    await rawArchive(bad, members.slice(1));
    expect(await refused(bad)).toMatch(/first member is not podvisor-cri-checkpoint.json/);

    await rawArchive(bad, [...members, { name: 'extra', body: Buffer.from('x') }]);
    expect(await refused(bad)).toMatch(/member "extra" follows its last file/);

    await rawArchive(bad, members.slice(0, 3));
    expect(await refused(bad)).toMatch(/ends before pod.json/);

    await rawArchive(bad, [members[0], { name: 'vm.state', type: 'symlink' }]);
    expect(await refused(bad)).toMatch(/"vm.state" is not a regular file/);

    await rawArchive(bad, [members[0], members[2], members[1], ...members.slice(3)]);
    expect(await refused(bad)).toMatch(/member "vm.json" is not vm.state/);

    await rawArchive(bad, [members[0], { name: 'vm.state', body: members[1].body.subarray(1) }, ...members.slice(2)]);
    expect(await refused(bad)).toMatch(/vm.state is \d+ bytes, its manifest says/);

    await rawArchive(bad, withManifest({ ...manifest, format: 'criu' }));
    expect(await refused(bad)).toMatch(/format is not podvisor-cri-checkpoint\/1/);

    await rawArchive(bad, withManifest({ ...manifest, files: [...manifest.files].reverse() }));
    expect(await refused(bad)).toMatch(/files\[0\] is not vm.state/);

    await rawArchive(bad, withManifest({ ...manifest, container: { ...manifest.container, diskName: '../x' } }));
    expect(await refused(bad)).toMatch(/diskName is not a container id/);

    // A disk whose extent stream says more than its manifest's size.
    const small = manifest.files.map((f) => (f.name === 'joined-0.disk' ? { ...f, size: 4096 } : f));
    await rawArchive(bad, withManifest({ ...manifest, files: small }));
    expect(await refused(bad)).toMatch(/extent stream/);

    // The caller's limits.
    await rawArchive(bad, members);
    expect(await refused(bad, { ...DEFAULT_CRI_ARCHIVE_LIMITS, maxStateBytes: 1024 })).toMatch(
      /vm.state of \d+ bytes is over 1024/,
    );
    expect(await refused(bad, { ...DEFAULT_CRI_ARCHIVE_LIMITS, maxDiskBytes: 1024 })).toMatch(
      /joined-0.disk of \d+ bytes is over 1024/,
    );

    // Cut short in a member, and not a tar at all.
    const whole = fs.readFileSync(bad);
    fs.writeFileSync(bad, whole.subarray(0, 2 * 1024 * 1024));
    expect(await refused(bad)).toMatch(/not a podvisor checkpoint archive/);
    fs.writeFileSync(bad, crypto.randomBytes(4096));
    expect(await refused(bad)).toMatch(/not a podvisor checkpoint archive/);

    // A link to an archive is not followed.
    const link = path.join(dir, 'link.tar');
    fs.symlinkSync(path.join(dir, 'good.tar'), link);
    expect(await refused(link)).toMatch(/checkpoint archive .*link.tar/);
  });
});
