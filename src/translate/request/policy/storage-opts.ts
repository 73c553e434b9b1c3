/**
 * HostConfig.StorageOpt (`docker run --storage-opt k=v`), read as dockerd's overlay2 reads it:
 * keys case-insensitive, `size` the only one of dockerd's; any other is refused with dockerd's
 * words (500). The size is left as written: whether it can be given (block mode) and what it is
 * worth are the pod layer's (src/pod/mounts/disk-size.ts), which answers as dockerd on a filesystem
 * without project quotas when it cannot.
 *
 * podvisor's own keys (docs/checkpoint.md):
 * - `image=disk|layers`: the image read from the image's read-only disk (the daemon's default in
 *   block mode), so that its VM reads no 9p share and can be saved, or over the layers share;
 * - `volumes=disk|share`, for a container whose image is on a disk: where its volumes live.
 *   By default its anonymous volumes are on its own disk (saved with it) and its named ones on
 *   the volume share (shared with other containers as dockerd shares them); `disk` puts the
 *   named ones it alone mounts on its disk too, `share` puts the anonymous ones on the share
 *   too (so that `--volumes-from` takes them while it runs).
 */
import { UnavailableError } from '../../../errors';

/** The storage options of a create. */
export interface StorageOpts {
  /** The writable layer's size as written. */
  size?: string;
  /** `image=disk`: the image read from the image's disk; absent for `image=layers` or unset. */
  imageOnDisk?: boolean;
  /** `volumes=disk|share`: where its volumes live (unset: anonymous on its disk, named shared). */
  volumes?: 'disk' | 'share';
}

/** The storage options of a create (see the module comment). */
export function parseStorageOpt(opts: Record<string, string> | undefined): StorageOpts {
  const out: StorageOpts = {};
  for (const [k, v] of Object.entries(opts ?? {})) {
    const key = k.toLowerCase();
    if (key === 'size') out.size = v;
    else if (key === 'image' && (v === 'disk' || v === 'layers')) {
      if (v === 'disk') out.imageOnDisk = true;
      else delete out.imageOnDisk;
    } else if (key === 'image')
      throw new UnavailableError(`invalid value for storage option image: '${v}' (disk or layers)`);
    else if (key === 'volumes' && (v === 'disk' || v === 'share')) out.volumes = v;
    else if (key === 'volumes')
      throw new UnavailableError(`invalid value for storage option volumes: '${v}' (disk or share)`);
    else throw new UnavailableError(`Unknown option ${k}`);
  }
  return out;
}
