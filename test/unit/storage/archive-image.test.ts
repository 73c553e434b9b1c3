/**
 * docker-archive load and save against real stores in a temp directory: a round trip keeps
 * the image ID and gives the layer tars back byte for byte; hostile archives (members or
 * layer paths climbing out, symlinks to host files, oversized manifests, missing layers,
 * layers that do not match their diff ID, garbage) are refused with an InvalidArgumentError
 * (HTTP 400) and leave the stores as they were and the host untouched. A reader that goes away
 * mid-save (a client closing its connection) ends the save with an error and nothing else.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { ImageService } from '../../../src/storage/service';
import { ArchiveLoader, type LoadEvent } from '../../../src/storage/archive-image/load';
import { prepareSave, writeSaveArchive } from '../../../src/storage/archive-image/save';
import { InvalidArgumentError } from '../../../src/errors';
import { httpStatusOf } from '../../../src/api/v1.41/errors';
import { assembleImage, buildLayer, packTar, type BuiltImage, type LayerEntry } from '../../fixtures/image-builder';
import { digestHex } from '../../../src/storage/digest';
import { tarMembers as members } from '../../helpers/tar-members';

let image: BuiltImage;
let root: string;

beforeAll(async () => {
  image = assembleImage([
    await buildLayer([
      { name: 'etc', type: 'directory' },
      { name: 'etc/hello', content: 'hello' },
    ]),
    await buildLayer([{ name: 'big', content: Buffer.alloc(300000, 7) }]),
  ]);
});

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-archive-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

/** A docker-archive of `image` with the given extra or replacing members. */
function archiveEntries(
  img: BuiltImage,
  opts: { manifest?: unknown; dropLayer?: number; layerName?: (i: number) => string } = {},
): LayerEntry[] {
  const name = opts.layerName ?? ((i: number) => `l${i}/layer.tar`);
  const entries: LayerEntry[] = [{ name: `${digestHex(img.configDigest)}.json`, content: img.config }];
  img.layers.forEach((l, i) => {
    if (i !== opts.dropLayer) entries.push({ name: name(i), content: l.tar });
  });
  const manifest = opts.manifest ?? [
    {
      Config: `${digestHex(img.configDigest)}.json`,
      RepoTags: ['example.com/x:1'],
      Layers: img.layers.map((_, i) => name(i)),
    },
  ];
  entries.push({ name: 'manifest.json', content: JSON.stringify(manifest) });
  return entries;
}

async function open(): Promise<ImageService> {
  return ImageService.open(path.join(root, 'data'));
}

async function loadInto(
  svc: ImageService,
  archive: Buffer,
  limits = {},
): Promise<{ ids: string[]; events: LoadEvent[] }> {
  const loader = new ArchiveLoader(svc.content, svc.layers, svc.store, path.join(root, 'data', 'load-tmp'), limits);
  const events: LoadEvent[] = [];
  const ids = await loader.load(Readable.from([archive]), (e) => events.push(e));
  return { ids, events };
}

async function expectRefused(svc: ImageService, archive: Buffer, message: RegExp, limits = {}): Promise<void> {
  const err = await loadInto(svc, archive, limits).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InvalidArgumentError);
  expect(httpStatusOf(err as Error)).toBe(400);
  expect((err as Error).message).toMatch(message);
  expect(svc.store.list()).toEqual([]);
  expect(svc.layers.list()).toEqual([]);
  expect(fs.readdirSync(path.join(root, 'data', 'load-tmp'))).toEqual([]);
}

async function saveToBuffer(svc: ImageService, names: string[]): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await writeSaveArchive(svc.content, svc.layers, await prepareSave(svc.store, svc.layers, names), out);
  return Buffer.concat(chunks);
}

test('load then save gives the same image ID and the layer tars byte for byte; a second store loads it back', async () => {
  const svc = await open();
  const { ids, events } = await loadInto(svc, await packTar(archiveEntries(image)));
  expect(ids).toEqual([image.configDigest]);
  expect(svc.store.find('example.com/x:1').id).toBe(image.configDigest);
  expect(events.filter((e) => e.kind === 'loaded')).toEqual([{ kind: 'loaded', reference: 'example.com/x:1' }]);
  expect(fs.readFileSync(path.join(svc.layers.get(image.layers[0].diffId).dir, 'etc/hello'), 'utf8')).toBe('hello');

  const saved = await members(await saveToBuffer(svc, ['example.com/x']));
  const manifest = JSON.parse(saved.get('manifest.json')!.toString()) as Array<{
    Config: string;
    RepoTags: string[];
    Layers: string[];
  }>;
  expect(manifest).toHaveLength(1);
  expect(manifest[0].RepoTags).toEqual(['example.com/x:1']);
  expect(saved.get(manifest[0].Config)!.equals(image.config)).toBe(true);
  expect(manifest[0].Layers.map((l) => saved.get(l)!.equals(image.layers[manifest[0].Layers.indexOf(l)].tar))).toEqual([
    true,
    true,
  ]);

  fs.mkdirSync(path.join(root, 'second'));
  const other = await ImageService.open(path.join(root, 'second'));
  const again = await other.loader.load(Readable.from([await saveToBuffer(svc, [image.configDigest])]));
  expect(again).toEqual([image.configDigest]);
  expect(other.store.find(image.configDigest).repoTags).toEqual([]);
});

test('a member climbing out of the archive is refused', async () => {
  const svc = await open();
  const entries = archiveEntries(image);
  entries.unshift({ name: '../../escape', content: 'x' });
  await expectRefused(svc, await packTar(entries), /points outside the archive/);
  expect(fs.existsSync(path.join(root, 'escape'))).toBe(false);
});

test('a layer path climbing out of the archive is refused', async () => {
  const svc = await open();
  await expectRefused(
    svc,
    await packTar(archiveEntries(image, { layerName: (i) => `../../l${i}.tar` })),
    /points outside the archive/,
  );
});

test('a layer that is a symlink to a host file is not read from the host', async () => {
  const svc = await open();
  const hostFile = path.join(root, 'host-secret.tar');
  fs.writeFileSync(hostFile, image.layers[1].tar);
  const entries = archiveEntries(image, { dropLayer: 1 });
  entries.unshift({ name: 'l1/layer.tar', type: 'symlink', linkname: hostFile });
  await expectRefused(svc, await packTar(entries), /layer l1\/layer.tar is missing/);
});

test('a manifest over the size limit is refused', async () => {
  const svc = await open();
  const entries = archiveEntries(image);
  entries[entries.length - 1] = { name: 'manifest.json', content: Buffer.alloc(5000, 0x20) };
  await expectRefused(svc, await packTar(entries), /manifest.json is larger than 4096 bytes/, { maxJsonBytes: 4096 });
});

test('missing layers, missing manifests and wrong layer counts are refused', async () => {
  const svc = await open();
  await expectRefused(svc, await packTar(archiveEntries(image, { dropLayer: 1 })), /layer l1\/layer.tar is missing/);
  await expectRefused(
    svc,
    await packTar(archiveEntries(image).filter((e) => e.name !== 'manifest.json')),
    /no manifest.json/,
  );
  const short = [{ Config: `${digestHex(image.configDigest)}.json`, RepoTags: null, Layers: ['l0/layer.tar'] }];
  await expectRefused(
    svc,
    await packTar(archiveEntries(image, { manifest: short })),
    /lists 2 diff IDs but the manifest names 1 layers/,
  );
  await expectRefused(
    svc,
    await packTar(archiveEntries(image, { manifest: { not: 'a list' } })),
    /manifest.json is not a list/,
  );
  await expectRefused(
    svc,
    await packTar(archiveEntries(image, { manifest: [{ Config: 'nope.json', Layers: [] }] })),
    /config nope.json is missing/,
  );
});

test('a layer whose tar does not match its diff ID is refused and nothing is kept', async () => {
  const svc = await open();
  const entries = archiveEntries(image);
  const i = entries.findIndex((e) => e.name === 'l1/layer.tar');
  entries[i] = { name: 'l1/layer.tar', content: await packTar([{ name: 'other', content: 'not the layer' }]) };
  await expectRefused(svc, await packTar(entries), /invalid diffID for layer 1/);
  expect((await svc.content.list()).filter((d) => d !== image.configDigest)).toEqual([]);
});

test('a layer with an entry climbing out of its root is refused by the extractor', async () => {
  const svc = await open();
  const evil = await buildLayer([{ name: '../../../evil', content: 'x' }]);
  const img = assembleImage([evil]);
  await expectRefused(svc, await packTar(archiveEntries(img)), /./);
  expect(fs.existsSync(path.join(root, 'evil'))).toBe(false);
});

test('garbage is refused', async () => {
  const svc = await open();
  await expectRefused(svc, Buffer.from('this is not a tar archive at all'.repeat(40)), /invalid archive/);
});

/** Files of this test's temp directory that the process still has open. */
function openFilesUnderRoot(): string[] {
  const out: string[] = [];
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(root)) out.push(target);
    } catch {
      // closed while listing
    }
  }
  return out;
}

test('a reader going away mid-save rejects the save, throws nothing out of the event loop, closes the layer files, and a later save works', async () => {
  const svc = await open();
  await loadInto(svc, await packTar(archiveEntries(image)));
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown) => uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  try {
    // The reader closes after 1 chunk (config only), 5 and 20 (inside the 300 kB layer).
    for (const closeAfter of [1, 5, 20]) {
      let chunks = 0;
      const out = new Writable({
        highWaterMark: 1024,
        write(_chunk, _enc, cb) {
          if (++chunks >= closeAfter) this.destroy();
          else cb();
        },
      });
      const err = await writeSaveArchive(
        svc.content,
        svc.layers,
        await prepareSave(svc.store, svc.layers, ['example.com/x:1']),
        out,
      ).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(Error);
      for (let i = 0; i < 50 && openFilesUnderRoot().length; i++) await new Promise((r) => setTimeout(r, 20));
      expect(openFilesUnderRoot()).toEqual([]);
    }
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    process.off('uncaughtException', onUncaught);
  }
  expect(uncaught).toEqual([]);
  const saved = await members(await saveToBuffer(svc, ['example.com/x:1']));
  expect(saved.has('manifest.json')).toBe(true);
});

test('saving the same image twice gives the same bytes, member for member; the config is the image ID', async () => {
  const svc = await open();
  await loadInto(svc, await packTar(archiveEntries(image)));
  const first = await saveToBuffer(svc, ['example.com/x:1']);
  await new Promise((r) => setTimeout(r, 1100));
  const second = await saveToBuffer(svc, ['example.com/x:1']);
  expect(second.equals(first)).toBe(true);
  const m = await members(first);
  const manifest = JSON.parse(m.get('manifest.json')!.toString()) as Array<{ Config: string; Layers: string[] }>;
  expect(`sha256:${crypto.createHash('sha256').update(m.get(manifest[0].Config)!).digest('hex')}`).toBe(
    image.configDigest,
  );
  expect(
    manifest[0].Layers.map((l) => `sha256:${crypto.createHash('sha256').update(m.get(l)!).digest('hex')}`),
  ).toEqual(image.layers.map((l) => l.diffId));
});
