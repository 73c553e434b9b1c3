/**
 * The start's sweep over stored images that have no disk (src/storage/image-disks/sweep.ts):
 * which images get one, one make at a time and in the background, failures logged and
 * skipped, images removed meanwhile left without one; and, with real ImageDisks (mkfs.ext4 on
 * a plain directory standing for the image's mount), an image removed while its disk is made
 * leaves no disk behind, and a shutdown cuts a make short leaving nothing beside the disks.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ImageDiskSweep, type SweptImages } from '../../../src/storage/image-disks/sweep';
import type { ImageDiskMaker } from '../../../src/storage/image-disks/prep';
import { ImageDisks, type EnsureOptions, type ImageTree } from '../../../src/storage/image-disks/image-disks';
import { setLogSink } from '../../../src/util/log';

const lines: string[] = [];
let tmp: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-sweep-'));
  lines.length = 0;
  setLogSink((l) => lines.push(l));
});

afterEach(() => {
  setLogSink((l) => process.stderr.write(l + '\n'));
  fs.rmSync(tmp, { recursive: true, force: true });
});

const id = (n: string) => `sha256:${n.repeat(64)}`;

/** Stored images by ID, each with its layer directories. */
function store(images: Record<string, string[]>): SweptImages & { remove(id: string): void } {
  const state = new Map(Object.entries(images));
  return {
    list: () => [...state.keys()].map((i) => ({ id: i })),
    byId: (i) => (state.has(i) ? { id: i } : undefined),
    layerDirs: async (i) => {
      const l = state.get(i);
      if (!l) throw new Error(`No such image: ${i}`);
      return l;
    },
    remove: (i) => void state.delete(i),
  };
}

/** A maker that records its makes (and how many ran at once) and whose makes end when told. */
function recordingMaker(has: string[][] = []) {
  const disks = new Set(has.map((l) => l.join()));
  const calls: { layers: string[]; opts?: EnsureOptions }[] = [];
  let running = 0;
  let most = 0;
  const failing = new Set<string>();
  const maker: ImageDiskMaker = {
    hasImageDisk: (layers) => disks.has(layers.join()),
    imageDiskOfLayers: async (layers, opts) => {
      calls.push({ layers, ...(opts ? { opts } : {}) });
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      if (failing.has(layers.join())) throw new Error('mkfs.ext4 failed: no space left on device');
      disks.add(layers.join());
      return `/disks/${layers.join('+')}.ext4`;
    },
  };
  return { maker, calls, failing, most: () => most };
}

test('makes the disk of every stored image that has none, one at a time, in the background; logs each', async () => {
  const images = store({ [id('a')]: ['/l/1'], [id('b')]: ['/l/1', '/l/2'], [id('c')]: ['/l/3'] });
  const { maker, calls, most } = recordingMaker([['/l/3']]);
  await new ImageDiskSweep(images, maker).run();
  expect(calls).toEqual([
    { layers: ['/l/1'], opts: { background: true } },
    { layers: ['/l/1', '/l/2'], opts: { background: true } },
  ]);
  expect(most()).toBe(1);
  expect(lines.filter((l) => l.includes('INFO') && l.includes('made in the background'))).toEqual([
    expect.stringContaining(`image ${'a'.repeat(12)}: its disk was made in the background`),
    expect.stringContaining(`image ${'b'.repeat(12)}: its disk was made in the background`),
  ]);
});

test('two images of the same layers get one make; a store whose images all have disks logs nothing', async () => {
  const images = store({ [id('a')]: ['/l/1'], [id('b')]: ['/l/1'] });
  const { maker, calls } = recordingMaker();
  await new ImageDiskSweep(images, maker).run();
  expect(calls.map((c) => c.layers)).toEqual([['/l/1']]);
  lines.length = 0;
  await new ImageDiskSweep(images, maker).run();
  expect(calls).toHaveLength(1);
  expect(lines).toEqual([]);
});

test('a failed make is logged as a warning and skipped: the next image still gets its disk', async () => {
  const images = store({ [id('a')]: ['/l/1'], [id('b')]: ['/l/2'] });
  const { maker, calls, failing } = recordingMaker();
  failing.add('/l/1');
  await expect(new ImageDiskSweep(images, maker).run()).resolves.toBeUndefined();
  expect(calls.map((c) => c.layers)).toEqual([['/l/1'], ['/l/2']]);
  expect(maker.hasImageDisk(['/l/1'])).toBe(false);
  expect(maker.hasImageDisk(['/l/2'])).toBe(true);
  expect(lines.filter((l) => l.includes('WARN'))).toEqual([
    expect.stringContaining(
      `image ${'a'.repeat(12)}: its disk was not made (the first container start makes it): mkfs.ext4 failed: no space left on device`,
    ),
  ]);
});

test('an image removed before its turn gets no make; a stopped sweep starts no other', async () => {
  const images = store({ [id('a')]: ['/l/1'], [id('b')]: ['/l/2'], [id('c')]: ['/l/3'] });
  const { maker, calls } = recordingMaker();
  const sweep = new ImageDiskSweep(images, {
    ...maker,
    imageDiskOfLayers: async (layers, opts) => {
      const file = await maker.imageDiskOfLayers(layers, opts);
      // rmi of b while a's disk is made.
      images.remove(id('b'));
      return file;
    },
  });
  await sweep.run();
  expect(calls.map((c) => c.layers)).toEqual([['/l/1'], ['/l/3']]);

  const stopping = store({ [id('d')]: ['/l/4'], [id('e')]: ['/l/5'] });
  const second = recordingMaker();
  const stopped = new ImageDiskSweep(stopping, {
    ...second.maker,
    imageDiskOfLayers: (layers, opts) => {
      stopped.stop();
      return second.maker.imageDiskOfLayers(layers, opts);
    },
  });
  await stopped.run();
  expect(second.calls.map((c) => c.layers)).toEqual([['/l/4']]);
});

describe('with real image disks', () => {
  /** A tree "mounted" by copying one file in (mkfs.ext4 -d reads any directory). */
  const tree = (onMount?: () => void): ImageTree => ({
    mount: async (target) => {
      fs.writeFileSync(path.join(target, 'file'), 'content\n');
      onMount?.();
    },
    unmount: async (target) => {
      for (const f of fs.readdirSync(target)) fs.rmSync(path.join(target, f), { recursive: true });
    },
  });

  test("an image removed while its disk is made leaves no disk: the removal's release comes before the disk is whole", async () => {
    const disks = new ImageDisks(path.join(tmp, 'image-disks'), 8 << 20);
    const images = store({ [id('a')]: ['/l/1'], [id('b')]: ['/l/2'] });
    const layersOf = (i: string) => (i === id('a') ? '/l/1' : '/l/2');
    // The image store's keep: an image of these layers is stored.
    disks.keepWhile(async (layers) => images.list().some((i) => layersOf(i.id) === layers.join()));
    const maker: ImageDiskMaker = {
      hasImageDisk: (layers) => fs.existsSync(disks.fileFor(layers)),
      imageDiskOfLayers: (layers, opts) =>
        disks.ensure(
          layers,
          tree(() => {
            if (layers[0] !== '/l/1') return;
            // docker rmi of a, as ImageStore.deleteImage does it: forgotten, then released.
            images.remove(id('a'));
            void disks.release(layers);
          }),
          opts,
        ),
    };
    await new ImageDiskSweep(images, maker).run();
    expect(fs.readdirSync(path.join(tmp, 'image-disks'))).toEqual([path.basename(disks.fileFor(['/l/2']))]);
    expect(lines.filter((l) => l.includes(`image ${'a'.repeat(12)} was removed while its disk was made`))).toHaveLength(
      1,
    );
  });

  test('an image removed before its make began (its release found nothing) leaves no disk either', async () => {
    const disks = new ImageDisks(path.join(tmp, 'image-disks'), 8 << 20);
    let stored = true;
    disks.keepWhile(async () => stored);
    stored = false;
    await disks.release(['/l/1']);
    await expect(disks.ensure(['/l/1'], tree())).rejects.toThrow(/its image went while it was made/);
    expect(fs.readdirSync(path.join(tmp, 'image-disks'))).toEqual([]);
  });

  test('a shutdown cuts a background make short: no disk, no temporary file or mount directory; later makes are refused', async () => {
    const disks = new ImageDisks(path.join(tmp, 'image-disks'), 8 << 20);
    let closing: Promise<void> | undefined;
    const made = disks.ensure(
      ['/l/1'],
      tree(() => (closing = disks.close())),
      { background: true },
    );
    await expect(made).rejects.toThrow(/cut short, the daemon is shutting down/);
    await closing;
    expect(fs.readdirSync(path.join(tmp, 'image-disks'))).toEqual([]);
    await expect(disks.ensure(['/l/2'], tree())).rejects.toThrow(/shutting down/);
  });

  test("a container start joining the sweep's make waits on that same make", async () => {
    const disks = new ImageDisks(path.join(tmp, 'image-disks'), 8 << 20);
    let mounts = 0;
    const background = disks.ensure(
      ['/l/1'],
      tree(() => mounts++),
      { background: true },
    );
    const start = disks.ensure(
      ['/l/1'],
      tree(() => mounts++),
    );
    expect(await start).toBe(await background);
    expect(mounts).toBe(1);
    expect(fs.readdirSync(path.join(tmp, 'image-disks'))).toEqual([path.basename(await start)]);
  });
});
