/**
 * The unpacking of a checkpoint's state manifest (./pack.ts made it; a registry may have
 * brought it, so it is hostile) into a directory. Everything that can be checked before a
 * byte is written is: the manifest and config (size, media types, shape), their agreement
 * (one layer per file, of its file's kind), and the caller's limits (which files, of which
 * kind, how big each and all together), and each blob's presence and size. Then each file is
 * made anew (never following or replacing anything) and filled by decoding its blob
 * in-process, the decoded bytes bounded by the file's declared size as they come. Any failure
 * removes the files this call made and is thrown, as an InvalidArgumentError naming the
 * problem when the input is at fault.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { ContentStore } from '../content';
import { isDigest } from '../digest';
import {
  CHECKPOINT_CONFIG_MAX,
  CHECKPOINT_MANIFEST_MAX,
  CHECKPOINT_RECIPE_TYPE,
  CHECKPOINT_SPARSE_TYPE,
} from './media-types';
import { parseCheckpointConfig, type CheckpointFileEntry } from './config';
import { TITLE_ANNOTATION } from './manifest';
import { parseStateManifest, type StateBlob } from './state-manifest';
import { ExtentApplier } from './extents-apply';
import { RecipeApplier } from './recipe-apply';
import type { TreeListing } from './tree-files';
import { decodeZstd } from './zstd-decode';
import { InvalidArgumentError } from '../../errors';

/** What the caller accepts in a checkpoint: which files (by name), and how big. */
export interface CheckpointUnpackLimits {
  /**
   * Every file the checkpoint may hold, with its kind and largest size (logical, if sparse);
   * `recipe`: it may come as an image disk's recipe instead (./recipe.ts).
   */
  files: Record<string, { maxBytes: number; sparse: boolean; recipe?: boolean }>;
  /** Largest sum of the files' declared sizes. */
  maxTotalBytes: number;
}

/** A base image's tree, mounted read-only and listed, for a recipe; closed (unmounted) after. */
export interface BaseTree {
  root: string;
  tree: TreeListing;
  close(): Promise<void>;
}

/**
 * Opens the tree of the base layers a recipe names (their diff IDs, lowest first): the
 * caller's to check they are the image's own; InvalidArgumentError otherwise.
 */
export type OpenBaseTree = (base: string[]) => Promise<BaseTree>;

/** A file to write: its config entry and its layer. */
interface PlannedFile extends CheckpointFileEntry {
  layer: StateBlob;
  /** Its limit from the caller. */
  maxBytes: number;
}

/** Bytes read from a blob at a time. */
const READ_CHUNK = 256 * 1024;
const OPEN_READ = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW;
const CREATE = fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW | fs.constants.O_WRONLY;

/** `err` with "what: " before its message when it is an InvalidArgumentError. */
function named(what: string, err: unknown): unknown {
  return err instanceof InvalidArgumentError ? new InvalidArgumentError(`${what}: ${err.message}`) : err;
}

/** Open a stored blob for reading; InvalidArgumentError when the store lacks it. */
async function openBlob(content: ContentStore, digest: string, what: string): Promise<FileHandle> {
  try {
    return await fs.promises.open(content.blobPath(digest), OPEN_READ);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new InvalidArgumentError(`${what} ${digest} is not in the content store`);
    }
    throw err;
  }
}

/**
 * A small stored blob's bytes (the manifest, the config): at most `max` bytes, of `size`
 * when given, hashing to `digest`.
 */
async function readSmallBlob(
  content: ContentStore,
  digest: string,
  max: number,
  what: string,
  size?: number,
): Promise<Buffer> {
  const fh = await openBlob(content, digest, what);
  try {
    const st = await fh.stat();
    if (st.size > max) throw new InvalidArgumentError(`${what} of ${st.size} bytes is over ${max}`);
    if (size !== undefined && st.size !== size) {
      throw new InvalidArgumentError(`${what} has ${st.size} bytes, not the ${size} its descriptor says`);
    }
    const buf = Buffer.alloc(st.size);
    for (let done = 0; done < buf.length; ) {
      const { bytesRead } = await fh.read(buf, done, buf.length - done, done);
      if (bytesRead === 0) throw new InvalidArgumentError(`${what} shrank while it was read`);
      done += bytesRead;
    }
    const got = 'sha256:' + crypto.createHash('sha256').update(buf).digest('hex');
    if (got !== digest) throw new InvalidArgumentError(`${what} does not hash to its digest ${digest}`);
    return buf;
  } finally {
    await fh.close();
  }
}

/**
 * The files to write, every check of the manifest and config against each other and against
 * `limits` made: one layer per file, in order, of the file's kind and titled with its name;
 * each name a file of `limits` with the same kind, none twice; each size within its limit,
 * their sum within the total.
 */
function planFiles(layers: StateBlob[], files: CheckpointFileEntry[], limits: CheckpointUnpackLimits): PlannedFile[] {
  if (layers.length !== files.length) {
    throw new InvalidArgumentError(`checkpoint has ${layers.length} layers for ${files.length} files`);
  }
  const seen = new Set<string>();
  let total = 0;
  return files.map((f, i) => {
    const layer = layers[i];
    if (!Object.prototype.hasOwnProperty.call(limits.files, f.name)) {
      throw new InvalidArgumentError(`checkpoint file ${f.name} is not one this checkpoint may hold`);
    }
    const limit = limits.files[f.name];
    if (seen.has(f.name)) throw new InvalidArgumentError(`checkpoint file ${f.name} is listed twice`);
    seen.add(f.name);
    if (f.recipe) {
      if (!limit.recipe) throw new InvalidArgumentError(`checkpoint file ${f.name} cannot come as a recipe`);
      if (layer.mediaType !== CHECKPOINT_RECIPE_TYPE) {
        throw new InvalidArgumentError(
          `checkpoint file ${f.name}: its layer's media type ${layer.mediaType} is not a recipe's`,
        );
      }
    } else if (f.sparse !== limit.sparse) {
      throw new InvalidArgumentError(`checkpoint file ${f.name} must ${limit.sparse ? '' : 'not '}be sparse`);
    } else if (layer.mediaType === CHECKPOINT_RECIPE_TYPE) {
      throw new InvalidArgumentError(`checkpoint file ${f.name}: its layer is a recipe, and its entry names none`);
    }
    if (!f.recipe && (layer.mediaType === CHECKPOINT_SPARSE_TYPE) !== f.sparse) {
      throw new InvalidArgumentError(
        `checkpoint file ${f.name}: its layer's media type ${layer.mediaType} is not its kind's`,
      );
    }
    const title = layer.annotations?.[TITLE_ANNOTATION];
    if (title !== f.name) {
      throw new InvalidArgumentError(`checkpoint layer ${i} is titled ${JSON.stringify(title)}, not ${f.name}`);
    }
    if (f.bytes > limit.maxBytes) {
      throw new InvalidArgumentError(
        `checkpoint file ${f.name} of ${f.bytes} bytes is over its limit of ${limit.maxBytes}`,
      );
    }
    total += f.bytes;
    if (total > limits.maxTotalBytes) {
      throw new InvalidArgumentError(
        `checkpoint files of ${total} bytes or more are over the limit of ${limits.maxTotalBytes}`,
      );
    }
    return { ...f, layer, maxBytes: limit.maxBytes };
  });
}

/** Write all of `b` at `position`. */
async function writeAll(fh: FileHandle, b: Buffer, position: number): Promise<void> {
  for (let done = 0; done < b.length; ) {
    const { bytesWritten } = await fh.write(b, done, b.length - done, position + done);
    done += bytesWritten;
  }
}

/**
 * Decode `f`'s blob into `out` (new and empty), bounded by its declared size and limit; a
 * recipe over the base tree `openBase` opens.
 */
async function fillFile(
  content: ContentStore,
  f: PlannedFile,
  out: FileHandle,
  openBase: OpenBaseTree | undefined,
): Promise<void> {
  const blob = await openBlob(content, f.layer.digest, 'its blob');
  try {
    const st = await blob.stat();
    if (st.size !== f.layer.size) {
      throw new InvalidArgumentError(`its blob has ${st.size} bytes, not the ${f.layer.size} its descriptor says`);
    }
    const hash = crypto.createHash('sha256');
    let read = 0;
    async function* compressed(): AsyncGenerator<Buffer> {
      for await (const chunk of blob.createReadStream({ highWaterMark: READ_CHUNK, autoClose: false })) {
        const b = chunk as Buffer;
        hash.update(b);
        read += b.length;
        yield b;
      }
    }
    if (f.recipe) {
      if (!openBase) throw new InvalidArgumentError('it is a recipe over a base image, and none is at hand here');
      const base = await openBase(f.recipe.base);
      try {
        const applier = new RecipeApplier(out, base.root, base.tree, {
          size: f.bytes,
          maxDataBytes: f.maxBytes,
          digest: f.recipe.digest,
        });
        try {
          await decodeZstd(compressed(), (c) => applier.push(c));
          applier.end();
        } finally {
          await applier.close();
        }
      } finally {
        await base.close();
      }
    } else if (f.sparse) {
      const applier = new ExtentApplier(out, { maxDataBytes: f.maxBytes, maxSize: f.bytes, size: f.bytes });
      await decodeZstd(compressed(), (c) => applier.push(c));
      applier.end();
    } else {
      let written = 0;
      await decodeZstd(compressed(), async (c) => {
        if (written + c.length > f.bytes) {
          throw new InvalidArgumentError(`decompresses to more than its declared ${f.bytes} bytes`);
        }
        await writeAll(out, c, written);
        written += c.length;
      });
      if (written !== f.bytes) {
        throw new InvalidArgumentError(`decompresses to ${written} bytes, not its declared ${f.bytes}`);
      }
    }
    const got = 'sha256:' + hash.digest('hex');
    if (read !== f.layer.size || got !== f.layer.digest) {
      throw new InvalidArgumentError(`its blob does not hash to its digest ${f.layer.digest}`);
    }
  } finally {
    await blob.close();
  }
}

/**
 * Unpack the checkpoint whose state manifest is `manifestDigest` in `content` into `dir` (a
 * directory the caller just made, mode 0700), within `limits`: each file created there with
 * O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600 (so nothing already there is followed or replaced),
 * its blob decoded in-process and bounded by the file's declared size (a sparse file's data
 * and logical size by its extent stream's checks; an image disk's recipe rebuilt over the base
 * tree `openBase` gives, its digest checked: ./recipe-apply.ts). Resolves with the config's `record`,
 * which the caller validates. On failure the files it made are removed and the error thrown:
 * an InvalidArgumentError naming the problem whenever the checkpoint is at fault.
 */
export async function unpackCheckpointFiles(
  content: ContentStore,
  manifestDigest: string,
  dir: string,
  limits: CheckpointUnpackLimits,
  openBase?: OpenBaseTree,
): Promise<{ record: unknown }> {
  if (!isDigest(manifestDigest)) {
    throw new InvalidArgumentError(`invalid checkpoint manifest digest ${JSON.stringify(manifestDigest)}`);
  }
  const manifest = parseStateManifest(
    await readSmallBlob(content, manifestDigest, CHECKPOINT_MANIFEST_MAX, 'checkpoint manifest'),
  );
  const config = parseCheckpointConfig(
    await readSmallBlob(
      content,
      manifest.config.digest,
      CHECKPOINT_CONFIG_MAX,
      'checkpoint config',
      manifest.config.size,
    ),
  );
  const plan = planFiles(manifest.layers, config.files, limits);
  for (const f of plan) {
    const blob = await openBlob(content, f.layer.digest, `checkpoint file ${f.name}: its blob`);
    try {
      const size = (await blob.stat()).size;
      if (size !== f.layer.size) {
        throw new InvalidArgumentError(
          `checkpoint file ${f.name}: its blob has ${size} bytes, not the ${f.layer.size} its descriptor says`,
        );
      }
    } finally {
      await blob.close();
    }
  }
  const made: string[] = [];
  try {
    for (const f of plan) {
      const target = path.join(dir, f.name);
      let out: FileHandle;
      try {
        out = await fs.promises.open(target, CREATE, 0o600);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST' || code === 'ELOOP') {
          throw new InvalidArgumentError(`checkpoint file ${f.name}: ${target} is already there (${code})`);
        }
        throw err;
      }
      made.push(target);
      try {
        await fillFile(content, f, out, openBase);
      } catch (err) {
        throw named(`checkpoint file ${f.name}`, err);
      } finally {
        await out.close();
      }
    }
  } catch (err) {
    for (const p of made) await fs.promises.rm(p, { force: true });
    throw err;
  }
  return { record: config.record };
}
