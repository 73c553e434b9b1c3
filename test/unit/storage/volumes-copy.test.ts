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
import { copyUpVolumes } from '../../../src/storage/volumes-copy';

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
