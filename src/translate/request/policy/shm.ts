/**
 * A container's /dev/shm: the guest mounts one of GUEST_SHM_BYTES by itself; a request for
 * another size puts a tmpfs of that size on top, as dockerd mounts it (mode 1777, nosuid,
 * nodev, noexec). A mount the request put at /dev/shm wins, and the default size needs none.
 */
import type { PodMount } from '../../../pod/types';
import { sortParentsFirst } from './mount-order';

/** The size of /dev/shm the guest mounts by itself (and dockerd's default ShmSize). */
export const GUEST_SHM_BYTES = 64 * 1024 * 1024;

/** `mounts` with a /dev/shm of `shmSize` bytes (see the module comment). */
export function withShmSize(mounts: PodMount[], shmSize: number): PodMount[] {
  if (shmSize === GUEST_SHM_BYTES || shmSize <= 0 || mounts.some((m) => m.target === '/dev/shm')) return mounts;
  const shm: PodMount = {
    type: 'tmpfs',
    target: '/dev/shm',
    options: `mode=1777,size=${shmSize}`,
    readOnly: false,
    noexec: true,
    nosuid: true,
    nodev: true,
  };
  return sortParentsFirst([...mounts, shm]);
}
