/**
 * Image disks as the container rootfs manager (../rootfs.ts) serves them, in block mode: the
 * read-only disk of a container's image (`--storage-opt image=disk`), or of an image's layers
 * before any container (./prep.ts, ./sweep.ts), made from the host's
 * read-only mount of those layers (../layer-mounts.ts) by ./image-disks.ts. A disk is kept while
 * a prepared container has exactly its layers (its lower.json), besides what the image store
 * keeps.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeScratch, type EnsureOptions, type ImageDisks } from './image-disks';
import type { ImageDiskMaker } from './prep';
import { overlayOptions } from '../overlay-options';
import { mountImageLayers, removeLayerLinks, writeLayerLinks } from '../layer-mounts';
import type { Mounter } from '../../util/mounter';

/** The image disks of the containers under `containersRoot` and of stored images. */
export class RootfsImageDisks implements ImageDiskMaker {
  constructor(
    readonly disks: ImageDisks,
    private readonly containersRoot: string,
    private readonly mounter: Mounter,
  ) {
    disks.keepWhile((layers) => this.someContainerOn(layers));
  }

  /** Whether a prepared container's rootfs has exactly the layer directories `layers`. */
  private async someContainerOn(layers: readonly string[]): Promise<boolean> {
    const key = JSON.stringify(layers);
    for (const id of await fs.promises.readdir(this.containersRoot).catch(() => [] as string[])) {
      const lower = await fs.promises
        .readFile(path.join(this.containersRoot, id, 'lower.json'), 'utf8')
        .catch(() => '');
      if (lower === key) return true;
    }
    return false;
  }

  /**
   * The disk of the image of the container whose directory is `d` and layer directories
   * `layers` (lowest first), made now when it has none: the layers are mounted from `d` (its
   * short links, written at prepare).
   */
  ofContainer(d: string, layers: string[]): Promise<string> {
    return this.disks.ensure(layers, {
      mount: (target) => mountImageLayers(this.mounter, layers, d, target),
      unmount: (target) => this.mounter.unmount(target),
    });
  }

  /**
   * The read-only disk of the image whose layer directories are `layers` (lowest first), made
   * now when it has none (ahead of its first container).
   */
  imageDiskOfLayers(layers: string[], opts: EnsureOptions = {}): Promise<string> {
    // A long layer list is mounted through short links: they live beside the disk being made.
    const linkDir = makeScratch(this.disks.fileFor(layers)).links;
    return this.disks.ensure(
      layers,
      {
        mount: async (target) => {
          if (overlayOptions(layers, linkDir).links) await writeLayerLinks(linkDir, layers);
          await mountImageLayers(this.mounter, layers, linkDir, target);
        },
        unmount: async (target) => {
          await this.mounter.unmount(target);
          await removeLayerLinks(linkDir);
        },
      },
      opts,
    );
  }

  /** Whether the image whose layer directories are `layers` has its read-only disk. */
  hasImageDisk(layers: string[]): boolean {
    return fs.existsSync(this.disks.fileFor(layers));
  }
}
