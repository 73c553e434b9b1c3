/**
 * Stored image layers mounted read-only on the host (./rootfs.ts, ./image-disks/from-layers.ts): an
 * overlay of the lower layers alone, or a read-only bind of a single layer; and the short
 * `l/<n>` links an overlay of a long layer list is mounted through (./overlay-options.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { overlayOptions } from './overlay-options';
import { MS_NODEV, MS_NOSUID, type Mounter } from '../util/mounter';

/** mount(2): read-only. */
const MS_RDONLY = 0x1;

/**
 * A container's rootfs is mounted on the host nodev and nosuid: a device node a container made
 * (mknod is allowed, as under runc) or a layer brought cannot be opened through the host's
 * mount, and nothing on the host runs a set-user-ID program from it. The guest sees the same
 * files over 9p or virtio-fs and applies its own mount's flags.
 */
export const HOST_MOUNT_FLAGS = MS_NODEV | MS_NOSUID;

/**
 * The image layers alone (lowest first), read-only, at `target`: an overlay of the lower layers
 * (overlayfs wants at least two without an upper), or a read-only bind of the only one. `d` is
 * the directory the overlay is mounted from (its `l/<n>` links, for a long list).
 */
export async function mountImageLayers(mounter: Mounter, layers: string[], d: string, target: string): Promise<void> {
  if (layers.length === 1) {
    await mounter.bindTree({ source: layers[0], target, readOnly: true, nosuidNodev: true });
    return;
  }
  const { options, cwd } = overlayOptions(layers, d);
  const lowerOnly = options.replace(/,upperdir=.*$/, '');
  await mounter.mount({
    source: 'overlay',
    target,
    fstype: 'overlay',
    flags: HOST_MOUNT_FLAGS | MS_RDONLY,
    data: lowerOnly,
    ...(cwd ? { cwd } : {}),
  });
}

/** The short links `<d>/l/<n>` to the layer directories, for an overlay mounted from `d`. */
export async function writeLayerLinks(d: string, layers: string[]): Promise<void> {
  await fs.promises.mkdir(path.join(d, 'l'), { recursive: true, mode: 0o700 });
  for (let i = 0; i < layers.length; i++) {
    const link = path.join(d, 'l', String(i));
    await fs.promises.rm(link, { force: true });
    await fs.promises.symlink(layers[i], link);
  }
}

/** Take away what writeLayerLinks made in `d` (a directory of them alone). */
export async function removeLayerLinks(d: string): Promise<void> {
  await fs.promises.rm(d, { recursive: true, force: true });
}
