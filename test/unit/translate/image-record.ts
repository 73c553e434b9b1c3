/** An image record for translation tests: the image config `config`, no layers. */
import type { ImageRecord } from '../../../src/storage/types';

/** The record of an image whose container config is `config`. */
export function imageWith(config: NonNullable<ImageRecord['config']['config']>): ImageRecord {
  return {
    id: 'sha256:' + 'a'.repeat(64),
    repoTags: ['img:latest'],
    repoDigests: [],
    config: { architecture: 'amd64', os: 'linux', config, rootfs: { type: 'layers', diff_ids: [] } },
    size: 1,
    storedAt: 0,
  };
}
