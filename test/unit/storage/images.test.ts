/**
 * Image store rules on a real on-disk store: lookup by name, digest and short ID; untag vs
 * delete; the 409s while a container uses an image (soft unless running); layers shared by
 * two images survive the deletion of one; state survives a reopen. Storage's failures carry
 * their facts in fields; the texts asserted here are what the Docker front end renders from
 * them (src/translate/errors.ts), byte for byte dockerd's.
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
import { ImageDeleteConflictError, NoSuchImageError, ReferenceInUseError } from '../../../src/storage/errors';
import { dockerMessage } from '../../../src/translate/errors';

/** The error `fn` throws or rejects with, and dockerd's wording of it. */
async function failure(fn: () => unknown): Promise<{ err: unknown; docker: string | undefined }> {
  try {
    await fn();
  } catch (err) {
    return { err, docker: dockerMessage(err) };
  }
  throw new Error('expected a failure');
}

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

async function addLayer(name: string): Promise<string> {
  const diffId = sha256Digest(name);
  if (layers.has(diffId)) return diffId;
  const ing = await layers.begin();
  fs.writeFileSync(path.join(ing.dir, name), name);
  await ing.commit(diffId, name.length);
  return diffId;
}

async function addImage(layerNames: string[], refs: string[], label: string): Promise<string> {
  const diffIds = [];
  for (const l of layerNames) diffIds.push(await addLayer(l));
  const config: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    config: { Labels: { l: label } },
    rootfs: { type: 'layers', diff_ids: diffIds },
  };
  const buf = Buffer.from(JSON.stringify(config));
  const id = await content.put(buf);
  const manifestDigest = sha256Digest(label);
  await store.commit({
    id,
    config,
    layers: diffIds,
    refs: refs.flatMap((r) => [parseTagged(r), { ...parseTagged(r), tag: undefined, digest: manifestDigest }]),
  });
  return id;
}

beforeEach(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-images-'));
  await open();
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

test('lookup by name, implied :latest, full and short ID; unknown names get "No such image"', async () => {
  const id = await addImage(['base'], ['127.0.0.1:5000/busybox:latest'], 'a');
  expect(store.find('127.0.0.1:5000/busybox').id).toBe(id);
  expect(store.find(id).id).toBe(id);
  expect(store.find(id.slice(7, 19)).id).toBe(id);
  expect(store.find(`127.0.0.1:5000/busybox@${sha256Digest('a')}`).id).toBe(id);
  const missing = await failure(() => store.find('nope'));
  expect(missing.err).toBeInstanceOf(NoSuchImageError);
  expect(missing.docker).toBe('No such image: nope:latest');
  expect(await store.layerDirs(id)).toEqual([path.join(root, 'layers/sha256', sha256Digest('base').slice(7), 'diff')]);
});

test('rmi of one of two tags untags; of the last tag deletes image, digests and unshared layers', async () => {
  const base = await addImage(['base'], ['busybox:latest'], 'a');
  const top = await addImage(['base', 'top'], ['app:1'], 'b');
  await store.tag('app:1', parseTagged('app:2'));
  expect(await store.remove('app:2')).toEqual([{ untagged: 'app:2' }]);
  const items = await store.remove('app:1');
  expect(items).toEqual([
    { untagged: 'app:1' },
    { untagged: `app@${sha256Digest('b')}` },
    { deleted: top },
    { deleted: sha256Digest(`${sha256Digest('base')} ${sha256Digest('top')}`) },
  ]);
  expect(layers.has(sha256Digest('top'))).toBe(false);
  expect(layers.has(sha256Digest('base'))).toBe(true);
  expect(store.find('busybox').id).toBe(base);
});

test('an image a container uses answers 409 unless forced; a running user cannot be forced', async () => {
  const id = await addImage(['base'], ['busybox:latest'], 'a');
  await store.addUser(id, 'c'.repeat(64));
  const ref = await failure(() => store.remove('busybox'));
  expect(ref.err).toBeInstanceOf(ReferenceInUseError);
  expect(ref.docker).toBe(
    `conflict: unable to remove repository reference "busybox" (must force) - container cccccccccccc is using its referenced image ${id.slice(7, 19)}`,
  );
  const stopped = await failure(() => store.remove(id));
  expect(stopped.err).toMatchObject({
    forcible: true,
    blocker: { kind: 'stopped-container', containerId: 'c'.repeat(64) },
  });
  expect(stopped.docker).toBe(
    `conflict: unable to delete ${id.slice(7, 19)} (must be forced) - image is being used by stopped container cccccccccccc`,
  );
  store.setRunningProbe(() => true);
  const running = await failure(() => store.remove(id, { force: true }));
  expect(running.err).toBeInstanceOf(ImageDeleteConflictError);
  expect(running.docker).toBe(
    `conflict: unable to delete ${id.slice(7, 19)} (cannot be forced) - image is being used by running container cccccccccccc`,
  );
  expect(store.find('busybox').id).toBe(id);
  store.setRunningProbe(() => false);
  await store.removeUser(id, 'c'.repeat(64));
  expect((await store.remove('busybox')).some((i) => 'deleted' in i && i.deleted === id)).toBe(true);
});

test('rmi -f of an image a stopped container uses deletes the image and keeps its layers for the container, across a reopen, until the container goes (as dockerd)', async () => {
  const id = await addImage(['base', 'top'], ['app:1'], 'a');
  const user = 'c'.repeat(64);
  await store.addUser(id, user);
  // dockerd 26.1 answers this with the untag and the image's deletion, no layer.
  expect(await store.remove('app:1', { force: true })).toEqual([
    { untagged: 'app:1' },
    { untagged: `app@${sha256Digest('a')}` },
    { deleted: id },
  ]);
  expect(() => store.find(id)).toThrow(NoSuchImageError);
  await open();
  expect(() => store.find(id)).toThrow(NoSuchImageError);
  expect(layers.has(sha256Digest('base')) && layers.has(sha256Digest('top'))).toBe(true);
  await store.gc();
  expect(layers.has(sha256Digest('top'))).toBe(true);
  await store.removeUser(id, user);
  expect(layers.has(sha256Digest('base')) || layers.has(sha256Digest('top'))).toBe(false);
});

test('the state survives a reopen, and prune removes only dangling images', async () => {
  const a = await addImage(['base'], ['a:latest'], 'a');
  const b = await addImage(['other'], ['b:latest'], 'b');
  await store.tag('b:latest', parseTagged('a:latest'));
  await open();
  expect(store.find('a').id).toBe(b);
  expect(store.byId(a)?.repoTags).toEqual([]);
  const r = await store.prune(true, () => true);
  expect(r.items).toContainEqual({ deleted: a });
  expect(r.reclaimed).toBe('base'.length);
  expect(store.byId(a)).toBeUndefined();
  expect(store.byId(b)).toBeDefined();
});

test('a build chain: children block rmi, rmi of the top deletes its untagged parents, prune goes from the heads', async () => {
  const base = await addImage(['base'], ['127.0.0.1:5000/busybox:latest'], 'base');
  // Two untagged steps on the base, then the tagged top; the base was pulled (no parent kept).
  const step = async (parent: string, label: string, layerNames: string[], refs: string[] = []) => {
    const diffIds = [];
    for (const l of layerNames) diffIds.push(await addLayer(l));
    const config: ImageConfig = {
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { l: label } },
      rootfs: { type: 'layers', diff_ids: diffIds },
    };
    const id = await content.put(Buffer.from(JSON.stringify(config)));
    await store.commit({ id, config, layers: diffIds, refs: refs.map(parseTagged), parent });
    return id;
  };
  const s1 = await step(base, 's1', ['base']);
  const s2 = await step(s1, 's2', ['base', 'run']);
  const top = await step(s2, 'top', ['base', 'run'], ['app:1']);
  expect(store.children(s1)).toEqual([s2]);
  expect(store.ancestry(top).map((i) => i.id)).toEqual([top, s2, s1, base]);
  expect(store.byId(top)?.parent).toBe(s2);

  const blocked = await failure(() => store.remove(s2));
  expect(blocked.err).toBeInstanceOf(ImageDeleteConflictError);
  expect(blocked.docker).toBe(
    `conflict: unable to delete ${s2.slice(7, 19)} (cannot be forced) - image has dependent child images`,
  );
  await expect(store.remove(s1, { force: true })).rejects.toBeInstanceOf(ImageDeleteConflictError);

  // A second tagged image on s1 keeps s1 when the first chain goes.
  const other = await step(s1, 'other', ['base', 'other'], ['other:1']);
  const items = await store.remove('app:1', { prune: true });
  expect(items).toEqual([
    { untagged: 'app:1' },
    { deleted: top },
    { deleted: s2 },
    { deleted: expect.stringMatching(/^sha256:/) },
  ]);
  expect(store.byId(s1)).toBeDefined();
  expect(store.byId(base)).toBeDefined();

  // Prune (dangling): an untagged head goes with its untagged parents; the tagged image and
  // the parent it needs stay.
  const loose = await step(s1, 'loose', ['base', 'loose']);
  const s3 = await step(loose, 's3', ['base', 'loose']);
  const pruned = await store.prune(true, () => true);
  expect(pruned.items.filter((i) => 'deleted' in i && (i.deleted === s3 || i.deleted === loose))).toEqual([
    { deleted: s3 },
    { deleted: loose },
  ]);
  expect(store.byId(s3)).toBeUndefined();
  expect(store.byId(other)).toBeDefined();
  expect(store.byId(s1)).toBeDefined();
});

test('two pulls unpacking the same layer at once (compose pulls its services in parallel): both get the one stored layer', async () => {
  const diffId = sha256Digest('shared');
  const [a, b] = await Promise.all([layers.begin(), layers.begin()]);
  fs.writeFileSync(path.join(a.dir, 'f'), 'shared');
  fs.writeFileSync(path.join(b.dir, 'f'), 'shared');
  const [ia, ib] = await Promise.all([a.commit(diffId, 6), b.commit(diffId, 6)]);
  expect(ib).toEqual(ia);
  expect(fs.readFileSync(path.join(ia.dir, 'f'), 'utf8')).toBe('shared');
  expect(layers.list().filter((l) => l.diffId === diffId)).toHaveLength(1);
  expect(fs.readdirSync(path.join(root, 'layers', 'tmp'))).toEqual([]);
});

test('a tag moved to another image (docker tag, a re-pull) is told to the onTagMoved listeners; a new tag or the same image again is not', async () => {
  let moved = 0;
  store.onTagMoved(() => moved++);
  await addImage(['base'], ['app:1'], 'a');
  await addImage(['base', 'top'], ['other:1'], 'b');
  expect(moved).toBe(0);
  await store.tag('app:1', parseTagged('app:2'));
  await store.tag('app:1', parseTagged('app:2'));
  expect(moved).toBe(0);
  await store.tag('other:1', parseTagged('app:1'));
  expect(moved).toBe(1);
  expect(store.find('app:2').repoTags).toEqual(['app:2']);
  // A pull of app:2 that finds another image moves it too.
  await addImage(['base', 'newer'], ['app:2'], 'c');
  expect(moved).toBe(2);
});
