/**
 * Checkpoint images in the image store (issue 66), on a real on-disk store: an attached state
 * manifest is shown on the image and survives a reopen; one whose manifest or blob went
 * missing is dropped at init while the image stays; deleting the image (rmi, prune) deletes
 * the state's blobs that no other image's attachment names, keeps the shared ones, and tells
 * the onImageDeleted listeners. The state manifest parser refuses what is not a state.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ContentStore } from '../../../src/storage/content';
import { LayerStore } from '../../../src/storage/layers/store';
import { ImageStore } from '../../../src/storage/images';
import { parseTagged } from '../../../src/storage/reference';
import { sha256Digest } from '../../../src/storage/digest';
import type { ImageConfig } from '../../../src/storage/types';
import { InvalidArgumentError } from '../../../src/errors';
import {
  CHECKPOINT_MAX_LAYERS,
  parseStateManifest,
  stateBlobDigests,
} from '../../../src/storage/checkpoint-image/state-manifest';
import { CHECKPOINT_CONFIG_MAX, CHECKPOINT_MANIFEST_MAX } from '../../../src/storage/checkpoint-image/media-types';
import { makeState, stateManifestOf } from '../../fixtures/checkpoint-state';

let root: string;
let content: ContentStore;
let layers: LayerStore;
let store: ImageStore;

async function open(): Promise<void> {
  content = new ContentStore(path.join(root, 'content'));
  layers = new LayerStore(path.join(root, 'layers'));
  await content.init();
  await layers.init();
  store = new ImageStore(path.join(root, 'images'), content, layers);
  await store.init();
}

async function addImage(label: string, refs: string[]): Promise<string> {
  const diffId = sha256Digest(label);
  const ing = await layers.begin();
  fs.writeFileSync(path.join(ing.dir, 'f'), label);
  await ing.commit(diffId, label.length);
  const config: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    config: { Labels: { l: label } },
    rootfs: { type: 'layers', diff_ids: [diffId] },
  };
  const id = await content.put(Buffer.from(JSON.stringify(config)));
  await store.commit({ id, config, layers: [diffId], refs: refs.map((r) => parseTagged(r)) });
  return id;
}

beforeEach(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-ckpt-'));
  await open();
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

test('an attachment is shown on the image and survives a reopen of the store', async () => {
  const id = await addImage('a', ['example.com/a:1']);
  const state = await makeState(content, { 'vm.state': Buffer.from('memory'), 'root.disk': Buffer.from('disk') });
  expect(store.checkpointOf(id)).toBeUndefined();
  expect(store.byId(id)?.checkpoint).toBeUndefined();
  await store.attachCheckpoint(id, state.manifest);
  expect(store.checkpointOf(id)).toBe(state.manifest);
  expect(store.find('example.com/a:1').checkpoint).toBe(state.manifest);
  expect(await stateBlobDigests(content, state.manifest)).toEqual([state.config, ...state.layers]);

  await open();
  expect(store.checkpointOf(id)).toBe(state.manifest);
  expect(store.list()[0].checkpoint).toBe(state.manifest);
});

test('an attachment whose manifest or a blob went missing is dropped at init; the image stays', async () => {
  const a = await addImage('a', ['example.com/a:1']);
  const b = await addImage('b', ['example.com/b:1']);
  const sa = await makeState(content, { 'vm.state': Buffer.from('state of a') });
  const sb = await makeState(content, { 'vm.state': Buffer.from('state of b') });
  await store.attachCheckpoint(a, sa.manifest);
  await store.attachCheckpoint(b, sb.manifest);
  await content.delete(sa.layers[0]);
  await content.delete(sb.manifest);
  await open();
  expect(store.byId(a)).toBeDefined();
  expect(store.byId(b)).toBeDefined();
  expect(store.checkpointOf(a)).toBeUndefined();
  expect(store.checkpointOf(b)).toBeUndefined();
  const saved = JSON.parse(fs.readFileSync(path.join(root, 'images', 'state.json'), 'utf8')) as {
    checkpoints: Record<string, string>;
  };
  expect(saved.checkpoints).toEqual({});
});

test('attaching refuses an unknown image or an incomplete state; a new attachment collects the old one', async () => {
  const id = await addImage('a', ['example.com/a:1']);
  const s1 = await makeState(content, { 'vm.state': Buffer.from('one') });
  await expect(store.attachCheckpoint(sha256Digest('none'), s1.manifest)).rejects.toThrow(/not found/);
  const partial = await makeState(content, { 'vm.state': Buffer.from('partial') });
  await content.delete(partial.config);
  await expect(store.attachCheckpoint(id, partial.manifest)).rejects.toThrow(InvalidArgumentError);
  expect(store.checkpointOf(id)).toBeUndefined();

  await store.attachCheckpoint(id, s1.manifest);
  const s2 = await makeState(content, { 'vm.state': Buffer.from('two') });
  await store.attachCheckpoint(id, s2.manifest);
  expect(store.checkpointOf(id)).toBe(s2.manifest);
  expect(await content.has(s1.manifest)).toBe(false);
  expect(await content.has(s1.layers[0])).toBe(false);
  expect(await content.has(s2.layers[0])).toBe(true);
});

test('rmi deletes the state blobs only the image needed, keeps the shared ones, and tells the listeners', async () => {
  const a = await addImage('a', ['example.com/a:1']);
  const b = await addImage('b', ['example.com/b:1']);
  const shared = Buffer.from('the same disk');
  const sa = await makeState(content, { 'root.disk': shared, 'vm.state': Buffer.from('memory of a') }, { of: 'a' });
  const sb = await makeState(content, { 'root.disk': shared, 'vm.state': Buffer.from('memory of b') }, { of: 'b' });
  await store.attachCheckpoint(a, sa.manifest);
  await store.attachCheckpoint(b, sb.manifest);
  const deleted: string[] = [];
  store.onImageDeleted(async (imageId) => {
    // Called once the image and its attachment are gone.
    expect(store.byId(imageId)).toBeUndefined();
    expect(store.checkpointOf(imageId)).toBeUndefined();
    deleted.push(imageId);
  });
  store.onImageDeleted(() => {
    throw new Error('a failing listener does not fail the deletion');
  });

  await store.remove('example.com/a:1');
  expect(deleted).toEqual([a]);
  expect(await content.has(sa.manifest)).toBe(false);
  expect(await content.has(sa.config)).toBe(false);
  expect(await content.has(sa.layers[1])).toBe(false);
  expect(await content.has(sa.layers[0])).toBe(true);
  for (const d of [sb.manifest, sb.config, ...sb.layers]) expect(await content.has(d)).toBe(true);

  const { items } = await store.prune(false, () => true);
  expect(items).toContainEqual({ deleted: b });
  expect(deleted).toEqual([a, b]);
  for (const d of [sb.manifest, sb.config, ...sb.layers]) expect(await content.has(d)).toBe(false);
});

test('two images with the same state: the first deletion keeps it all for the second', async () => {
  const a = await addImage('a', ['example.com/a:1']);
  const b = await addImage('b', ['example.com/b:1']);
  const s = await makeState(content, { 'vm.state': Buffer.from('shared state') });
  await store.attachCheckpoint(a, s.manifest);
  await store.attachCheckpoint(b, s.manifest);
  await store.remove(a);
  for (const d of [s.manifest, s.config, ...s.layers]) expect(await content.has(d)).toBe(true);
  await open();
  expect(store.checkpointOf(b)).toBe(s.manifest);
  await store.remove('example.com/b:1');
  for (const d of [s.manifest, s.config, ...s.layers]) expect(await content.has(d)).toBe(false);
});

describe('parseStateManifest', () => {
  const good = () =>
    JSON.parse(stateManifestOf({ 'vm.state': Buffer.from('x') }).body.toString()) as Record<string, unknown> & {
      config: Record<string, unknown>;
      layers: Array<Record<string, unknown>>;
    };
  const parse = (m: unknown) => () => parseStateManifest(Buffer.from(JSON.stringify(m)));

  test('accepts a state manifest and lists its blobs', () => {
    const m = parseStateManifest(stateManifestOf({ 'vm.state': Buffer.from('x'), 'a.disk': Buffer.from('y') }).body);
    expect(m.layers).toHaveLength(2);
    expect(m.layers[0].annotations).toEqual({ 'org.opencontainers.image.title': 'vm.state' });
  });

  test('refuses what is not a state manifest', () => {
    expect(() => parseStateManifest(Buffer.from('{'))).toThrow(/not JSON/);
    expect(parse({ ...good(), mediaType: 'application/vnd.docker.distribution.manifest.v2+json' })).toThrow(
      /media type/,
    );
    expect(parse({ ...good(), schemaVersion: 1 })).toThrow(/schemaVersion/);
    expect(parse({ ...good(), artifactType: 'application/other' })).toThrow(/artifactType/);
    const m1 = good();
    m1.config.mediaType = 'application/vnd.oci.image.config.v1+json';
    expect(parse(m1)).toThrow(/config has media type/);
    const m2 = good();
    m2.config.size = CHECKPOINT_CONFIG_MAX + 1;
    expect(parse(m2)).toThrow(/config of \d+ bytes/);
    const m3 = good();
    m3.layers[0].mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip';
    expect(parse(m3)).toThrow(/layers\[0\] has media type/);
    const m4 = good();
    m4.layers = Array.from({ length: CHECKPOINT_MAX_LAYERS + 1 }, () => m4.layers[0]);
    expect(parse(m4)).toThrow(/layers, more than/);
    const m5 = good();
    m5.layers[0].digest = 'sha256:../../etc';
    expect(parse(m5)).toThrow(/invalid digest/);
    const m6 = good();
    m6.layers[0].size = -1;
    expect(parse(m6)).toThrow(/invalid size/);
    expect(parse({ ...good(), pad: 'x'.repeat(CHECKPOINT_MANIFEST_MAX) })).toThrow(/more than/);
  });
});
