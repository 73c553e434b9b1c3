/**
 * `docker save` / `docker load` of a checkpoint image (issue 66) against real stores in a temp
 * directory: the attached state travels under blobs/sha256/ with podvisor-checkpoints.json and
 * is attached again by the load, in another store; a plain save has neither. A state whose
 * blob does not match its digest, a state larger than the load allows, or an attachment naming
 * an image the archive lacks is refused, and the load leaves no state blob behind.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { ImageService } from '../../../src/storage/service';
import { ArchiveLoader } from '../../../src/storage/archive-image/load';
import { prepareSave, writeSaveArchive } from '../../../src/storage/archive-image/save';
import type { ArchiveLimits } from '../../../src/storage/archive-image/read';
import { InvalidArgumentError } from '../../../src/errors';
import { digestHex } from '../../../src/storage/digest';
import { CHECKPOINTS_MEMBER, blobMember } from '../../../src/storage/checkpoint-image/state-archive';
import { assembleImage, buildLayer, packTar, type BuiltImage } from '../../fixtures/image-builder';
import { makeState, type MadeState } from '../../fixtures/checkpoint-state';
import { tarMembers } from '../../helpers/tar-members';

let image: BuiltImage;
let root: string;

beforeAll(async () => {
  image = assembleImage([await buildLayer([{ name: 'hello', content: 'hello' }])]);
});
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-ckpt-archive-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

async function load(svc: ImageService, dir: string, archive: Buffer, limits: ArchiveLimits = {}): Promise<string[]> {
  const loader = new ArchiveLoader(svc.content, svc.layers, svc.store, path.join(root, dir, 'load-tmp'), limits);
  return loader.load(Readable.from([archive]));
}

async function save(svc: ImageService, names: string[]): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await writeSaveArchive(svc.content, svc.layers, await prepareSave(svc.store, svc.layers, names), out);
  return Buffer.concat(chunks);
}

/** A store holding `image` as example.com/ckpt:1 with a state attached. */
async function checkpointImage(): Promise<{ svc: ImageService; state: MadeState }> {
  const svc = await ImageService.open(path.join(root, 'a'));
  const config = `${digestHex(image.configDigest)}.json`;
  const archive = await packTar([
    { name: config, content: image.config },
    { name: 'l0/layer.tar', content: image.layers[0].tar },
    {
      name: 'manifest.json',
      content: JSON.stringify([{ Config: config, RepoTags: ['example.com/ckpt:1'], Layers: ['l0/layer.tar'] }]),
    },
  ]);
  await load(svc, 'a', archive);
  const state = await makeState(svc.content, {
    'vm.state': Buffer.from('the memory'),
    'root.disk': Buffer.alloc(4096, 1),
  });
  await svc.store.attachCheckpoint(image.configDigest, state.manifest);
  return { svc, state };
}

test('save writes the state and its attachment; load into another store attaches it again', async () => {
  const { svc, state } = await checkpointImage();
  const archive = await save(svc, ['example.com/ckpt:1']);
  const members = await tarMembers(archive);
  expect(JSON.parse(members.get(CHECKPOINTS_MEMBER)!.toString())).toEqual({
    format: 1,
    checkpoints: { [image.configDigest]: state.manifest },
  });
  for (const d of [state.manifest, state.config, ...state.layers])
    expect(members.get(blobMember(d))).toEqual(await svc.content.read(d));

  const other = await ImageService.open(path.join(root, 'b'));
  expect(await load(other, 'b', archive)).toEqual([image.configDigest]);
  expect(other.store.find('example.com/ckpt:1').checkpoint).toBe(state.manifest);
  for (const d of [state.manifest, state.config, ...state.layers]) expect(await other.content.has(d)).toBe(true);

  // Saved again from the second store: the same archive members.
  const again = await tarMembers(await save(other, ['example.com/ckpt:1']));
  expect([...again.keys()].sort()).toEqual([...members.keys()].sort());
});

test('a plain image saves without state members', async () => {
  const { svc } = await checkpointImage();
  const plain = assembleImage([await buildLayer([{ name: 'plain', content: 'plain' }])]);
  const config = `${digestHex(plain.configDigest)}.json`;
  await load(
    svc,
    'a',
    await packTar([
      { name: config, content: plain.config },
      { name: 'l0/layer.tar', content: plain.layers[0].tar },
      {
        name: 'manifest.json',
        content: JSON.stringify([{ Config: config, RepoTags: ['p:1'], Layers: ['l0/layer.tar'] }]),
      },
    ]),
  );
  const names = [...(await tarMembers(await save(svc, ['p:1']))).keys()];
  expect(names).not.toContain(CHECKPOINTS_MEMBER);
  expect(names.some((n) => n.startsWith('blobs/'))).toBe(false);
});

/** Rebuild `archive` with `change` applied to its members. */
async function rewrite(archive: Buffer, change: (m: Map<string, Buffer>) => void): Promise<Buffer> {
  const m = await tarMembers(archive);
  change(m);
  return packTar([...m].map(([name, content]) => ({ name, content })));
}

test('a tampered, oversized or misplaced state is refused and leaves no state blob', async () => {
  const { svc, state } = await checkpointImage();
  const archive = await save(svc, ['example.com/ckpt:1']);
  const cases: Array<[Buffer, RegExp, ArchiveLimits?]> = [
    [
      await rewrite(archive, (m) => m.set(blobMember(state.layers[1]), Buffer.alloc(4096, 2))),
      /checkpoint state blob .*digest mismatch/,
    ],
    [await rewrite(archive, (m) => m.delete(blobMember(state.layers[0]))), /blob .* is missing/],
    [
      archive,
      /declare .* bytes, more than the 100 bytes allowed|larger than the 100 bytes allowed/,
      { checkpointMaxBytes: 100 },
    ],
    [
      await rewrite(archive, (m) =>
        m.set(
          CHECKPOINTS_MEMBER,
          Buffer.from(JSON.stringify({ format: 1, checkpoints: { [state.config]: state.manifest } })),
        ),
      ),
      /is not an image of the archive/,
    ],
  ];
  for (const [bad, message, limits] of cases) {
    const other = await ImageService.open(path.join(root, 'c'));
    const err = await load(other, 'c', bad, limits).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toMatch(message);
    for (const d of [state.manifest, state.config, ...state.layers]) expect(await other.content.has(d)).toBe(false);
    expect(other.store.list().every((i) => i.checkpoint === undefined)).toBe(true);
  }
});
