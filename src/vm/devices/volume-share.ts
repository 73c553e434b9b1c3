/**
 * The volume share device: a second vhost-user-fs device with its own virtiofsd, serving
 * `<vm dir>/volumes/`, for volumes and bind mounts.
 *
 * It is separate from the rootfs share because its cache mode must differ: the rootfs share
 * runs `cache=always` (the host never changes a running container's rootfs, and exec of a
 * cached binary is 3x faster), while the host (or another container) may change a volume or a
 * bind-mount source under a running container, so this share runs `cache=auto` (entries and
 * attributes time out, file data is revalidated on open).
 *
 * What the guest sees: the virtio-fs tag `VOLUME_TAG`, not mounted anywhere until the host asks
 * the agent to mount a directory of it inside a container (Agent.mount, fstype virtiofs); the
 * agent mounts the tag once under /run/podvisor/volumes and binds the asked directory from it.
 * Costs one virtiofsd process (~4 MiB PSS) per VM, so the pool's VMs get it only when the
 * daemon's pool configuration asks for it.
 */
import { ninePShareArgs, virtiofsdArgsFor, type FileTransport } from './share-args';
import type { VmPaths } from '../qemu/runtime-dir';
import type { VolumeShareDevice } from './types';

/** The virtio-fs tag of the volume share. */
export const VOLUME_TAG = 'podvisor-vol';

/** The volume share of a VM with these paths. */
export function planVolumeShare(paths: VmPaths): VolumeShareDevice {
  return { hostDir: paths.volumesDir, tag: VOLUME_TAG, cache: 'auto' };
}

/**
 * QEMU arguments of the volume share: a vhost-user-fs device, or in a VM that can be saved
 * (a template and its clones) a virtio-9p device under the same tag (the agent mounts a 9p tag
 * with cache=mmap, its counterpart of cache=auto).
 */
export function volumeShareQemuArgs(paths: VmPaths, transport: FileTransport = 'virtiofs'): string[] {
  if (transport === '9p') return ninePShareArgs('fsvol', paths.volumesDir, VOLUME_TAG);
  return [
    '-chardev',
    `socket,id=vfsvol,path=${paths.volumesSock}`,
    '-device',
    `vhost-user-fs-device,chardev=vfsvol,tag=${VOLUME_TAG}`,
  ];
}

/** Arguments of the volume share's virtiofsd (sandbox and submounts as the rootfs share's). */
export function volumeVirtiofsdArgs(paths: VmPaths): string[] {
  return virtiofsdArgsFor(paths.volumesSock, paths.volumesDir, 'auto');
}
