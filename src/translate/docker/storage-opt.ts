/**
 * HostConfig.StorageOpt (`docker run --storage-opt k=v`), read as dockerd's overlay2 reads it:
 * keys case-insensitive, `size` the only one of dockerd's; any other is refused with dockerd's
 * words (500). The size is left as written: whether it can be given (block mode) and what it is
 * worth are the pod layer's (src/pod/mounts/disk-size.ts), which answers as dockerd on a filesystem
 * without project quotas when it cannot.
 *
 * podvisor's own key, `image=disk`: the image's files are copied onto the container's own disk
 * at its first start, so that its VM reads no 9p share and can be saved by `docker checkpoint`
 * (docs/checkpoint.md). The default, `image=layers`, reads them from the host's shared layers.
 */
import { UnavailableError } from '../../errors';

/** The storage options of a create. */
export interface StorageOpts {
  /** The writable layer's size as written. */
  size?: string;
  /** `image=disk`: the image copied onto the container's disk. */
  imageOnDisk?: boolean;
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
    else throw new UnavailableError(`Unknown option ${k}`);
  }
  return out;
}
