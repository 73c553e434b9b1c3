/**
 * Images' read-only disks made ahead of their first container, on a daemon whose containers
 * read their image from a disk by default (`--storage-opt image=disk` in block mode): right
 * after a pull (inside its request, shown in its progress; not a CRI pull's: ImageService.pull's
 * `imageDisk: false`), a `docker load`, a build's final image and a `docker commit`. The disk itself is ./image-disks.ts's (one make however many ask
 * at once); a failure here fails nothing: it is logged, and the first start makes the disk.
 */
import { logger } from '../../util/log';
import type { EnsureOptions } from './image-disks';

const log = logger('rootfs');

/** What makes and finds image disks (the container rootfs manager's, ./from-layers.ts). */
export interface ImageDiskMaker {
  /** Whether the image of these layer directories (lowest first) has its disk. */
  hasImageDisk(layers: string[]): boolean;
  /** Its disk, made now when missing (`background`: nobody waits on it, ./image-disks.ts). */
  imageDiskOfLayers(layers: string[], opts?: EnsureOptions): Promise<string>;
}

/** Told when a make begins and when it is done (a pull's progress lines). */
export interface ImageDiskProgress {
  making(): void;
  made(): void;
}

/** Makes the disk of an image that has none. */
export class ImageDiskPrep {
  constructor(
    /** The image's layer directories, lowest first (ImageStore.layerDirs). */
    private readonly layerDirs: (imageId: string) => Promise<string[]>,
    private readonly maker: ImageDiskMaker,
  ) {}

  /**
   * Make the disk of image `imageId` unless it has one; never rejects (a failure is logged).
   * `progress` hears of a make only when one is needed.
   */
  async prepare(imageId: string, progress?: ImageDiskProgress): Promise<void> {
    try {
      const layers = await this.layerDirs(imageId);
      if (this.maker.hasImageDisk(layers)) return;
      progress?.making();
      await this.maker.imageDiskOfLayers(layers);
      progress?.made();
    } catch (e) {
      log.warn(`image ${imageId}: its disk was not made (the first container start makes it): ${(e as Error).message}`);
    }
  }
}
