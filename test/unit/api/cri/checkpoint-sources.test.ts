/**
 * The CRI restore's sources (src/api/cri/checkpoint-sources.ts) over real archives and real
 * layer directories: a checkpoint image (marked by CRI-O's annotation on its manifest, or by a
 * label of that name) is read from its layers as the archive it was made from, byte for byte,
 * whatever order the image holds its files in, the highest layer's file winning and a whiteout
 * hiding a lower one; an image without the mark, or that names no local image, is no source; an
 * image missing a member, or holding one as a link, is refused with nothing written.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { writeCriCheckpointArchive } from '../../../../src/api/cri/checkpoint-archive';
import { counterManifest, sparse } from './archive-fixture';
import {
  CHECKPOINT_IMAGE_ANNOTATION,
  checkpointImageSource,
  type CheckpointImageStore,
} from '../../../../src/api/cri/checkpoint-sources';
import { InvalidArgumentError, NotFoundError } from '../../../../src/errors';
import type { ImageRecord } from '../../../../src/storage/types';

let dir: string;
let ckpt: string;
let into: string;
const DISK_ID = 'a'.repeat(64);

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-cri-sources-'));
  ckpt = path.join(dir, 'ckpt');
  into = path.join(dir, 'into');
  fs.mkdirSync(ckpt);
  fs.mkdirSync(into);
  fs.writeFileSync(path.join(ckpt, 'vm.state'), crypto.randomBytes(2 * 1024 * 1024 + 5));
  fs.writeFileSync(path.join(ckpt, 'vm.json'), '{"vm":1}');
  fs.writeFileSync(path.join(ckpt, 'pod.json'), '{"pod":1}');
  sparse(path.join(ckpt, 'joined-0.disk'), 8 * 1024 * 1024, [[4096, crypto.randomBytes(5000)]]);
  sparse(path.join(ckpt, 'image-0.ext4'), 4 * 1024 * 1024, [[4096, crypto.randomBytes(5000)]]);
  await writeCriCheckpointArchive(
    ckpt,
    counterManifest(DISK_ID, '2026-11-29T22:00:00.000Z'),
    path.join(dir, 'archive.tar'),
  );
});

afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A layer directory holding the archive's members as `tar -x` (buildah add, docker import) unpacks them. */
function layerOfArchive(name: string): string {
  const layer = path.join(dir, name);
  fs.mkdirSync(layer);
  execFileSync('tar', ['-xf', path.join(dir, 'archive.tar'), '-C', layer]);
  return layer;
}

function image(labels: Record<string, string> = {}): ImageRecord {
  return {
    id: `sha256:${'c'.repeat(64)}`,
    repoTags: ['ckpt:1'],
    repoDigests: [],
    config: {
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: labels },
      rootfs: { type: 'layers', diff_ids: [] },
    },
    size: 0,
    storedAt: 0,
  };
}

function store(
  img: ImageRecord | undefined,
  layers: string[],
  annotations: Record<string, string> = {},
): CheckpointImageStore {
  return {
    resolve: (ref) => (img ? Promise.resolve(img) : Promise.reject(new NotFoundError(`No such image: ${ref}`))),
    layerDirs: () => Promise.resolve(layers),
    annotations: () => Promise.resolve(annotations),
  };
}

function expectSameAsSaved(): void {
  for (const f of fs.readdirSync(ckpt))
    expect(fs.readFileSync(path.join(into, f)).equals(fs.readFileSync(path.join(ckpt, f)))).toBe(true);
}

describe('a checkpoint image as a CRI restore source', () => {
  it("marked by a label, reads back as its archive's files", async () => {
    const src = await checkpointImageSource(
      store(image({ [CHECKPOINT_IMAGE_ANNOTATION]: 'count' }), [layerOfArchive('l1')]),
      'ckpt:1',
    );
    expect(src?.what).toBe('checkpoint image ckpt:1');
    const m = await src!.unpack(into);
    expect(m.container.diskName).toBe(DISK_ID);
    expectSameAsSaved();
  });

  it("marked by its manifest's annotation, over a base layer, the highest layer's file winning", async () => {
    const base = path.join(dir, 'base');
    fs.mkdirSync(base);
    fs.writeFileSync(path.join(base, 'vm.state'), 'an older state');
    fs.writeFileSync(path.join(base, 'etc-file'), 'unrelated');
    const src = await checkpointImageSource(
      store(image(), [base, layerOfArchive('top')], { [CHECKPOINT_IMAGE_ANNOTATION]: 'count' }),
      'ckpt:1',
    );
    await src!.unpack(into);
    expectSameAsSaved();
  });

  it('an image without the mark, or no local image, is no source', async () => {
    expect(
      await checkpointImageSource(store(image({ other: 'x' }), [layerOfArchive('l1')]), 'busybox'),
    ).toBeUndefined();
    expect(await checkpointImageSource(store(undefined, []), 'nosuch')).toBeUndefined();
  });

  it('refuses an image missing a member, hiding one under a whiteout, or holding one as a link; nothing written', async () => {
    const marked = image({ [CHECKPOINT_IMAGE_ANNOTATION]: 'count' });
    const cut = layerOfArchive('cut');
    fs.rmSync(path.join(cut, 'pod.json'));
    const refusal = async (layers: string[]) => {
      const err = await (await checkpointImageSource(store(marked, layers), 'ckpt:1'))!.unpack(into).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(fs.readdirSync(into)).toEqual([]);
      return err!.message;
    };
    expect(await refusal([cut])).toBe('the image holds no pod.json');
    // A whiteout in a higher layer (a 0:0 character device) hides the lower layer's file.
    const white = path.join(dir, 'white');
    fs.mkdirSync(white);
    execFileSync('mknod', [path.join(white, 'vm.json'), 'c', '0', '0']);
    expect(await refusal([layerOfArchive('under'), white])).toBe('the image holds no vm.json');
    const linked = layerOfArchive('linked');
    fs.rmSync(path.join(linked, 'vm.state'));
    fs.symlinkSync('/etc/passwd', path.join(linked, 'vm.state'));
    expect(await refusal([linked])).toBe('its vm.state is not a regular file');
  });
});
