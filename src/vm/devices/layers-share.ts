/**
 * The image-layers share: in a VM whose files come over 9p (a template and its clones) and that
 * has an upper disk, a second, read-only virtio-9p export of the VM's `share/` directory under
 * `LAYERS_TAG`.
 *
 * Why a second export of the same directory: a block-mode container's rootfs under `share/` is
 * only the image's layers, mounted read-only on the host (src/storage/rootfs.ts), which never
 * change while the container exists. The rootfs share must stay `cache=mmap` (no dentry cache,
 * every lookup and read goes to the host) because the host writes other files there (the
 * /etc files, a rootfs without a disk) and reads what the guest writes. A block-mode container
 * mounts this export in its own mount namespace, read-only with `cache=loose`, and takes its
 * lower layer from it (guest/agent/container.c, image_tree), so the image's directories,
 * attributes and file pages stay in the guest after the first lookup or read, for the
 * container's lifetime: a pod started later on the same VM mounts it afresh (QEMU's inode
 * numbers are not stable across the host's remounts, and a cache kept across them kept the
 * earlier pod's entries: test/compat/podvisor-cli.test.ts). Measured (docs/performance.md):
 * `ls -lR` of the image's python tree again 0.86 -> 0.39 s, reading all its files 5.2-6.3 ->
 * 3.3-3.5 s, a `docker run --rm` of python imports 2.5-2.7 -> 2.3 s.
 *
 * QEMU serves it `readonly=on`: nothing written through it reaches the host. A VM with
 * virtio-fs has no such device: its rootfs share already runs with `cache=always`.
 */
import { Names } from '../agent/protocol';
import { ninePShareArgs } from './share-args';
import type { VmPaths } from '../qemu/runtime-dir';

/** The 9p tag of the image-layers share (the agent mounts it on Names.LAYERS_MOUNT). */
export const LAYERS_TAG = Names.LAYERS_TAG;

/** QEMU arguments of the image-layers share of a VM with these paths. */
export function layersShareQemuArgs(paths: VmPaths): string[] {
  return ninePShareArgs('fslayers', paths.shareDir, LAYERS_TAG, { readonly: true });
}
