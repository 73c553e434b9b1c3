/**
 * Where a CRI restore reads a CheckpointContainer archive from (./checkpoint-restore.ts), as
 * CRI-O takes a checkpoint in a CreateContainer (docs/cri.md, "CheckpointContainer"):
 *
 *  - **the archive's path** on the node, as the container's image (an absolute path: every
 *    other image is a reference);
 *  - **a checkpoint image**: an image whose files at its root are the archive's members (the
 *    kubelet's flow: `buildah from scratch`, `buildah add` of the archive at `/`, `buildah
 *    config --annotation io.kubernetes.cri-o.annotations.checkpoint.name=NAME`, commit, push),
 *    pulled to the node as any image. It is marked by that annotation on its manifest, or, as
 *    the Docker tools set no manifest annotation, by a label of that name on its config
 *    (`docker import --change 'LABEL io.kubernetes.cri-o.annotations.checkpoint.name=NAME'`).
 *    Its members are read from the image's unpacked layers in the archive's order and go
 *    through the same reader as an archive file, as hostile input.
 */
import * as fs from 'node:fs';
import { InvalidArgumentError, NotFoundError } from '../../errors';
import type { ImageRecord } from '../../storage/types';
import { tarOfTopLevelFiles } from '../../storage/layers/top-level-files';
import { CRI_CHECKPOINT_FILES, CRI_CHECKPOINT_MANIFEST, type CriCheckpointManifest } from './checkpoint-archive';
import { unpackCriCheckpointArchive, unpackCriCheckpointStream } from './checkpoint-archive-read';

/** The annotation (or, here, label) that marks CRI-O's checkpoint image; its value names the container. */
export const CHECKPOINT_IMAGE_ANNOTATION = 'io.kubernetes.cri-o.annotations.checkpoint.name';

/** A checkpoint to restore: what it is called in errors and logs, and how it is read. */
export interface CheckpointSource {
  /** `checkpoint archive PATH` or `checkpoint image REF`. */
  what: string;
  /** The archive's path or the image's reference, as the config named it. */
  ref: string;
  /** Refuse it before anything is made (NotFoundError, InvalidArgumentError). */
  check(): void;
  /** Unpack its members into `into` (empty), checked as hostile input; its manifest. */
  unpack(into: string): Promise<CriCheckpointManifest>;
}

/** Whether a CreateContainer's image names a checkpoint archive (a path on the node, as CRI-O takes it). */
export function isCheckpointArchive(image: string | null | undefined): boolean {
  return !!image?.startsWith('/');
}

/** The archive at path `file`. */
export function archiveSource(file: string): CheckpointSource {
  const what = `checkpoint archive ${file}`;
  return {
    what,
    ref: file,
    check: () => {
      let st: fs.Stats;
      try {
        st = fs.lstatSync(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`${what} does not exist`);
        throw new InvalidArgumentError(`${what}: ${(err as Error).message}`);
      }
      if (!st.isFile()) throw new InvalidArgumentError(`${what} is not a regular file`);
    },
    unpack: (into) => unpackCriCheckpointArchive(file, into),
  };
}

/** What a checkpoint image is found and read with (the daemon's image store). */
export interface CheckpointImageStore {
  /** The local image `ref` names; NotFoundError when there is none. */
  resolve(ref: string): Promise<ImageRecord>;
  /** Its unpacked layers' directories, lowest first. */
  layerDirs(imageId: string): Promise<string[]>;
  /** The annotations of the manifest it was pulled by (empty when none is stored). */
  annotations(image: ImageRecord): Promise<Record<string, string>>;
}

/** The archive's members, in the order its reader takes them. */
const MEMBERS = [CRI_CHECKPOINT_MANIFEST, ...CRI_CHECKPOINT_FILES.map((f) => f.name)];

/**
 * The checkpoint image `ref` names, or undefined when it names no local image or one without
 * the mark (an ordinary image: the caller creates an ordinary container, or answers NOT_FOUND).
 */
export async function checkpointImageSource(
  store: CheckpointImageStore,
  ref: string,
): Promise<CheckpointSource | undefined> {
  let image: ImageRecord;
  try {
    image = await store.resolve(ref);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
  const labels = image.config.config?.Labels ?? {};
  const marked =
    Object.prototype.hasOwnProperty.call(labels, CHECKPOINT_IMAGE_ANNOTATION) ||
    Object.prototype.hasOwnProperty.call(await store.annotations(image), CHECKPOINT_IMAGE_ANNOTATION);
  if (!marked) return undefined;
  return {
    what: `checkpoint image ${ref}`,
    ref,
    check: () => undefined,
    unpack: async (into) =>
      unpackCriCheckpointStream(tarOfTopLevelFiles(await store.layerDirs(image.id), MEMBERS), into),
  };
}
