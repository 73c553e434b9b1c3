/**
 * What the CRI archive's unit tests build their checkpoints from: a manifest (less its files)
 * of a busybox counter's save, and sparse files standing in for its disks.
 */
import * as fs from 'node:fs';
import { CRI_CHECKPOINT_FORMAT, type CriCheckpointManifest } from '../../../../src/api/cri/checkpoint-archive';

/** The manifest of container `diskId`'s save at `created`, less the files the writer lists. */
export function counterManifest(diskId: string, created: string): Omit<CriCheckpointManifest, 'files'> {
  return {
    format: CRI_CHECKPOINT_FORMAT,
    created,
    container: {
      id: diskId,
      metadata: { name: 'count', attempt: 0 },
      image: 'busybox',
      labels: {},
      annotations: {},
      diskName: diskId,
    },
    sandbox: { id: 'b'.repeat(64), metadata: { name: 'counter', uid: 'u', namespace: 'default', attempt: 0 } },
  };
}

/** A sparse file of `size` bytes with `data` at each offset. */
export function sparse(file: string, size: number, data: Array<[number, Buffer]>): void {
  const fd = fs.openSync(file, 'w');
  fs.ftruncateSync(fd, size);
  for (const [at, b] of data) fs.writeSync(fd, b, 0, b.length, at);
  fs.closeSync(fd);
}
