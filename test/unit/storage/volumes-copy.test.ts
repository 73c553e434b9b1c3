/**
 * A new volume filled from the image at create (src/storage/volumes-copy.ts): the image
 * directory's tree, owner and mode are copied; a volume that another running container already
 * mounts may get symlinks planted by its guest after the host found it empty, and the copy
 * never writes through one.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RootDir } from '../../../src/storage/archive/resolve';
import type { ContainerArchive } from '../../../src/storage/archive/service';
import { copyOutOfContainer, copyUpVolumes } from '../../../src/storage/volumes-copy';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';

let tmp: string;
let image: string;
let data: string;
let outside: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), 'pv-copy-up-'));
  image = path.join(tmp, 'image');
  data = path.join(tmp, 'volume', '_data');
  outside = path.join(tmp, 'outside');
  fs.mkdirSync(path.join(image, 'data', 'sub'), { recursive: true });
  fs.writeFileSync(path.join(image, 'data', 'conf'), 'from the image');
  fs.writeFileSync(path.join(image, 'data', 'sub', 'f'), 'deep');
  fs.symlinkSync('conf', path.join(image, 'data', 'link'));
  fs.chmodSync(path.join(image, 'data'), 0o750);
  fs.mkdirSync(data, { recursive: true });
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'conf'), 'host file');
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A container whose root is `image`; `onOpen` runs when the host opens it, after the emptiness check. */
function archiveOf(onOpen: () => void = () => undefined): ContainerArchive {
  return {
    open: async () => {
      onOpen();
      const root = await RootDir.open(image);
      return { root, close: () => root.close() };
    },
  } as unknown as ContainerArchive;
}

test("an empty volume gets the image directory's tree, its owner and its mode", async () => {
  // As root (the daemon), an owner other than the test's own, as an image's /data owned by 1000.
  if (process.getuid?.() === 0) fs.chownSync(path.join(image, 'data'), 1000, 1000);
  await copyUpVolumes(archiveOf(), 'c1', [{ path: '/data', dataDir: data }]);
  expect(fs.readFileSync(path.join(data, 'conf'), 'utf8')).toBe('from the image');
  expect(fs.readFileSync(path.join(data, 'sub', 'f'), 'utf8')).toBe('deep');
  expect(fs.readlinkSync(path.join(data, 'link'))).toBe('conf');
  expect(fs.statSync(data).mode & 0o7777).toBe(0o750);
  expect(fs.statSync(data).uid).toBe(fs.statSync(path.join(image, 'data')).uid);
});

test('a volume that holds data is left as it is', async () => {
  fs.writeFileSync(path.join(data, 'mine'), 'kept');
  await copyUpVolumes(archiveOf(), 'c1', [{ path: '/data', dataDir: data }]);
  expect(fs.readdirSync(data)).toEqual(['mine']);
});

test('symlinks a guest plants in the volume after the host found it empty are replaced, never written through', async () => {
  const plant = () => {
    // Another container's guest, which mounts the same volume.
    fs.symlinkSync(path.join(outside, 'conf'), path.join(data, 'conf'));
    fs.symlinkSync(outside, path.join(data, 'sub'));
  };
  await copyUpVolumes(archiveOf(plant), 'c1', [{ path: '/data', dataDir: data }]);
  expect(fs.readFileSync(path.join(outside, 'conf'), 'utf8')).toBe('host file');
  expect(fs.readdirSync(outside)).toEqual(['conf']);
  expect(fs.lstatSync(path.join(data, 'conf')).isFile()).toBe(true);
});

/** A tar a hostile guest sends for `/data`: its top entry a symlink out, then a file "through" it. */
async function hostileTar(outside: string): Promise<Buffer> {
  const p = tar.pack();
  p.entry({ name: 'data', type: 'symlink', linkname: outside });
  p.entry({ name: 'data/planted', mode: 0o644 }, 'pwned');
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test("a volume moved off a container's disk: a guest's tar whose root is a symlink out is refused; nothing outside is written and _data stays", async () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-move-off-'));
  try {
    const outside = path.join(base, 'outside');
    fs.mkdirSync(outside);
    const dataDir = path.join(base, 'vol', '_data');
    fs.mkdirSync(dataDir, { recursive: true });
    const body = await hostileTar(outside);
    const archive = {
      get: async () => ({
        stat: { name: 'data', size: 0, mode: 0, mtime: '', linkTarget: '' },
        tar: Readable.from([body]),
      }),
    } as unknown as ContainerArchive;
    const moved = copyOutOfContainer(archive, 'c1', { target: '/data', volume: 'v1' }, dataDir);
    await expect(moved).rejects.toThrow();
    expect(fs.readdirSync(outside)).toEqual([]);
    expect(fs.lstatSync(dataDir).isDirectory()).toBe(true);
    expect(fs.readdirSync(dataDir)).toEqual([]);
    // No staging directory is left beside it.
    expect(fs.readdirSync(path.join(base, 'vol'))).toEqual(['_data']);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});
