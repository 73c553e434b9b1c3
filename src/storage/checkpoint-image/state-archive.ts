/**
 * A checkpoint image's saved state in a docker-archive (`docker save`, `docker load`:
 * ../archive-image/). Beside the archive dockerd writes, ours holds, for each saved image with
 * an attached state (../image-index.ts):
 *
 *   blobs/sha256/<hex>            the state manifest, its config and its layers, byte for byte
 *                                 (the OCI layout's place for blobs, as docker 25+ writes them)
 *   podvisor-checkpoints.json     {"format": 1, "checkpoints": {<image ID>: <state manifest digest>}}
 *
 * dockerd (which reads manifest.json only) ignores both; our load restores the attachment. A
 * loaded state is checked as a pulled one (./state-pull.ts): each named image must be an image
 * of the archive, the manifest is at most CHECKPOINT_MANIFEST_MAX bytes, matches its digest and
 * parses strictly (./state-manifest.ts), the declared total is within the load's
 * checkpointMaxBytes, and each blob streams into the content store with its size and digest
 * verified.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type * as tar from 'tar-stream';
import type { ContentStore } from '../content';
import type { SpooledArchive } from '../archive-image/read';
import { digestHex, isDigest, sha256Digest } from '../digest';
import { packEntry, writeEntry } from '../tar-pack';
import { InvalidArgumentError } from '../../errors';
import { CHECKPOINT_MANIFEST_MAX } from './media-types';
import { parseStateManifest, readStateManifest, stateBlobs, type StateManifest } from './state-manifest';
import { DEFAULT_CHECKPOINT_MAX_BYTES, checkStateSize } from './state-pull';

/** The archive member that records the attachments. */
export const CHECKPOINTS_MEMBER = 'podvisor-checkpoints.json';

/** The archive member of a blob. */
export function blobMember(digest: string): string {
  return `blobs/sha256/${digestHex(digest)}`;
}

/** Add one stored blob to `pack` as blobs/sha256/<hex> (streamed; its digest checked as it goes). */
async function addBlob(pack: tar.Pack, content: ContentStore, digest: string, mtime: Date): Promise<void> {
  const size = await content.size(digest);
  const { entry, done } = packEntry(pack, { name: blobMember(digest), mode: 0o644, mtime, size });
  const hash = crypto.createHash('sha256');
  const file = fs.createReadStream(content.blobPath(digest), { highWaterMark: 256 * 1024 });
  try {
    for await (const chunk of file as AsyncIterable<Buffer>) {
      hash.update(chunk);
      await writeEntry(entry, chunk);
    }
  } finally {
    file.destroy();
  }
  entry.end(undefined);
  await done;
  if (`sha256:${hash.digest('hex')}` !== digest) throw new Error(`blob ${digest}: the stored blob no longer matches`);
}

/**
 * Write the saved states of `images` (image ID -> state manifest digest) into `pack`: every
 * blob once, then CHECKPOINTS_MEMBER. Nothing is written when there are none.
 */
export async function writeStates(
  pack: tar.Pack,
  content: ContentStore,
  images: Record<string, string>,
  mtime = new Date(0),
): Promise<void> {
  if (!Object.keys(images).length) return;
  const written = new Set<string>();
  for (const manifest of new Set(Object.values(images))) {
    const state = await readStateManifest(content, manifest);
    for (const d of [manifest, ...stateBlobs(state).map((b) => b.digest)]) {
      if (written.has(d)) continue;
      written.add(d);
      await addBlob(pack, content, d, mtime);
    }
  }
  packEntry(pack, { name: CHECKPOINTS_MEMBER, mode: 0o644, mtime }, JSON.stringify({ format: 1, checkpoints: images }));
}

/** One checked state of an archive, to be stored and attached. */
export interface ArchiveState {
  imageId: string;
  digest: string;
  body: Buffer;
  manifest: StateManifest;
  /** Blob digest -> its spooled file and declared size. */
  files: Map<string, { file: string; size: number }>;
}

function refuse(what: string): never {
  throw new InvalidArgumentError(`invalid archive: ${CHECKPOINTS_MEMBER}: ${what}`);
}

/**
 * Read and check the archive's saved states (see the module comment) before anything is stored.
 * `imageIds` are the IDs of the archive's images. InvalidArgumentError for anything off.
 */
export function planStates(
  archive: SpooledArchive,
  imageIds: string[],
  maxBytes = DEFAULT_CHECKPOINT_MAX_BYTES,
): ArchiveState[] {
  if (!archive.has(CHECKPOINTS_MEMBER)) return [];
  const j = archive.json(CHECKPOINTS_MEMBER) as { format?: unknown; checkpoints?: unknown };
  if (!j || typeof j !== 'object' || j.format !== 1) refuse('not {"format": 1, "checkpoints": {...}}');
  const map = j.checkpoints;
  if (!map || typeof map !== 'object' || Array.isArray(map)) refuse('no checkpoints map');
  const out: ArchiveState[] = [];
  let total = 0;
  for (const [imageId, digest] of Object.entries(map as Record<string, unknown>)) {
    if (!imageIds.includes(imageId)) refuse(`${imageId} is not an image of the archive`);
    if (!isDigest(digest)) refuse(`invalid digest ${JSON.stringify(digest)}`);
    const file = archive.file(blobMember(digest));
    if (!file) refuse(`state manifest ${digest} is missing`);
    if (fs.statSync(file).size > CHECKPOINT_MANIFEST_MAX)
      refuse(`state manifest ${digest} is larger than ${CHECKPOINT_MANIFEST_MAX} bytes`);
    const body = fs.readFileSync(file);
    if (sha256Digest(body) !== digest) refuse(`state manifest ${digest} does not match its digest`);
    const manifest = parseStateManifest(body);
    const files = new Map<string, { file: string; size: number }>();
    for (const b of stateBlobs(manifest)) {
      const f = archive.file(blobMember(b.digest));
      if (!f) refuse(`blob ${b.digest} of state ${digest} is missing`);
      if (fs.statSync(f).size !== b.size) refuse(`blob ${b.digest} is not the ${b.size} bytes its state declares`);
      files.set(b.digest, { file: f, size: b.size });
      total += b.size;
    }
    checkStateSize(manifest, maxBytes);
    if (total > maxBytes)
      throw new InvalidArgumentError(
        `the archive's checkpoint states declare ${total} bytes, more than the ${maxBytes} bytes allowed (checkpointMaxBytes)`,
      );
    out.push({ imageId, digest, body, manifest, files });
  }
  return out;
}

/**
 * Store the blobs of `states` the content store lacks (each verified as it streams in) and
 * their manifests. The digests stored are pushed onto `added` as they are (for the caller to
 * collect should the load fail).
 */
export async function storeStates(content: ContentStore, states: ArchiveState[], added: string[]): Promise<void> {
  for (const s of states) {
    for (const [digest, { file, size }] of s.files) {
      if (await content.has(digest)) continue;
      await content.ingest(fs.createReadStream(file), { digest, size }, `checkpoint state blob ${digest}`);
      added.push(digest);
    }
    if (!(await content.has(s.digest))) {
      await content.put(s.body, { digest: s.digest }, 'checkpoint state manifest');
      added.push(s.digest);
    }
  }
}
