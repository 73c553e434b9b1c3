/**
 * The archive CheckpointContainer writes at the kubelet's `location` (docs/cri.md,
 * "CheckpointContainer"): a tar of regular files, in this order:
 *
 *   podvisor-cri-checkpoint.json   what the archive is (CriCheckpointManifest), first
 *   vm.state, vm.json, pod.json    the saved VM of the container's sandbox (docs/checkpoint.md),
 *                                  their bytes
 *   joined-0.disk                  the container's writable layer, copied while the VM was stopped
 *   image-0.ext4                   the read-only disk of its image the guest had mounted (the
 *                                  same bytes must be behind it wherever it is restored)
 *
 * The two disks (sparse files of 16 GiB holding a few MiB) travel as sparse-extent streams, a
 * checkpoint image's encoding of its disks (src/storage/checkpoint-image/extents.ts): the
 * logical size and the data extents only. ./checkpoint-archive-read.ts reads it back as hostile
 * input. Written under a name of its own (created exclusively, never through a link) beside
 * `location`, then renamed onto it when whole: a failure never leaves half an archive there.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import {
  extentRecordHeader,
  extentStreamHeader,
  listDataExtents,
  splitExtents,
  EXTENT_HEADER_BYTES,
  EXTENT_RECORD_HEADER_BYTES,
} from '../../storage/checkpoint-image/extents';
import { packEntry, writeEntry, type TarHeader } from '../../storage/tar-pack';

/** The archive's own record, its first member. */
export const CRI_CHECKPOINT_MANIFEST = 'podvisor-cri-checkpoint.json';

/** This format's name in the manifest. */
export const CRI_CHECKPOINT_FORMAT = 'podvisor-cri-checkpoint/1';

/** The members an archive holds after its manifest, in order, each with its encoding. */
export const CRI_CHECKPOINT_FILES: ReadonlyArray<{ name: string; encoding: 'bytes' | 'extents' }> = [
  { name: 'vm.state', encoding: 'bytes' },
  { name: 'vm.json', encoding: 'bytes' },
  { name: 'pod.json', encoding: 'bytes' },
  { name: 'joined-0.disk', encoding: 'extents' },
  { name: 'image-0.ext4', encoding: 'extents' },
];

/** What an archive's manifest holds: the container as the CRI knew it, and its saved VM's files. */
export interface CriCheckpointManifest {
  /** CRI_CHECKPOINT_FORMAT. */
  format: string;
  /** When the save was made (RFC 3339). */
  created: string;
  /** The checkpointed container as its CreateContainer made it. */
  container: {
    id: string;
    metadata: { name?: string; attempt?: number };
    image: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    /** The name its disks go by in the saved VM (its pod's container id). */
    diskName: string;
  };
  /** The sandbox whose VM was saved. */
  sandbox: { id: string; metadata: { name?: string; uid?: string; namespace?: string; attempt?: number } };
  /** The other members, in order (CRI_CHECKPOINT_FILES), each with its logical size in bytes. */
  files: Array<{ name: string; encoding: 'bytes' | 'extents'; size: number }>;
}

/** Bytes read from a file at a time. */
const CHUNK = 1024 * 1024;
/** The members' fixed time (an archive says nothing of when this host wrote it). */
const MTIME = new Date(0);

/**
 * Write the archive of checkpoint directory `dir` (holding CRI_CHECKPOINT_FILES) at
 * `location`, with `manifest` less its `files`, which this fills. Resolves once the archive is
 * renamed onto `location`; on failure nothing is left beside it.
 */
export async function writeCriCheckpointArchive(
  dir: string,
  manifest: Omit<CriCheckpointManifest, 'files'>,
  location: string,
): Promise<void> {
  const members = await Promise.all(
    CRI_CHECKPOINT_FILES.map(async (f) => {
      const file = path.join(dir, f.name);
      const st = fs.lstatSync(file);
      if (!st.isFile()) throw new Error(`checkpoint file ${f.name} is not a regular file`);
      return {
        ...f,
        file,
        size: st.size,
        ...(f.encoding === 'extents' ? { extents: await listDataExtents(file) } : {}),
      };
    }),
  );
  const full: CriCheckpointManifest = {
    ...manifest,
    files: members.map((m) => ({ name: m.name, encoding: m.encoding, size: m.size })),
  };
  const tmp = path.join(path.dirname(location), `.${path.basename(location)}.${crypto.randomBytes(6).toString('hex')}`);
  // 'wx': O_CREAT|O_EXCL, which never follows a link at the name.
  const out = fs.createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
  const pack = tar.pack();
  const written = pipeline(pack as unknown as Readable, out);
  written.catch(() => undefined);
  try {
    const json = Buffer.from(JSON.stringify(full, null, 2));
    await packEntry(pack, header(CRI_CHECKPOINT_MANIFEST, json.length), json).done;
    for (const m of members) {
      if (m.extents) {
        const pieces = splitExtents(m.extents.extents);
        const bytes = EXTENT_HEADER_BYTES + pieces.reduce((n, e) => n + EXTENT_RECORD_HEADER_BYTES + e.length, 0) + 16;
        const { entry, done } = packEntry(pack, header(m.name, bytes));
        await writeEntry(entry, extentStreamHeader(m.extents.size));
        await copyRanges(m.file, pieces, entry, (e) => extentRecordHeader(e.offset, e.length));
        await writeEntry(entry, extentRecordHeader(0, 0));
        entry.end(undefined);
        await done;
      } else {
        const { entry, done } = packEntry(pack, header(m.name, m.size));
        await copyRanges(m.file, [{ offset: 0, length: m.size }], entry);
        entry.end(undefined);
        await done;
      }
    }
    pack.finalize();
    await written;
    const fd = fs.openSync(tmp, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, location);
  } catch (err) {
    pack.destroy();
    await written.catch(() => undefined);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** A member's header: a regular file of `size` bytes, root's, mode 0600. */
function header(name: string, size: number): TarHeader {
  return { name, size, mode: 0o600, uid: 0, gid: 0, mtime: MTIME, type: 'file' };
}

/**
 * Write the bytes of `ranges` of `file` (opened without following a link) to `entry`, each
 * after `before(range)` when given; fails if the file is shorter than a range.
 */
async function copyRanges(
  file: string,
  ranges: Array<{ offset: number; length: number }>,
  entry: ReturnType<typeof packEntry>['entry'],
  before?: (r: { offset: number; length: number }) => Buffer,
): Promise<void> {
  const fh = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    for (const r of ranges) {
      if (before) await writeEntry(entry, before(r));
      for (let done = 0; done < r.length; ) {
        const want = Math.min(CHUNK, r.length - done);
        const buf = Buffer.allocUnsafe(want);
        const { bytesRead } = await fh.read(buf, 0, want, r.offset + done);
        if (bytesRead === 0) throw new Error(`${file} shrank while it was archived`);
        done += bytesRead;
        await writeEntry(entry, bytesRead === want ? buf : buf.subarray(0, bytesRead));
      }
    }
  } finally {
    await fh.close();
  }
}
