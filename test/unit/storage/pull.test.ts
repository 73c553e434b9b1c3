/**
 * The puller against a small in-process registry that can lie (wrong blob bytes) or die
 * mid-layer: a mismatch stores nothing, an interrupted pull leaves no image, and the next
 * pull completes cleanly. (The real registry is exercised by test/compat/images.test.ts.)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ImageService } from '../../../src/storage/service';
import { assembleImage, buildLayer, type BuiltImage } from '../../fixtures/image-builder';
import type { PullEvent } from '../../../src/storage/pull';
import { dockerProgress } from '../../../src/translate/pull-progress';

type Mode = 'ok' | 'corrupt' | 'die';

let image: BuiltImage;
let server: http.Server;
let addr: string;
let mode: Mode = 'ok';
let root: string;

beforeAll(async () => {
  const big = Buffer.alloc(2 * 1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
  image = assembleImage([await buildLayer([{ name: 'a', content: 'a' }]), await buildLayer([{ name: 'big', content: big }])]);
  server = http.createServer((req, res) => {
    const url = req.url ?? '';
    if (url === '/v2/') return void res.end('{}');
    if (url === '/v2/x/manifests/latest') {
      res.setHeader('Content-Type', image.mediaType);
      return void res.end(image.manifest);
    }
    const m = /^\/v2\/x\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url);
    const blob = m && (m[1] === image.configDigest ? image.config : image.layers.find((l) => l.digest === m[1])?.gz);
    if (!blob) {
      res.statusCode = 404;
      return void res.end('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}');
    }
    if (mode === 'ok' || blob === image.config || blob.length < 1000) return void res.end(blob);
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

function nothingStored(svc: ImageService): void {
  expect(svc.store.list()).toEqual([]);
  expect(svc.layers.list().map((l) => l.diffId)).not.toContain(image.layers[1].diffId);
  expect(fs.readdirSync(path.join(root, 'layers/tmp'))).toEqual([]);
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
  expect(seen.flatMap(dockerProgress).map((p) => p.status)).toContain(`Status: Downloaded newer image for ${addr}/x:latest`);
  const dirs = await svc.store.layerDirs(image.configDigest);
  expect(fs.readFileSync(path.join(dirs[1], 'big')).length).toBe(2 * 1024 * 1024);
  // A restarted daemon sees the same image.
  const again = await ImageService.open(root);
  expect(again.store.find(`${addr}/x`).id).toBe(image.configDigest);
});
