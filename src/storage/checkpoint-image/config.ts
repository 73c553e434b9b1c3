/**
 * A checkpoint's config blob (CHECKPOINT_CONFIG_TYPE): `{ format: 1, files: [{ name, bytes,
 * sparse }], record }`, where `files` lists the state manifest's layers in order and `record`
 * is the caller's own JSON. Made here, and read back as hostile JSON: its shape is checked
 * field by field, and every name is a plain file name, safe to join to a directory.
 */
import { CHECKPOINT_CONFIG_MAX } from './media-types';
import { InvalidArgumentError } from '../../errors';

/** One saved file: its name in the checkpoint directory, its size, and whether it is sparse. */
export interface CheckpointFileEntry {
  name: string;
  /** The file's length (its logical size when sparse). */
  bytes: number;
  sparse: boolean;
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
    const { name, bytes: size, sparse } = f as Record<string, unknown>;
    if (!isCheckpointFileName(name)) {
      throw new InvalidArgumentError(`checkpoint config: files[${i}] has no plain file name: ${JSON.stringify(name)}`);
    }
    if (!isSize(size)) throw new InvalidArgumentError(`checkpoint config: file ${name} has no valid size`);
    if (typeof sparse !== 'boolean')
      throw new InvalidArgumentError(`checkpoint config: file ${name} has no sparse flag`);
    return { name, bytes: size, sparse };
  });
  return { format: 1, files, record: c.record };
}
