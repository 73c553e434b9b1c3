/**
 * Who serves a block-mode container's `docker cp` under a bind mount
 * (src/storage/archive/service.ts): the host, from the bind source reached with no symlink
 * followed; the guest, when that source was swapped for a symlink meanwhile (the host never
 * follows it to choose, nor to serve). Under a volume the guest keeps on the container's disk:
 * the guest, chrooted at that volume's mount point; the deepest mount holding a path wins.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { tarOfFile } from '../../helpers/tar-members';
import { ContainerArchive } from '../../../src/storage/archive/service';
import type { GuestArchive } from '../../../src/storage/archive/guest';
import type { ArchiveMount, HostMount } from '../../../src/storage/archive/mounts';
import type { OverlayRootfs } from '../../../src/storage/rootfs';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), 'pv-guest-serves-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

/**
 * A block-mode container (it has a disk) whose guest answers every stat as `guest-answer`;
 * `asked` lists the paths of its stats, `roots` the guest root each was asked under.
 */
function archive(): { a: ContainerArchive; asked: string[]; roots: Array<string | undefined>; puts: string[] } {
  const asked: string[] = [];
  const roots: Array<string | undefined> = [];
  const puts: string[] = [];
  const rootfs = { diskOf: () => '/nonexistent/disk' } as unknown as OverlayRootfs;
  const answer = { name: 'guest-answer', size: 0, mode: 0, mtime: '', linkTarget: '' };
  const guest = {
    stat: async (_id: string, _ref: string, p: string, root?: string) => {
      asked.push(p);
      roots.push(root);
      return answer;
    },
    get: async (_id: string, _ref: string, p: string, root?: string) => {
      asked.push(p);
      roots.push(root);
      return { stat: answer, tar: Readable.from([]) };
    },
    put: async (_id: string, _ref: string, p: string, _input: Readable, _opts: unknown, root?: string) => {
      puts.push(`${p} in ${root ?? 'the root'}`);
    },
  } as unknown as GuestArchive;
  return { a: new ContainerArchive(rootfs, guest), asked, roots, puts };
}

test('a bind source reached with no symlink is served by the host', async () => {
  const src = path.join(tmp, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'f'), 'host');
  const mounts: HostMount[] = [{ target: '/data', source: src, pinned: true, readOnly: false }];
  const { a, asked } = archive();
  const st = await a.stat('c1', 'c1', '/data/f', mounts);
  expect(st).toMatchObject({ name: 'f', size: 4 });
  expect(asked).toEqual([]);
});

test('a bind source swapped for a symlink to a host directory is left to the guest, never followed', async () => {
  const outside = path.join(tmp, 'outside');
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'f'), 'a host file the container must not reach');
  const src = path.join(tmp, 'src');
  fs.symlinkSync(outside, src);
  const mounts: HostMount[] = [{ target: '/data', source: src, pinned: true, readOnly: false }];
  const { a, asked } = archive();
  const st = await a.stat('c1', 'c1', '/data/f', mounts);
  expect(st).toMatchObject({ name: 'guest-answer' });
  expect(asked).toEqual(['/data/f']);
});

test('a path under a volume on the disk goes to the guest with its mount point as root; one beside it, without', async () => {
  const mounts: ArchiveMount[] = [{ target: '/data', volume: 'v1', inGuest: true, readOnly: false }];
  const { a, asked, roots } = archive();
  await a.stat('c1', 'c1', '/data/seed', mounts);
  await a.get('c1', 'c1', '/data', mounts);
  await a.stat('c1', 'c1', '/database', mounts);
  await a.stat('c1', 'c1', '/data/../etc', mounts);
  expect(asked).toEqual(['/data/seed', '/data', '/database', '/data/../etc']);
  expect(roots).toEqual(['/data', '/data', undefined, undefined]);
});

test('the deepest mount wins: a bind inside a disk volume is the host, a disk volume inside a bind the guest', async () => {
  const src = path.join(tmp, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'f'), 'host');
  const mounts: ArchiveMount[] = [
    { target: '/data', volume: 'v1', inGuest: true, readOnly: false },
    { target: '/data/sub', source: src, pinned: true, readOnly: false },
    { target: '/bind', source: src, pinned: true, readOnly: false },
    { target: '/bind/vol', volume: 'v1', inGuest: true, readOnly: false },
  ];
  const { a, asked, roots } = archive();
  expect(await a.stat('c1', 'c1', '/data/sub/f', mounts)).toMatchObject({ name: 'f', size: 4 });
  expect(await a.stat('c1', 'c1', '/bind/f', mounts)).toMatchObject({ name: 'f', size: 4 });
  expect(asked).toEqual([]);
  await a.stat('c1', 'c1', '/bind/vol/x', mounts);
  expect(roots).toEqual(['/bind/vol']);
});

test('a put goes to the guest under the volume; into a read-only one it is refused as dockerd refuses it', async () => {
  const { a, puts } = archive();
  await a.put('c1', 'c1', '/data/in', Readable.from([]), {}, [
    { target: '/data', volume: 'v1', inGuest: true, readOnly: false },
  ]);
  expect(puts).toEqual(['/data/in in /data']);
  await expect(
    a.put('c1', 'c1', '/data/in', Readable.from([]), {}, [
      { target: '/data', volume: 'v1', inGuest: true, readOnly: true },
    ]),
  ).rejects.toThrow('mounted volume is marked read-only');
  expect(puts).toHaveLength(1);
});

test('before its disk is made (created, not started), a volume kept on the disk is served from its seed directory on the host', async () => {
  const seed = path.join(tmp, 'seed');
  fs.mkdirSync(seed);
  fs.writeFileSync(path.join(seed, 'f'), 'seeded');
  const seeds: string[] = [];
  const rootfs = {
    diskOf: () => undefined,
    diskVolumeSeed: async (id: string, volume: string) => {
      seeds.push(`${id} ${volume}`);
      return seed;
    },
  } as unknown as OverlayRootfs;
  const a = new ContainerArchive(rootfs);
  const mounts: ArchiveMount[] = [{ target: '/data', volume: 'v1', inGuest: true, readOnly: false }];
  expect(await a.stat('c1', 'c1', '/data/f', mounts)).toMatchObject({ name: 'f', size: 6 });
  await a.put('c1', 'c1', '/data', Readable.from([await tarOfFile('added', 'new')]), {}, mounts);
  expect(fs.readFileSync(path.join(seed, 'added'), 'utf8')).toBe('new');
  expect(seeds).toEqual(['c1 v1', 'c1 v1']);
});
