/**
 * `docker export` / `docker cp` of a container that `docker rm` removes at the same moment:
 * the request that comes too late gets dockerd's 404 ("No such container"), not a 500 from the
 * failed mount, and it does not bring back the removed container's directory.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { OverlayRootfs } from '../../../src/storage/rootfs';
import { ContainerArchive } from '../../../src/storage/archive/service';
import { NotFoundError } from '../../../src/errors';
import { mountsUnder } from '../../helpers/leaks';

let tmp: string;
let containers: string;
let rootfs: OverlayRootfs;

beforeEach(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-archive-rm-'));
  const layer = path.join(tmp, 'layers', 'a'.repeat(64), 'diff');
  fs.mkdirSync(path.join(layer, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(layer, 'etc', 'hostname'), 'box\n');
  containers = path.join(tmp, 'containers');
  rootfs = new OverlayRootfs(containers);
  await rootfs.prepare('c1', [layer]);
});
afterEach(() => {
  for (const m of mountsUnder(tmp).reverse()) execFileSync('umount', ['-l', m]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function drain(s: NodeJS.ReadableStream): Promise<number> {
  let n = 0;
  for await (const c of s) n += (c as Buffer).length;
  return n;
}

test('an export after the container directory went answers No such container, and leaves it gone', async () => {
  const archive = new ContainerArchive(rootfs);
  // Before the removal: a tar of the root; its mount goes once the stream has closed.
  expect(await drain(await archive.export('c1'))).toBeGreaterThan(1024);
  for (const end = Date.now() + 10_000; mountsUnder(tmp).length > 0 && Date.now() < end; )
    await new Promise((r) => setTimeout(r, 20));
  expect(mountsUnder(tmp)).toEqual([]);
  // The removal, as it lands between the request's lookup of the container and its mount.
  fs.rmSync(path.join(containers, 'c1'), { recursive: true, force: true });
  const err = await archive.export('c1').then(
    () => new Error('it exported'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NotFoundError);
  expect((err as Error).message).toBe('No such container: c1');
  expect(fs.readdirSync(containers)).toEqual([]);
  expect(mountsUnder(tmp)).toEqual([]);
});

test('an export after the rootfs was removed (its lower.json goes first) answers No such container', async () => {
  const archive = new ContainerArchive(rootfs);
  await rootfs.remove('c1');
  expect(rootfs.isRemoved('c1')).toBe(true);
  const err = await archive.export('c1').then(
    () => new Error('it exported'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NotFoundError);
  expect((err as Error).message).toBe('No such container: c1');
  expect(mountsUnder(tmp)).toEqual([]);
});

test('a removal while an export holds its mount: the container directory can be deleted, and the mount is gone', async () => {
  const archive = new ContainerArchive(rootfs);
  const stream = await archive.export('c1');
  expect(mountsUnder(tmp).length).toBe(1);
  await rootfs.remove('c1');
  // What the state store then does with the container's directory (it failed with EBUSY).
  fs.rmSync(path.join(containers, 'c1'), { recursive: true, force: true });
  expect(fs.readdirSync(containers)).toEqual([]);
  expect(mountsUnder(tmp)).toEqual([]);
  // The export still ends, one way or the other, and brings nothing back.
  await drain(stream).catch(() => 0);
  expect(fs.readdirSync(containers)).toEqual([]);
});

test("a request that comes while the last one's mount is being undone gets a mount of its own, kept while it holds it", async () => {
  const archive = new ContainerArchive(rootfs);
  // The export's unmount starts once its stream has closed, after its client has the whole tar;
  // here it takes a while, as a busy mount can.
  const unmount = rootfs.unmountDetached.bind(rootfs);
  let started!: () => void;
  const unmountStarted = new Promise<void>((r) => (started = r));
  rootfs.unmountDetached = async (target: string) => {
    started();
    await new Promise((r) => setTimeout(r, 300));
    return unmount(target);
  };
  expect(await drain(await archive.export('c1'))).toBeGreaterThan(1024);
  await unmountStarted;
  const held = await archive.open('c1');
  await new Promise((r) => setTimeout(r, 600));
  expect(mountsUnder(tmp).length).toBe(1);
  expect(fs.readdirSync(`/proc/self/fd/${held.root.handle.fd}`)).toContain('etc');
  await held.close();
  expect(mountsUnder(tmp)).toEqual([]);
});
