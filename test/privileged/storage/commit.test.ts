/**
 * A writable layer committed as an image (src/storage/commit.ts) against real stores: overlay
 * whiteouts become `.wh.` entries, an opaque directory gets `.wh..wh..opq`, the runtime /etc
 * files are left out, the layer unpacks back to the same overlay form, its gzip blob is kept
 * for push and save, the image ID is the config's sha256, and an upper without changes adds
 * an `empty_layer` history entry and no layer. Needs root (device nodes, trusted.* xattrs).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { ImageService } from '../../../src/storage/service';
import { commitWritableLayer } from '../../../src/storage/commit';
import { packUpper } from '../../../src/storage/commit-tar';
import { sha256Digest } from '../../../src/storage/digest';
import { imageInspectJson, imageSummaryJson } from '../../../src/api/v1.41/json/images';
import { tarEntryNames } from '../../helpers/tar-members';

let root: string;
let svc: ImageService;

beforeEach(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-commit-'));
  svc = await ImageService.open(path.join(root, 'data'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

/** A lower layer with /etc/keep, /gone and /home/user/old; an upper that changes them. */
function makeDirs(): { lower: string; upper: string } {
  const lower = path.join(root, 'lower');
  const upper = path.join(root, 'upper');
  for (const d of ['etc', 'home/user']) fs.mkdirSync(path.join(lower, d), { recursive: true });
  fs.writeFileSync(path.join(lower, 'etc/keep'), 'k');
  fs.writeFileSync(path.join(lower, 'gone'), 'g');
  fs.writeFileSync(path.join(lower, 'home/user/old'), 'o');
  fs.mkdirSync(path.join(upper, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(upper, 'etc/hosts'), '127.0.0.1 localhost\n');
  fs.writeFileSync(path.join(upper, 'new.txt'), 'new');
  execFileSync('mknod', [path.join(upper, 'gone'), 'c', '0', '0']);
  fs.mkdirSync(path.join(upper, 'home'));
  execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', path.join(upper, 'home')]);
  fs.writeFileSync(path.join(upper, 'home/fresh'), 'f');
  return { lower, upper };
}

test('the upper directory packs as an OCI layer', async () => {
  const { lower, upper } = makeDirs();
  const t = await packUpper(upper, [lower]);
  expect(await tarEntryNames(t.stream)).toEqual(['.wh.gone', 'home/', 'home/.wh..wh..opq', 'home/fresh', 'new.txt']);
});

test("an O_TMPFILE's hidden name (9p, guest/kernel/patches/0004) is not part of the layer", async () => {
  const { lower, upper } = makeDirs();
  fs.writeFileSync(path.join(upper, '.podvisor-tmpfile-0123456789abcdef'), 'open in the guest');
  fs.writeFileSync(path.join(upper, 'home/.podvisor-tmpfile-fedcba9876543210'), 'open in the guest');
  const t = await packUpper(upper, [lower]);
  expect(await tarEntryNames(t.stream)).toEqual(['.wh.gone', 'home/', 'home/.wh..wh..opq', 'home/fresh', 'new.txt']);
});

test('a scratch root with only the runtime /etc files and mount points packs as nothing', async () => {
  const upper = path.join(root, 'scratch');
  for (const d of ['etc', 'proc', 'dev']) fs.mkdirSync(path.join(upper, d), { recursive: true });
  fs.writeFileSync(path.join(upper, 'etc/hosts'), '127.0.0.1 localhost\n');
  fs.writeFileSync(path.join(upper, 'etc/hostname'), 'x\n');
  const empty = await packUpper(upper, []);
  expect(empty.entries).toBe(0);
  empty.stream.destroy();
  fs.writeFileSync(path.join(upper, 'etc/app.conf'), 'mine\n');
  expect(await tarEntryNames((await packUpper(upper, [])).stream)).toEqual(['etc/', 'etc/app.conf']);
});

test('commit stores the layer, its blob and an image whose ID is its config digest', async () => {
  const { lower, upper } = makeDirs();
  const id = await commitWritableLayer(
    { content: svc.content, layers: svc.layers, images: svc.store },
    {
      upperDir: upper,
      lowerDirs: [lower],
      config: { Cmd: ['sh'] },
      createdBy: 'sh -c change',
      author: 'me',
      comment: 'msg',
    },
  );
  const img = svc.store.byId(id);
  expect(img).toBeDefined();
  const configBytes = await svc.content.read(id);
  expect(sha256Digest(configBytes)).toBe(id);
  const config = JSON.parse(configBytes.toString());
  expect(config.history).toEqual([
    { created: expect.any(String), author: 'me', created_by: 'sh -c change', comment: 'msg' },
  ]);
  expect(config.rootfs.diff_ids).toHaveLength(1);
  const layer = svc.layers.get(config.rootfs.diff_ids[0]);
  // Unpacked back in overlay form: a whiteout device and an opaque directory.
  expect(fs.lstatSync(path.join(layer.dir, 'gone')).isCharacterDevice()).toBe(true);
  expect(
    execFileSync('getfattr', [
      '--only-values',
      '-n',
      'trusted.overlay.opaque',
      path.join(layer.dir, 'home'),
    ]).toString(),
  ).toBe('y');
  // The blob gunzips to the tar whose sha256 is the diff ID.
  const blob = await svc.content.read(layer.blob!.digest);
  expect(sha256Digest(zlib.gunzipSync(blob))).toBe(config.rootfs.diff_ids[0]);

  // An upper with no change (only the runtime files) adds no layer.
  const empty = path.join(root, 'empty');
  fs.mkdirSync(path.join(empty, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(empty, 'etc/resolv.conf'), 'nameserver 10.0.0.1\n');
  const id2 = await commitWritableLayer(
    { content: svc.content, layers: svc.layers, images: svc.store },
    {
      upperDir: empty,
      lowerDirs: [layer.dir, lower],
      parentId: id,
      recordParent: true,
      config: {},
      createdBy: 'nothing',
    },
  );
  const c2 = svc.store.config(id2);
  expect(c2.rootfs.diff_ids).toEqual(config.rootfs.diff_ids);
  expect(c2.history?.[1]).toMatchObject({ created_by: 'nothing', empty_layer: true });
  // dockerd's Parent (inspect) and ParentId (docker images): the image committed from; none for the first.
  expect([imageInspectJson(svc.store.byId(id2)!, []).Parent, imageSummaryJson(svc.store.byId(id2)!).ParentId]).toEqual([
    id,
    id,
  ]);
  expect(imageInspectJson(svc.store.byId(id)!, []).Parent).toBe('');
});
