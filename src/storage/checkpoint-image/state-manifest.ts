/**
 * A checkpoint image's state manifest (./media-types.ts) read back as untrusted JSON: from the
 * content store (the image store's attachments), a registry (a pull) or an archive (a load).
 * Parsing is strict and bounded: at most CHECKPOINT_MANIFEST_MAX bytes, an OCI image manifest
 * (schemaVersion 2) whose config is a CHECKPOINT_CONFIG_TYPE blob of at most
 * CHECKPOINT_CONFIG_MAX bytes and whose layers (at most CHECKPOINT_MAX_LAYERS) are
 * CHECKPOINT_FILE_TYPE, CHECKPOINT_SPARSE_TYPE or CHECKPOINT_RECIPE_TYPE blobs. Only the descriptors are read here;
 * what the blobs hold is the unpacker's business (./unpack.ts).
 */
import { InvalidArgumentError } from '../../errors';
import { isDigest } from '../digest';
import type { ContentStore } from '../content';
import {
  CHECKPOINT_ARTIFACT_TYPE,
  CHECKPOINT_CONFIG_MAX,
  CHECKPOINT_CONFIG_TYPE,
  CHECKPOINT_FILE_TYPE,
  CHECKPOINT_MANIFEST_MAX,
  CHECKPOINT_RECIPE_TYPE,
  CHECKPOINT_SPARSE_TYPE,
} from './media-types';

/** The OCI image manifest media type: a state manifest's own. */
export const OCI_MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
/** Most layers (saved files) a state manifest may list. */
export const CHECKPOINT_MAX_LAYERS = 8;

/** One blob a state manifest names. */
export interface StateBlob {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** A parsed state manifest. */
export interface StateManifest {
  config: StateBlob;
  layers: StateBlob[];
}

function fail(what: string): never {
  throw new InvalidArgumentError(`invalid checkpoint state manifest: ${what}`);
}

function record(v: unknown, what: string): Record<string, unknown> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) fail(`${what} is not an object`);
  return v as Record<string, unknown>;
}

function blob(v: unknown, what: string, types: readonly string[]): StateBlob {
  const o = record(v, what);
  if (typeof o.mediaType !== 'string' || !types.includes(o.mediaType))
    fail(`${what} has media type ${JSON.stringify(o.mediaType)}, not ${types.join(' or ')}`);
  if (!isDigest(o.digest)) fail(`${what} has an invalid digest ${JSON.stringify(o.digest)}`);
  if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) fail(`${what} has an invalid size`);
  const b: StateBlob = { mediaType: o.mediaType, digest: o.digest, size: o.size };
  if (o.annotations !== undefined) {
    const a = record(o.annotations, `${what}.annotations`);
    if (!Object.values(a).every((x) => typeof x === 'string')) fail(`${what}.annotations are not all strings`);
    b.annotations = a as Record<string, string>;
  }
  return b;
}

/**
 * Parse a state manifest's bytes strictly (see the module comment). InvalidArgumentError, saying
 * what is wrong, for anything else.
 */
export function parseStateManifest(body: Buffer): StateManifest {
  if (body.length > CHECKPOINT_MANIFEST_MAX) fail(`${body.length} bytes, more than ${CHECKPOINT_MANIFEST_MAX}`);
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    fail('not JSON');
  }
  const o = record(v, 'the manifest');
  if (o.schemaVersion !== 2) fail(`schemaVersion ${JSON.stringify(o.schemaVersion)}, not 2`);
  if (o.mediaType !== OCI_MANIFEST_TYPE) fail(`media type ${JSON.stringify(o.mediaType)}, not ${OCI_MANIFEST_TYPE}`);
  if (o.artifactType !== undefined && o.artifactType !== CHECKPOINT_ARTIFACT_TYPE)
    fail(`artifactType ${JSON.stringify(o.artifactType)}, not ${CHECKPOINT_ARTIFACT_TYPE}`);
  const config = blob(o.config, 'config', [CHECKPOINT_CONFIG_TYPE]);
  if (config.size > CHECKPOINT_CONFIG_MAX) fail(`config of ${config.size} bytes, more than ${CHECKPOINT_CONFIG_MAX}`);
  if (!Array.isArray(o.layers)) fail('no layers');
  if (o.layers.length > CHECKPOINT_MAX_LAYERS) fail(`${o.layers.length} layers, more than ${CHECKPOINT_MAX_LAYERS}`);
  const layers = o.layers.map((l, i) =>
    blob(l, `layers[${i}]`, [CHECKPOINT_FILE_TYPE, CHECKPOINT_SPARSE_TYPE, CHECKPOINT_RECIPE_TYPE]),
  );
  return { config, layers };
}

/** The blobs a state manifest names: its config, then its layers (each digest once). */
export function stateBlobs(m: StateManifest): StateBlob[] {
  const out: StateBlob[] = [];
  for (const b of [m.config, ...m.layers]) if (!out.some((o) => o.digest === b.digest)) out.push(b);
  return out;
}

/** Bytes of every blob a state manifest names (each digest counted once). */
export function stateBytes(m: StateManifest): number {
  return stateBlobs(m).reduce((n, b) => n + b.size, 0);
}

/**
 * Read and parse the state manifest `digest` from the content store. NotFoundError when it is
 * absent, InvalidArgumentError when it is not a state manifest.
 */
export async function readStateManifest(content: ContentStore, digest: string): Promise<StateManifest> {
  if ((await content.size(digest)) > CHECKPOINT_MANIFEST_MAX)
    fail(`${digest} is larger than ${CHECKPOINT_MANIFEST_MAX} bytes`);
  return parseStateManifest(await content.read(digest));
}

/**
 * The digests of the blobs a stored state manifest names (config first, then layers), without
 * the manifest's own.
 */
export async function stateBlobDigests(content: ContentStore, digest: string): Promise<string[]> {
  return stateBlobs(await readStateManifest(content, digest)).map((b) => b.digest);
}
