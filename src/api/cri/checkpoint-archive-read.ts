/**
 * The reading of a CheckpointContainer archive (./checkpoint-archive.ts wrote it) into a
 * directory, taking the archive as hostile: it is a file on the node that any image builder or
 * copy may have made. Checked before a byte is written: the archive is a regular file (not
 * followed if a link); its first member is the manifest, at most MANIFEST_MAX bytes, of this
 * format, naming exactly CRI_CHECKPOINT_FILES in order, each within the caller's limits; then
 * each member must be the next of those files, a regular file, its size the manifest's (a
 * disk's extent stream within its limits, as a checkpoint image's: ExtentApplier), made anew
 * in the directory (never following or replacing anything); nothing may follow the last.
 * Any failure removes what this call wrote and is an InvalidArgumentError naming the problem.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { InvalidArgumentError } from '../../errors';
import { applyExtentStream } from '../../storage/checkpoint-image/extents-apply';
import {
  CRI_CHECKPOINT_FILES,
  CRI_CHECKPOINT_FORMAT,
  CRI_CHECKPOINT_MANIFEST,
  type CriCheckpointManifest,
} from './checkpoint-archive';

/** Largest manifest. */
const MANIFEST_MAX = 64 * 1024;

/** What a caller accepts of an archive. */
export interface CriArchiveLimits {
  /** Largest `vm.state` (the guest's RAM and devices). */
  maxStateBytes: number;
  /** Largest logical size of a disk. */
  maxDiskBytes: number;
  /** Most data bytes of all members together. */
  maxTotalBytes: number;
}

/** Defaults: a 16 GiB VM's state, the disks' 16 GiB, 64 GiB in all. */
export const DEFAULT_CRI_ARCHIVE_LIMITS: CriArchiveLimits = {
  maxStateBytes: 17 * 1024 ** 3,
  maxDiskBytes: 16 * 1024 ** 3,
  maxTotalBytes: 64 * 1024 ** 3,
};

/** The records `vm.json` and `pod.json` are read into memory later: they stay small. */
const RECORD_MAX = 4 * 1024 * 1024;

const bad = (why: string) => new InvalidArgumentError(`not a podvisor checkpoint archive: ${why}`);

/** A string map, or an error naming `what`. */
function stringMap(v: unknown, what: string): Record<string, string> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw bad(`${what} is not a map`);
  for (const [k, x] of Object.entries(v)) if (typeof x !== 'string') throw bad(`${what}.${k} is not a string`);
  return v as Record<string, string>;
}

/** The manifest's bytes parsed and checked field by field against `limits`. */
export function parseCriCheckpointManifest(bytes: Buffer, limits: CriArchiveLimits): CriCheckpointManifest {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw bad('its manifest is not JSON');
  }
  if (!m || typeof m !== 'object' || Array.isArray(m)) throw bad('its manifest is not an object');
  if (m.format !== CRI_CHECKPOINT_FORMAT) throw bad(`its format is not ${CRI_CHECKPOINT_FORMAT}`);
  if (typeof m.created !== 'string') throw bad('created is not a string');
  const c = m.container as Record<string, unknown> | undefined;
  if (!c || typeof c !== 'object') throw bad('container is missing');
  for (const k of ['id', 'image', 'diskName'] as const)
    if (typeof c[k] !== 'string' || !c[k]) throw bad(`container.${k} is not a string`);
  if (!/^[a-f0-9]{64}$/.test(c.diskName as string)) throw bad('container.diskName is not a container id');
  const md = c.metadata as Record<string, unknown> | undefined;
  if (!md || typeof md !== 'object' || (md.name !== undefined && typeof md.name !== 'string'))
    throw bad('container.metadata is not a container metadata');
  stringMap(c.labels, 'container.labels');
  stringMap(c.annotations, 'container.annotations');
  const s = m.sandbox as Record<string, unknown> | undefined;
  if (!s || typeof s !== 'object' || typeof s.id !== 'string' || !s.metadata || typeof s.metadata !== 'object')
    throw bad('sandbox is missing');
  const files = m.files;
  if (!Array.isArray(files) || files.length !== CRI_CHECKPOINT_FILES.length)
    throw bad(`files does not list ${CRI_CHECKPOINT_FILES.map((f) => f.name).join(', ')}`);
  let total = 0;
  files.forEach((f: Record<string, unknown>, i) => {
    const want = CRI_CHECKPOINT_FILES[i];
    if (!f || f.name !== want.name || f.encoding !== want.encoding)
      throw bad(`files[${i}] is not ${want.name} (${want.encoding})`);
    const size = f.size;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
      throw bad(`the size of ${want.name} is not a size`);
    const max =
      want.name === 'vm.state' ? limits.maxStateBytes : want.encoding === 'extents' ? limits.maxDiskBytes : RECORD_MAX;
    if (size > max) throw bad(`${want.name} of ${size} bytes is over ${max}`);
    if (want.encoding === 'bytes') total += size;
  });
  if (total > limits.maxTotalBytes) throw bad(`its files of ${total} bytes are over ${limits.maxTotalBytes}`);
  return m as unknown as CriCheckpointManifest;
}

/**
 * Unpack archive `file` into directory `into` (made by the caller, empty) within `limits`;
 * resolves with its manifest once every file is written (see the module comment).
 */
export async function unpackCriCheckpointArchive(
  file: string,
  into: string,
  limits: CriArchiveLimits = DEFAULT_CRI_ARCHIVE_LIMITS,
): Promise<CriCheckpointManifest> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (err) {
    throw new InvalidArgumentError(`checkpoint archive ${file}: ${(err as Error).message}`);
  }
  try {
    if (!(await fh.stat()).isFile()) throw bad(`${file} is not a regular file`);
    return await unpackCriCheckpointStream(fh.createReadStream({ autoClose: false }), into, limits);
  } finally {
    await fh.close();
  }
}

/**
 * Unpack the archive read from `source` (a tar stream: a file's, or the members of a checkpoint
 * image, ./checkpoint-archive-image.ts) into directory `into` (made by the caller, empty) within
 * `limits`, as unpackCriCheckpointArchive; `source` is consumed or destroyed.
 */
export async function unpackCriCheckpointStream(
  source: Readable,
  into: string,
  limits: CriArchiveLimits = DEFAULT_CRI_ARCHIVE_LIMITS,
): Promise<CriCheckpointManifest> {
  const made: string[] = [];
  try {
    const extract = tar.extract();
    let manifest: CriCheckpointManifest | undefined;
    let index = 0;
    let data = 0;
    const reading = (async () => {
      for await (const entry of extract) {
        const h = entry.header;
        if (h.type !== 'file') throw bad(`member ${JSON.stringify(h.name)} is not a regular file`);
        const size = h.size ?? 0;
        if (index === 0) {
          if (h.name !== CRI_CHECKPOINT_MANIFEST) throw bad(`its first member is not ${CRI_CHECKPOINT_MANIFEST}`);
          if (size > MANIFEST_MAX) throw bad(`its manifest of ${size} bytes is over ${MANIFEST_MAX}`);
          const chunks: Buffer[] = [];
          for await (const b of entry) chunks.push(b as Buffer);
          manifest = parseCriCheckpointManifest(Buffer.concat(chunks), limits);
        } else {
          const want = manifest!.files[index - 1];
          if (!want) throw bad(`member ${JSON.stringify(h.name)} follows its last file`);
          if (h.name !== want.name) throw bad(`member ${JSON.stringify(h.name)} is not ${want.name}`);
          data += size;
          if (data > limits.maxTotalBytes) throw bad(`its members are over ${limits.maxTotalBytes} bytes`);
          const target = path.join(into, want.name);
          const out = await fs.promises.open(
            target,
            fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW,
            0o600,
          );
          made.push(target);
          try {
            if (want.encoding === 'extents') {
              await applyExtentStream(entry as AsyncIterable<Buffer>, out, {
                maxDataBytes: want.size,
                maxSize: want.size,
                size: want.size,
              });
            } else {
              if (size !== want.size) throw bad(`${want.name} is ${size} bytes, its manifest says ${want.size}`);
              for await (const b of entry as AsyncIterable<Buffer>) await out.write(b);
            }
            await out.sync();
          } finally {
            await out.close();
          }
        }
        index++;
      }
    })();
    // The reading's own refusal, when it made one, before the pipeline's (a premature close).
    reading.catch(() => extract.destroy());
    const [piped, read] = await Promise.allSettled([pipeline(source, extract), reading]);
    // A refusal of either side (the source's: a checkpoint image without a member) is the one
    // reported; else the reading's, else the pipeline's.
    const rejected = [read, piped].filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    const failed = rejected.find((r) => r.reason instanceof InvalidArgumentError) ?? rejected[0];
    if (failed) {
      const err = failed.reason as Error;
      if (err instanceof InvalidArgumentError) throw err;
      throw bad(err.message);
    }
    if (!manifest || index !== CRI_CHECKPOINT_FILES.length + 1)
      throw bad(`it ends before ${CRI_CHECKPOINT_FILES[Math.max(0, index - 1)]?.name ?? 'its manifest'}`);
    return manifest;
  } catch (err) {
    source.destroy();
    for (const f of made) await fs.promises.rm(f, { force: true });
    throw err;
  }
}
