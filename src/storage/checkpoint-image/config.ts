/**
 * A checkpoint's config blob (CHECKPOINT_CONFIG_TYPE): `{ format: 1, files: [{ name, bytes,
 * sparse }], record }`, where `files` lists the state manifest's layers in order and `record`
 * is the caller's own JSON. Made here, and read back as hostile JSON: its shape is checked
 * field by field, and every name is a plain file name, safe to join to a directory.
 */
import { CHECKPOINT_CONFIG_MAX } from './media-types';
import { isDigest } from '../digest';
import { InvalidArgumentError } from '../../errors';

/**
 * An image disk sent as a recipe (./recipe.ts): the diff IDs of the base image's layers it was
 * made from (lowest first; the checkpoint image's own first layers) and the disk's digest.
 */
export interface RecipeEntry {
  base: string[];
  digest: string;
}

/** Most base layers a recipe may name. */
export const RECIPE_MAX_BASE_LAYERS = 128;

/** One saved file: its name in the checkpoint directory, its size, and whether it is sparse. */
export interface CheckpointFileEntry {
  name: string;
  /** The file's length (its logical size when sparse). */
  bytes: number;
  sparse: boolean;
  /** Present when the layer is the file's recipe (not sparse then). */
  recipe?: RecipeEntry;
}

/** The config blob's content. */
export interface CheckpointConfig {
  format: 1;
  files: CheckpointFileEntry[];
  record: unknown;
}

/** Longest file name accepted (as a Linux file name). */
const NAME_MAX = 255;

/**
 * True when `name` is a plain file name: 1 to 255 of [A-Za-z0-9._-], and not `.` or `..`
 * (no slash, so it names an entry of the directory itself).
 */
export function isCheckpointFileName(name: unknown): name is string {
  return (
    typeof name === 'string' &&
    name.length <= NAME_MAX &&
    /^[A-Za-z0-9._-]+$/.test(name) &&
    name !== '.' &&
    name !== '..'
  );
}

/** True when `n` is a non-negative safe integer. */
export function isSize(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

/** The config blob's bytes for `files` and `record`; InvalidArgumentError when too big. */
export function encodeCheckpointConfig(files: CheckpointFileEntry[], record: unknown): Buffer {
  const config: CheckpointConfig = { format: 1, files, record };
  const bytes = Buffer.from(JSON.stringify(config));
  if (bytes.length > CHECKPOINT_CONFIG_MAX) {
    throw new InvalidArgumentError(`checkpoint config of ${bytes.length} bytes is over ${CHECKPOINT_CONFIG_MAX}`);
  }
  return bytes;
}

/**
 * The config in `bytes`, its shape checked: InvalidArgumentError naming what is wrong (not
 * JSON, another format, a file entry without a plain name, a size or a sparse flag, no record).
 * Names are not checked against each other here (the unpacker does, against its limits).
 */
export function parseCheckpointConfig(bytes: Buffer): CheckpointConfig {
  if (bytes.length > CHECKPOINT_CONFIG_MAX) {
    throw new InvalidArgumentError(`checkpoint config of ${bytes.length} bytes is over ${CHECKPOINT_CONFIG_MAX}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new InvalidArgumentError(`checkpoint config is not JSON: ${(err as Error).message}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v))
    throw new InvalidArgumentError('checkpoint config is not an object');
  const c = v as Record<string, unknown>;
  if (c.format !== 1) throw new InvalidArgumentError(`checkpoint config: unknown format ${JSON.stringify(c.format)}`);
  if (!Array.isArray(c.files)) throw new InvalidArgumentError('checkpoint config: files is not a list');
  if (!('record' in c)) throw new InvalidArgumentError('checkpoint config: no record');
  const files = c.files.map((f: unknown, i): CheckpointFileEntry => {
    if (!f || typeof f !== 'object' || Array.isArray(f)) {
      throw new InvalidArgumentError(`checkpoint config: files[${i}] is not an object`);
    }
    const { name, bytes: size, sparse, recipe } = f as Record<string, unknown>;
    if (!isCheckpointFileName(name)) {
      throw new InvalidArgumentError(`checkpoint config: files[${i}] has no plain file name: ${JSON.stringify(name)}`);
    }
    if (!isSize(size)) throw new InvalidArgumentError(`checkpoint config: file ${name} has no valid size`);
    if (typeof sparse !== 'boolean')
      throw new InvalidArgumentError(`checkpoint config: file ${name} has no sparse flag`);
    if (recipe === undefined) return { name, bytes: size, sparse };
    if (sparse) throw new InvalidArgumentError(`checkpoint config: file ${name} is both sparse and a recipe`);
    return { name, bytes: size, sparse, recipe: parseRecipeEntry(name, recipe) };
  });
  return { format: 1, files, record: c.record };
}

/** A file entry's `recipe`, its shape checked. */
function parseRecipeEntry(name: string, v: unknown): RecipeEntry {
  const bad = (why: string): never => {
    throw new InvalidArgumentError(`checkpoint config: file ${name}'s recipe ${why}`);
  };
  if (!v || typeof v !== 'object' || Array.isArray(v)) bad('is not an object');
  const { base, digest } = v as Record<string, unknown>;
  if (!Array.isArray(base) || base.length === 0 || base.length > RECIPE_MAX_BASE_LAYERS)
    bad(`names no base layers, or more than ${RECIPE_MAX_BASE_LAYERS}`);
  if (!(base as unknown[]).every((d) => isDigest(d))) bad('names a base layer by no valid digest');
  if (!isDigest(digest)) bad('has no valid disk digest');
  return { base: [...(base as string[])], digest: digest as string };
}
