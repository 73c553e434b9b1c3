/**
 * The disks of images stored before this daemon made them (a daemon upgraded onto its data
 * root, or one that ran with `--storage-opt image=layers`), made at daemon start in the
 * background, on a daemon whose containers read their image from a disk by default: one image
 * at a time, each make's mkfs.ext4 at the lowest CPU priority (./image-disks.ts, `background`),
 * each logged. A container start that needs a disk the sweep is making waits on that same make
 * (ImageDisks.ensure shares it, at the normal priority from then on). A failure is logged and
 * left to the image's first container start; an image removed while the sweep goes gets no
 * disk (skipped, or its disk removed once whole: ImageDisks.ensure). The daemon's shutdown
 * stops the sweep (`stop`) and cuts its make short (ImageDisks.close).
 */
import { logger } from '../../util/log';
import { shortId } from '../digest';
import type { ImageDiskMaker } from './prep';

const log = logger('rootfs');

/** The stored images, as the sweep reads them (ImageStore). */
export interface SweptImages {
  /** Every stored image. */
  list(): { id: string }[];
  /** The image of this ID while it is stored, else undefined. */
  byId(id: string): unknown;
  /** Its layer directories, lowest first. */
  layerDirs(id: string): Promise<string[]>;
}

/** One sweep over the stored images (see the module comment). */
export class ImageDiskSweep {
  private stopped = false;

  constructor(
    private readonly images: SweptImages,
    private readonly maker: ImageDiskMaker,
  ) {}

  /** Make no more disks (the daemon is shutting down); the make under way ends with ImageDisks.close. */
  stop(): void {
    this.stopped = true;
  }

  /** Make every missing disk, one after the other; never rejects. */
  async run(): Promise<void> {
    const missing: string[] = [];
    for (const { id } of this.images.list()) {
      const layers = await this.layersOf(id);
      if (layers && !this.maker.hasImageDisk(layers)) missing.push(id);
    }
    if (!missing.length || this.stopped) return;
    log.info(`image disks: ${missing.length} stored image(s) have none; making them in the background, one at a time`);
    let made = 0;
    for (const id of missing) {
      if (this.stopped) return;
      if (await this.makeOne(id)) made++;
    }
    log.info(`image disks: the background sweep made ${made} of ${missing.length}`);
  }

  /** Whether the disk of image `id` was made now. */
  private async makeOne(id: string): Promise<boolean> {
    const layers = await this.layersOf(id);
    // Removed meanwhile, or made meanwhile (a container start, another image of its layers).
    if (!layers || this.maker.hasImageDisk(layers)) return false;
    const started = Date.now();
    try {
      await this.maker.imageDiskOfLayers(layers, { background: true });
      log.info(`image ${shortId(id)}: its disk was made in the background in ${Date.now() - started} ms`);
      return true;
    } catch (e) {
      if (this.stopped) return false;
      if (!this.images.byId(id))
        log.info(`image ${shortId(id)} was removed while its disk was made: the disk went with it`);
      else
        log.warn(
          `image ${shortId(id)}: its disk was not made (the first container start makes it): ${(e as Error).message}`,
        );
      return false;
    }
  }

  /** The layer directories of image `id`, or undefined once it is no longer stored. */
  private async layersOf(id: string): Promise<string[] | undefined> {
    if (!this.images.byId(id)) return undefined;
    return this.images.layerDirs(id).catch(() => undefined);
  }
}
