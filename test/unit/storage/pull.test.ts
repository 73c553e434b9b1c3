/**
 * The puller against a small in-process registry that can lie (wrong blob bytes) or die
 * mid-layer: a mismatch stores nothing, an interrupted pull leaves no image, and the next
 * pull completes cleanly. zstd layers unpack through the same path and keep their blob byte
 * for byte; a zstd blob that is not a whole zstd stream fails the pull and stores nothing.
 * (The real registry is exercised by test/compat/images.test.ts, real zstd output by
 * test/compat/image-zstd.test.ts.)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ImageService } from '../../../src/storage/service';
import { PassThrough } from 'node:stream';
import {
  assembleImage,
  buildLayer,
  packTar,
  zstdLayerFromTar,
  zstdStored,
  type BuiltImage,
} from '../../fixtures/image-builder';
import { prepareSave, writeSaveArchive } from '../../../src/storage/archive-image/save';
import { schema2Manifest } from '../../../src/storage/push';
import { MediaType } from '../../../src/storage/registry/manifest';
import type { PullEvent } from '../../../src/storage/pull';
import { dockerProgress } from '../../../src/api/v1.41/json/pull-progress';
import { tarMembers } from '../../helpers/tar-members';
import { ImageDiskPrep, type ImageDiskMaker } from '../../../src/storage/image-disks/prep';
import { CriImageService } from '../../../src/api/cri/images';

type Mode = 'ok' | 'corrupt' | 'die';

let image: BuiltImage;
/**
 * Images by repository: `x` (gzip), `z` (OCI: a gzip and a zstd layer), `zd` (the same as
 * schema 2 with the Docker-style zstd type), and zstd images whose blob is no zstd stream.
 */
const repos = new Map<string, BuiltImage>();
/** The file in the zstd layer of `z` and `zd`. */
let zstdBig: Buffer;
let server: http.Server;
let addr: string;
let mode: Mode = 'ok';
let root: string;

beforeAll(async () => {
  const big = Buffer.alloc(2 * 1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
  image = assembleImage([
    await buildLayer([{ name: 'a', content: 'a' }]),
    await buildLayer([{ name: 'big', content: big }]),
  ]);
  repos.set('x', image);
  zstdBig = Buffer.from(big.map((b) => b ^ 0x5a));
  const zLayers = [
    await buildLayer([{ name: 'a', content: 'a' }]),
    zstdLayerFromTar(
      await packTar([
        { name: 'zdir', type: 'directory' },
        { name: 'zdir/big', content: zstdBig },
      ]),
    ),
  ];
  repos.set('z', assembleImage(zLayers, {}, true));
  repos.set('zd', assembleImage([zLayers[0], { ...zLayers[1], mediaType: MediaType.DockerLayerZstd }]));
  const small = await packTar([{ name: 'z', content: 'z'.repeat(5000) }]);
  const whole = zstdStored(small);
  // Honest digests over bad zstd: a frame cut short, and gzip bytes under the zstd type.
  repos.set('ztrunc', assembleImage([zstdLayerFromTar(small, whole.subarray(0, whole.length - 100))], {}, true));
  repos.set(
    'zgzip',
    assembleImage(
      [zstdLayerFromTar(small, (await buildLayer([{ name: 'z', content: 'z'.repeat(5000) }])).gz)],
      {},
      true,
    ),
  );
  server = http.createServer((req, res) => {
    const url = req.url ?? '';
    if (url === '/v2/') return void res.end('{}');
    const mm = /^\/v2\/(\w+)\/manifests\/latest$/.exec(url);
    const img = mm && repos.get(mm[1]);
    if (img) {
      res.setHeader('Content-Type', img.mediaType);
      return void res.end(img.manifest);
    }
    const m = /^\/v2\/(\w+)\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url);
    const from = m && repos.get(m[1]);
    const blob =
      m && from && (m[2] === from.configDigest ? from.config : from.layers.find((l) => l.digest === m[2])?.gz);
    if (!blob) {
      res.statusCode = 404;
      return void res.end('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}');
    }
    if (mode === 'ok' || blob === from.config || blob.length < 1000) return void res.end(blob);
    if (mode === 'corrupt') {
      const bad = Buffer.from(blob);
      bad[bad.length - 20] ^= 0xff;
      return void res.end(bad);
    }
    res.setHeader('Content-Length', String(blob.length));
    res.write(blob.subarray(0, blob.length >> 1), () => res.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  addr = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-pull-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

function nothingStored(svc: ImageService, img = image): void {
  expect(svc.store.list()).toEqual([]);
  expect(svc.layers.list().map((l) => l.diffId)).not.toContain(img.layers[img.layers.length - 1].diffId);
  expect(fs.readdirSync(path.join(root, 'layers/tmp'))).toEqual([]);
}

/** The members of a docker save archive of `name`, by name. */
async function saved(svc: ImageService, name: string): Promise<Map<string, Buffer>> {
  const out = new PassThrough();
  const members = tarMembers(out);
  await writeSaveArchive(svc.content, svc.layers, await prepareSave(svc.store, svc.layers, [name]), out);
  out.end();
  return members;
}

test('a layer whose bytes do not match its digest fails the pull and stores nothing', async () => {
  mode = 'corrupt';
  const svc = await ImageService.open(root);
  const err = await svc.pull({ domain: addr, path: 'x', tag: 'latest' }, {}).catch((e: Error) => e);
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).message).toContain(`filesystem layer verification failed for digest ${image.layers[1].digest}`);
  nothingStored(svc);
});

test('a registry dying mid-layer leaves no image; the next pull completes and says so', async () => {
  mode = 'die';
  const svc = await ImageService.open(root);
  await expect(svc.pull({ domain: addr, path: 'x', tag: 'latest' }, {})).rejects.toThrow();
  nothingStored(svc);
  mode = 'ok';
  const seen: PullEvent[] = [];
  const r = await svc.pull({ domain: addr, path: 'x', tag: 'latest' }, { onProgress: (p) => seen.push(p) });
  expect(r.id).toBe(image.configDigest);
  expect(seen.flatMap(dockerProgress).map((p) => p.status)).toContain(
    `Status: Downloaded newer image for ${addr}/x:latest`,
  );
  const dirs = await svc.store.layerDirs(image.configDigest);
  expect(fs.readFileSync(path.join(dirs[1], 'big')).length).toBe(2 * 1024 * 1024);
  // A restarted daemon sees the same image.
  const again = await ImageService.open(root);
  expect(again.store.find(`${addr}/x`).id).toBe(image.configDigest);
});

test.each([
  ['z', MediaType.OciLayerZstd],
  ['zd', MediaType.DockerLayerZstd],
])(
  'a zstd layer (%s: %s) is unpacked, its blob kept byte for byte; save gives its tar, push lists it as zstd',
  async (repo, mediaType) => {
    mode = 'ok';
    const z = repos.get(repo)!;
    const svc = await ImageService.open(root);
    const r = await svc.pull({ domain: addr, path: repo, tag: 'latest' }, {});
    expect(r.id).toBe(z.configDigest);
    const dirs = await svc.store.layerDirs(z.configDigest);
    expect(fs.readFileSync(path.join(dirs[1], 'zdir/big')).equals(zstdBig)).toBe(true);
    const blob = svc.layers.get(z.layers[1].diffId).blob!;
    expect(blob).toMatchObject({
      digest: z.layers[1].digest,
      compression: 'zstd',
      mediaType,
      tarSize: z.layers[1].tar.length,
    });
    expect((await svc.content.read(z.layers[1].digest)).equals(z.layers[1].gz)).toBe(true);

    const members = await saved(svc, `${addr}/${repo}:latest`);
    const layers = (JSON.parse(members.get('manifest.json')!.toString()) as Array<{ Layers: string[] }>)[0].Layers;
    expect(members.get(layers[1])!.equals(z.layers[1].tar)).toBe(true);

    const manifest = JSON.parse(
      schema2Manifest(z.configDigest, z.config.length, [svc.layers.get(z.layers[0].diffId).blob!, blob]).toString(),
    ) as { layers: Array<{ mediaType: string; digest: string; size: number }> };
    expect(manifest.layers[1]).toEqual({
      mediaType: MediaType.OciLayerZstd,
      digest: z.layers[1].digest,
      size: z.layers[1].gz.length,
    });
  },
);

test('a zstd layer whose bytes do not match its digest fails the pull and stores nothing', async () => {
  mode = 'corrupt';
  const z = repos.get('z')!;
  const svc = await ImageService.open(root);
  const err = await svc.pull({ domain: addr, path: 'z', tag: 'latest' }, {}).catch((e: Error) => e);
  expect((err as Error).message).toContain(`filesystem layer verification failed for digest ${z.layers[1].digest}`);
  nothingStored(svc, z);
  expect(await svc.content.has(z.layers[1].digest)).toBe(false);
});

test.each([
  ['ztrunc', 'a zstd frame cut short', 'zstd: unexpected EOF'],
  ['zgzip', 'gzip bytes', 'zstd: invalid zstd data'],
])(
  'a zstd layer holding %s (%s) under its true digest fails the pull with %j and stores nothing',
  async (repo, _what, message) => {
    mode = 'ok';
    const img = repos.get(repo)!;
    const svc = await ImageService.open(root);
    const err = await svc.pull({ domain: addr, path: repo, tag: 'latest' }, {}).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe(message);
    nothingStored(svc, img);
    expect(await svc.content.has(img.layers[0].digest)).toBe(false);
  },
);

test("on a daemon that makes image disks ahead, the pull makes the image's disk before its closing status and says so; a failed make fails no pull", async () => {
  const svc = await ImageService.open(root);
  const made: string[][] = [];
  let fail = false;
  const maker: ImageDiskMaker = {
    hasImageDisk: (layers) => made.some((m) => m.join() === layers.join()),
    imageDiskOfLayers: (layers) => {
      if (fail) return Promise.reject(new Error('mkfs.ext4 is missing'));
      made.push(layers);
      return Promise.resolve('/disk');
    },
  };
  svc.makeImageDisks(new ImageDiskPrep((id) => svc.store.layerDirs(id), maker));
  const statuses = async (): Promise<string[]> => {
    const seen: PullEvent[] = [];
    await svc.pull({ domain: addr, path: 'x', tag: 'latest' }, { onProgress: (p) => seen.push(p) });
    return seen.flatMap(dockerProgress).map((p) => `${p.id ?? ''} ${p.status}`);
  };
  const short = image.configDigest.slice('sha256:'.length, 'sha256:'.length + 12);
  const first = await statuses();
  expect(first.slice(-4)).toEqual([
    `${short} Making image disk`,
    `${short} Image disk made`,
    expect.stringMatching(/^ Digest: sha256:/),
    ` Status: Downloaded newer image for ${addr}/x:latest`,
  ]);
  expect(made).toEqual([await svc.store.layerDirs(image.configDigest)]);
  // Made already: nothing to show.
  expect((await statuses()).filter((l) => /image disk/i.test(l))).toEqual([]);
  made.length = 0;
  fail = true;
  const failed = await statuses();
  expect(failed.filter((l) => /image disk/i.test(l))).toEqual([`${short} Making image disk`]);
  expect(failed[failed.length - 1]).toBe(` Status: Image is up to date for ${addr}/x:latest`);
});

test('a CRI PullImage makes the image disk as a Docker pull does, on a daemon that makes them ahead (its containers read it); a later pull finds it made', async () => {
  const svc = await ImageService.open(root);
  const made: string[][] = [];
  const maker: ImageDiskMaker = {
    hasImageDisk: (layers) => made.some((m) => m.join() === layers.join()),
    imageDiskOfLayers: (layers) => {
      made.push(layers);
      return Promise.resolve('/disk');
    },
  };
  svc.makeImageDisks(new ImageDiskPrep((id) => svc.store.layerDirs(id), maker));
  const cri = new CriImageService(svc);
  expect(await cri.pull({ image: { image: `${addr}/x:latest` } })).toEqual({ image_ref: image.configDigest });
  expect(svc.store.byId(image.configDigest)).toBeDefined();
  expect(made).toEqual([await svc.store.layerDirs(image.configDigest)]);
  await svc.pull({ domain: addr, path: 'x', tag: 'latest' }, {});
  expect(made).toHaveLength(1);
});
