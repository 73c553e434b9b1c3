/**
 * The packing of a checkpoint directory's files into the content store (issue 66): each
 * file's bytes (or, for a sparse one, its extent stream: ./extents.ts) zstd-compressed into a
 * blob, then the config blob and the state manifest that name them (./media-types.ts). The
 * files are streamed, never held whole in memory; a sparse file costs reads of its data only.
 */
import * as fs from 'node:fs';
import { Transform, pipeline as pipelineCb, type Readable } from 'node:stream';
import type { ContentStore } from '../content';
import { storeZstd } from './compress';
import { extentStreamOf } from './extents';
import { recipeOf, type RecipeStats } from './recipe';
import type { TreeListing } from './tree-files';
import { logger } from '../../util/log';
import { encodeCheckpointConfig, isCheckpointFileName, type CheckpointFileEntry } from './config';
import { encodeCheckpointManifest, type CheckpointLayer } from './manifest';
import { InvalidArgumentError, UnavailableError } from '../../errors';

const log = logger('checkpoint-image');

/**
 * A file to pack: its name in the checkpoint, where it is, whether to keep only its data
 * extents, and for an image disk the tree of its base image to send it as a recipe over
 * (./recipe.ts; should the recipe fail, the disk goes as its extents).
 */
export interface CheckpointFileSource {
  name: string;
  path: string;
  sparse: boolean;
  recipe?: {
    /** The base image's layers mounted read-only, and its files listed (./tree-files.ts). */
    root: string;
    tree: TreeListing;
    /** The diff IDs of those layers, lowest first. */
    base: string[];
  };
}

/** What packing stored. */
export interface PackedCheckpoint {
  /** The state manifest's digest and size in bytes. */
  digest: string;
  size: number;
  /** Every other blob the manifest names: its config, then each file's layer, in order. */
  blobs: string[];
}

/** A plain file's bytes as a stream, with its size, checked to be what was read. */
async function plainSource(file: string): Promise<{ size: number; stream: Readable }> {
  const fh = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  let size: number;
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new UnavailableError(`${file} is not a regular file`);
    size = st.size;
  } catch (err) {
    await fh.close();
    throw err;
  }
  let read = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      read += chunk.length;
      if (read > size) return cb(new UnavailableError(`${file} grew while it was packed`));
      cb(null, chunk);
    },
    flush(cb) {
      cb(read === size ? null : new UnavailableError(`${file} shrank while it was packed`));
    },
  });
  // The read stream closes the file when it ends or is destroyed.
  return { size, stream: pipelineCb(fh.createReadStream({ highWaterMark: 1024 * 1024 }), counted, () => undefined) };
}

/**
 * Pack `files` and `record` (the caller's JSON, kept in the config) into `content`: each file
 * zstd-compressed (plain bytes, or the extent stream when `sparse`) as a blob, then the config
 * `{format: 1, files: [{name, bytes, sparse}], record}` and the state manifest. Names must be
 * plain file names ([A-Za-z0-9._-], not `.` or `..`), none twice (InvalidArgumentError); the
 * files must not change while they are read. Resolves with the manifest's digest and size and
 * every other blob's digest.
 */
export async function packCheckpointFiles(
  content: ContentStore,
  files: CheckpointFileSource[],
  record: unknown,
): Promise<PackedCheckpoint> {
  const seen = new Set<string>();
  for (const f of files) {
    if (!isCheckpointFileName(f.name)) {
      throw new InvalidArgumentError(`checkpoint file name ${JSON.stringify(f.name)} is not a plain file name`);
    }
    if (seen.has(f.name)) throw new InvalidArgumentError(`checkpoint file ${f.name} is named twice`);
    seen.add(f.name);
  }
  const entries: CheckpointFileEntry[] = [];
  const layers: CheckpointLayer[] = [];
  for (const f of files) {
    if (f.recipe) {
      try {
        const started = Date.now();
        const source = await recipeOf(f.path, f.recipe.root, f.recipe.tree);
        const stored = await storeZstd(content, source.stream);
        if (!source.result) throw new UnavailableError('the recipe stream ended early');
        entries.push({
          name: f.name,
          bytes: source.size,
          sparse: false,
          recipe: { base: f.recipe.base, digest: source.result.digest },
        });
        layers.push({ name: f.name, sparse: false, recipe: true, digest: stored.digest, size: stored.size });
        log.info(
          `${f.name}: a recipe of ${stored.size} bytes in ${Date.now() - started} ms (${describe(source.result.stats)})`,
        );
        continue;
      } catch (err) {
        log.warn(`${f.name}: no recipe over its base image (it goes as its extents): ${(err as Error).message}`);
      }
    }
    const source = f.sparse ? await extentStreamOf(f.path) : await plainSource(f.path);
    const stored = await storeZstd(content, source.stream);
    entries.push({ name: f.name, bytes: source.size, sparse: f.sparse });
    layers.push({ name: f.name, sparse: f.sparse, digest: stored.digest, size: stored.size });
  }
  const configBytes = encodeCheckpointConfig(entries, record);
  const config = { digest: await content.put(configBytes), size: configBytes.length };
  const manifestBytes = encodeCheckpointManifest(config, layers);
  const digest = await content.put(manifestBytes);
  return { digest, size: manifestBytes.length, blobs: [config.digest, ...layers.map((l) => l.digest)] };
}

/** A recipe's stats for the log. */
function describe(s: RecipeStats): string {
  const mib = (blocks: number) => ((blocks * 4096) / 1024 ** 2).toFixed(1);
  return `${mib(s.copied)} MiB by ${s.runs} references, ${mib(s.literal)} MiB literal, ${mib(s.zero)} MiB zeros`;
}
