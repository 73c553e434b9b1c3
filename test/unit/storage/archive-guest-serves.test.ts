/**
 * Who serves a block-mode container's `docker cp` under a bind mount
 * (src/storage/archive/service.ts): the host, from the bind source reached with no symlink
 * followed; the guest, when that source was swapped for a symlink meanwhile (the host never
 * follows it to choose, nor to serve).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ContainerArchive } from '../../../src/storage/archive/service';
import type { GuestArchive } from '../../../src/storage/archive/guest';
import type { HostMount } from '../../../src/storage/archive/mounts';
import type { OverlayRootfs } from '../../../src/storage/rootfs';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), 'pv-guest-serves-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A block-mode container (it has a disk) whose guest answers every stat as `guest-answer`. */
function archive(): { a: ContainerArchive; asked: string[] } {
  const asked: string[] = [];
  const rootfs = { diskOf: () => '/nonexistent/disk' } as unknown as OverlayRootfs;
  const guest = {
    stat: async (_id: string, _ref: string, p: string) => {
      asked.push(p);
      return { name: 'guest-answer', size: 0, mode: 0, mtime: '', linkTarget: '' };
    },
  } as unknown as GuestArchive;
  return { a: new ContainerArchive(rootfs, guest), asked };
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
