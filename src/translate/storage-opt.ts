/**
 * HostConfig.StorageOpt (`docker run --storage-opt k=v`), read as dockerd's overlay2 reads it:
 * keys case-insensitive, `size` the only one; any other is refused with dockerd's words (500).
 * The size is left as written: whether it can be given (block mode) and what it is worth are
 * the pod layer's (src/pod/disk-size.ts), which answers as dockerd on a filesystem without
 * project quotas when it cannot.
 */
import { UnavailableError } from '../errors';

/** The storage options of a create: the writable layer's size as written, if any. */
export function parseStorageOpt(opts: Record<string, string> | undefined): { size?: string } {
  let size: string | undefined;
  for (const [k, v] of Object.entries(opts ?? {})) {
    if (k.toLowerCase() !== 'size') throw new UnavailableError(`Unknown option ${k}`);
    size = v;
  }
  return size === undefined ? {} : { size };
}
