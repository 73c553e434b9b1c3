/**
 * The upper disk a new container gets in block mode (the daemon's --rootfs-disk), and the size
 * its filesystem may be asked to have (`--storage-opt size=`: PodContainerSpec.diskSize).
 *
 * dockerd's overlay2 takes `size` only on xfs with project quotas, and answers 500 with its
 * own words otherwise; podvisor takes it only for a container whose writable layer is an upper
 * disk of its own, and answers as dockerd on a filesystem without quotas for any other. The
 * filesystem is made that size (the disk file keeps the device's capacity: every upper disk
 * of a VM has one size); the container's writes then end with ENOSPC at that size.
 */
import { UnavailableError } from '../../errors';
import { ramInBytes } from '../../util/go-units';

/** Smallest filesystem a container's writable layer may be given (an ext4 with its journal and an overlay's work dir). */
export const MIN_DISK_BYTES = 16 * 1024 * 1024;

/** Why a container without a disk of its own cannot have --device-read-bps and the like. */
export const DISK_THROTTLE_NEEDS_DISK =
  "--device-read-bps, --device-write-bps, --device-read-iops and --device-write-iops limit a container's own disk: only in block mode (--rootfs-disk), for a container with a VM of its own";

/** dockerd's answer to --storage-opt on a backing filesystem without project quotas. */
export const STORAGE_OPT_UNSUPPORTED =
  "--storage-opt is supported only for overlay over xfs with 'pquota' mount option";

/**
 * The disk of a new container: undefined (its layer stays on the host) when `disk` (the
 * daemon's block mode, when the container may have a disk of its own) is undefined, else the
 * disk with the filesystem size asked for, and `imageOnDisk` when the image is to be copied onto
 * it (`--storage-opt image=disk`). Throws (500, as dockerd) for a size that cannot be given: no
 * disk, a value go-units cannot read, or one outside MIN_DISK_BYTES..disk.bytes; and for
 * `imageOnDisk` without a disk.
 */
export function diskFor(
  size: string | undefined,
  disk: { bytes: number } | undefined,
  imageOnDisk?: boolean,
): { bytes: number; fsBytes?: number; imageOnDisk?: boolean } | undefined {
  if (imageOnDisk && !disk)
    throw new UnavailableError(
      '--storage-opt image=disk: only in block mode (--rootfs-disk), for a container with a VM of its own',
    );
  const sized = sizedDisk(size, disk);
  return sized && imageOnDisk ? { ...sized, imageOnDisk: true } : sized;
}

/** The disk of a new container with the filesystem size asked for (diskFor, without the image). */
function sizedDisk(
  size: string | undefined,
  disk: { bytes: number } | undefined,
): { bytes: number; fsBytes?: number } | undefined {
  if (size === undefined) return disk;
  if (!disk)
    throw new UnavailableError(
      `${STORAGE_OPT_UNSUPPORTED} (podvisor: only in block mode, --rootfs-disk, for a container with a VM of its own)`,
    );
  let bytes: number;
  try {
    bytes = ramInBytes(size);
  } catch (e) {
    throw new UnavailableError((e as Error).message);
  }
  if (!Number.isFinite(bytes)) throw new UnavailableError(`invalid size: '${size}'`);
  if (bytes < MIN_DISK_BYTES || bytes > disk.bytes)
    throw new UnavailableError(
      `--storage-opt size=${size}: a container's disk is ${MIN_DISK_BYTES / 2 ** 20}MiB to ${disk.bytes / 2 ** 30}GiB`,
    );
  return { bytes: disk.bytes, fsBytes: bytes };
}
