/**
 * A checkpoint image (issue 66) through the real registry (Debian's docker-registry, the
 * fixture registry), at the storage level, with no daemon: an image with a hand-made state
 * attached is pushed as an OCI index of its schema 2 manifest (with its platform) and the state
 * manifest (unknown/unknown, annotated CHECKPOINT_FOR); a second store pulls the image with the
 * state attached and every blob of it; a pull allowing less than the state declares, or of an
 * index whose state manifest is not one, is refused before the image is recorded; a plain
 * image still pushes as a schema 2 manifest under its tag.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { ImageService } from '../../src/storage/service';
import { ArchiveLoader } from '../../src/storage/archive-image/load';
import { parseTagged } from '../../src/storage/reference';
import { MediaType } from '../../src/storage/registry/manifest';
import { digestHex, sha256Digest, shortId } from '../../src/storage/digest';
import { checkpointIndex, type PushEvent } from '../../src/storage/push';
import { RegistryClient } from '../../src/storage/registry/client';
import { RegistryHosts } from '../../src/storage/registry/hosts';
import type { PullEvent } from '../../src/storage/pull';
import { InvalidArgumentError } from '../../src/errors';
import { CHECKPOINT_FOR } from '../../src/storage/checkpoint-image/media-types';
import { fixtureRegistry } from '../fixtures/registry';
import { assembleImage, buildLayer, packTar, type BuiltImage } from '../fixtures/image-builder';
import { makeState, type MadeState } from '../fixtures/checkpoint-state';

jest.setTimeout(60000);

const REG = fixtureRegistry();
const RUN = crypto.randomBytes(4).toString('hex');
let root: string;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-ckpt-registry-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

/** GET a manifest from the registry as curl would: status, content type and body. */
function getManifest(repo: string, ref: string): Promise<{ status: number; type: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const accept = [MediaType.OciIndex, MediaType.OciManifest, MediaType.DockerManifest].join(', ');
    http
      .get(`http://${REG}/v2/${repo}/manifests/${ref}`, { headers: { Accept: accept } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            type: String(res.headers['content-type']),
            body: Buffer.concat(chunks),
          }),
        );
      })
      .on('error', reject);
  });
}

/** A store under `dir` holding `image` as `tag` (loaded from a docker-archive). */
async function storeWith(dir: string, image: BuiltImage, tag: string): Promise<ImageService> {
  const svc = await ImageService.open(path.join(root, dir));
  const config = `${digestHex(image.configDigest)}.json`;
  const archive = await packTar([
    { name: config, content: image.config },
    ...image.layers.map((l, i) => ({ name: `l${i}/layer.tar`, content: l.tar })),
    {
      name: 'manifest.json',
      content: JSON.stringify([
        { Config: config, RepoTags: [tag], Layers: image.layers.map((_, i) => `l${i}/layer.tar`) },
      ]),
    },
  ]);
  await new ArchiveLoader(svc.content, svc.layers, svc.store, path.join(root, dir, 'load-tmp')).load(
    Readable.from([archive]),
  );
  return svc;
}

test('a checkpoint image pushes as an OCI index with its state, and pulls back with the state attached', async () => {
  const image = assembleImage([await buildLayer([{ name: 'app', content: crypto.randomBytes(5000) }])]);
  const repo = `ckpt-${RUN}/app`;
  const tag = `${REG}/${repo}:1`;
  const a = await storeWith('a', image, tag);
  const state: MadeState = await makeState(a.content, {
    'vm.state': crypto.randomBytes(300000),
    'root.disk': crypto.randomBytes(70000),
  });
  await a.store.attachCheckpoint(image.configDigest, state.manifest);

  const pushed: PushEvent[] = [];
  await a.pusher.push(parseTagged(tag), { onProgress: (e) => pushed.push(e) });
  for (const d of state.layers) {
    expect(pushed).toContainEqual({ kind: 'layer', layer: shortId(d), phase: 'preparing' });
    expect(pushed).toContainEqual({ kind: 'layer', layer: shortId(d), phase: 'pushed' });
  }
  const tagged = pushed.find((e) => e.kind === 'tagged') as Extract<PushEvent, { kind: 'tagged' }>;

  // What the registry serves under the tag: the index of the two manifests.
  const top = await getManifest(repo, '1');
  expect(top.status).toBe(200);
  expect(top.type).toBe(MediaType.OciIndex);
  expect(sha256Digest(top.body)).toBe(tagged.digest);
  expect(tagged.size).toBe(top.body.length);
  const index = JSON.parse(top.body.toString()) as {
    schemaVersion: number;
    mediaType: string;
    manifests: Array<{ mediaType: string; digest: string; size: number; platform: unknown; annotations?: unknown }>;
  };
  expect(index.schemaVersion).toBe(2);
  expect(index.manifests).toHaveLength(2);
  const [img, st] = index.manifests;
  expect(img).toMatchObject({ mediaType: MediaType.DockerManifest, platform: { os: 'linux', architecture: 'amd64' } });
  expect(st).toEqual({
    mediaType: MediaType.OciManifest,
    artifactType: 'application/vnd.podvisor.checkpoint.v1',
    digest: state.manifest,
    size: state.body.length,
    platform: { os: 'unknown', architecture: 'unknown' },
    annotations: { [CHECKPOINT_FOR]: img.digest },
  });
  const child = await getManifest(repo, img.digest);
  expect(child.type).toBe(MediaType.DockerManifest);
  expect(sha256Digest(child.body)).toBe(img.digest);
  expect((await getManifest(repo, state.manifest)).body).toEqual(state.body);
  expect(a.store.find(tag).repoDigests).toContain(`${REG}/${repo}@${tagged.digest}`);

  // A second push finds every blob there.
  const again: PushEvent[] = [];
  await a.pusher.push(parseTagged(tag), { onProgress: (e) => again.push(e) });
  for (const d of state.layers) expect(again).toContainEqual({ kind: 'layer', layer: shortId(d), phase: 'exists' });
  expect(again.find((e) => e.kind === 'tagged')).toEqual(tagged);

  // Pulled into another store: the image, with the state and all its blobs.
  const b = await ImageService.open(path.join(root, 'b'));
  const pulled: PullEvent[] = [];
  const { id } = await b.puller.pull(parseTagged(tag), { onProgress: (e) => pulled.push(e) });
  expect(id).toBe(image.configDigest);
  expect(b.store.checkpointOf(id)).toBe(state.manifest);
  for (const d of [state.manifest, state.config, ...state.layers])
    expect(await b.content.read(d)).toEqual(await a.content.read(d));
  for (const d of [state.config, ...state.layers]) {
    expect(pulled).toContainEqual({ kind: 'layer', layer: shortId(d), phase: 'queued' });
    expect(pulled).toContainEqual({ kind: 'layer', layer: shortId(d), phase: 'complete' });
  }
  expect(pulled).toContainEqual(expect.objectContaining({ kind: 'stored', digest: tagged.digest }));

  // A pull that allows less than the state declares is refused before anything downloads.
  const c = await ImageService.open(path.join(root, 'c'));
  const err = await c.puller.pull(parseTagged(tag), { checkpointMaxBytes: 100000 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InvalidArgumentError);
  expect((err as Error).message).toMatch(/checkpoint state of \d+ bytes is larger than the 100000 bytes allowed/);
  expect(c.store.list()).toEqual([]);
  expect(c.layers.list()).toEqual([]);
  for (const d of [state.manifest, state.config, ...state.layers]) expect(await c.content.has(d)).toBe(false);

  // A state manifest that is not one (its config typed as an image config) fails the pull
  // before the image is recorded.
  const client = new RegistryClient(REG, repo, new RegistryHosts(), undefined, 'pull,push');
  const bad = JSON.parse(state.body.toString()) as { config: { mediaType: string } };
  bad.config.mediaType = MediaType.OciConfig;
  const badBody = Buffer.from(JSON.stringify(bad));
  await client.putManifest(sha256Digest(badBody), MediaType.OciManifest, badBody);
  const badIndex = checkpointIndex(
    { mediaType: img.mediaType, digest: img.digest, size: img.size },
    { os: 'linux', architecture: 'amd64' },
    { digest: sha256Digest(badBody), size: badBody.length },
  );
  await client.putManifest('bad', MediaType.OciIndex, badIndex);
  const d = await ImageService.open(path.join(root, 'd'));
  await expect(d.puller.pull(parseTagged(`${REG}/${repo}:bad`))).rejects.toThrow(
    /invalid checkpoint state manifest: config has media type/,
  );
  expect(d.store.list()).toEqual([]);
});

test('a plain image still pushes its schema 2 manifest under the tag', async () => {
  const image = assembleImage([await buildLayer([{ name: 'plain', content: crypto.randomBytes(1000) }])]);
  const repo = `ckpt-${RUN}/plain`;
  const tag = `${REG}/${repo}:1`;
  const a = await storeWith('a', image, tag);
  const pushed: PushEvent[] = [];
  await a.pusher.push(parseTagged(tag), { onProgress: (e) => pushed.push(e) });
  const top = await getManifest(repo, '1');
  expect(top.type).toBe(MediaType.DockerManifest);
  expect(pushed.find((e) => e.kind === 'tagged')).toMatchObject({ digest: sha256Digest(top.body) });
  const b = await ImageService.open(path.join(root, 'b'));
  const { id } = await b.puller.pull(parseTagged(tag));
  expect(id).toBe(image.configDigest);
  expect(b.store.checkpointOf(id)).toBeUndefined();
});
