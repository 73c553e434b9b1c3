/**
 * The archive CheckpointContainer writes at the kubelet's `location` (docs/cri.md,
 * "CheckpointContainer"): a POSIX tar (GNU tar's `--sparse`, so a 16 GiB disk holding a few MiB
 * costs a few MiB) of
 *
 *   podvisor-cri-checkpoint.json   what the archive is (CriCheckpointManifest)
 *   vm.state, vm.json, pod.json    the saved VM of the container's sandbox (docs/checkpoint.md)
 *   joined-N.disk                  the container's writable layer, copied while the VM was stopped
 *   image-N.ext4                   the read-only disk of its image the guest had mounted (the
 *                                  same bytes must be behind it wherever it is restored)
 *
 * Written under a name of its own (created exclusively, never through a link) beside
 * `location`, then renamed onto it when whole: a failure never leaves half an archive there.
 */
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The archive's own record, first in it. */
export const CRI_CHECKPOINT_MANIFEST = 'podvisor-cri-checkpoint.json';

/** What an archive's manifest holds: the container as the CRI knew it, and its saved VM's files. */
export interface CriCheckpointManifest {
  /** This format. */
  format: 'podvisor-cri-checkpoint/1';
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
  /** The archive's other members, each a regular file, in the order written. */
  files: string[];
}

/**
 * Write the archive of checkpoint directory `dir` at `location`: `manifest` first, then
 * `manifest.files`, each a regular file of `dir` (checked without following links). Resolves
 * once the archive is renamed onto `location`; on failure nothing is left beside it.
 */
export async function writeCriCheckpointArchive(
  dir: string,
  manifest: CriCheckpointManifest,
  location: string,
): Promise<void> {
  for (const f of manifest.files) {
    if (f.includes('/') || f.startsWith('.') || f === CRI_CHECKPOINT_MANIFEST)
      throw new Error(`bad checkpoint file name ${JSON.stringify(f)}`);
    if (!fs.lstatSync(path.join(dir, f)).isFile()) throw new Error(`checkpoint file ${f} is not a regular file`);
  }
  fs.writeFileSync(path.join(dir, CRI_CHECKPOINT_MANIFEST), JSON.stringify(manifest, null, 2), { mode: 0o600 });
  const tmp = path.join(path.dirname(location), `.${path.basename(location)}.${crypto.randomBytes(6).toString('hex')}`);
  // 'wx': O_CREAT|O_EXCL, which never follows a link at the name.
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    await runTar(dir, [CRI_CHECKPOINT_MANIFEST, ...manifest.files], fd);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, location);
  } catch (err) {
    try {
      fs.closeSync(fd);
    } catch {
      // closed already
    }
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** GNU tar of `members` of `dir` onto `fd`: POSIX format, holes kept, owned by root, no times of this host's users. */
function runTar(dir: string, members: string[], fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      'tar',
      [
        '--create',
        '--format=posix',
        '--sparse',
        '--numeric-owner',
        '--owner=0',
        '--group=0',
        '--no-recursion',
        '-C',
        dir,
        '-f',
        '-',
        '--',
        ...members,
      ],
      { stdio: ['ignore', fd, 'pipe'] },
    );
    let err = '';
    p.stderr?.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-2000)));
    p.on('error', reject);
    p.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`writing the checkpoint archive: tar exited ${code}: ${err.trim()}`)),
    );
  });
}
