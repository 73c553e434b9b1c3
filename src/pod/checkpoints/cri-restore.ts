/**
 * The pod layer's part of a CRI restore (CRI-O's: a CreateContainer whose image is a checkpoint
 * archive's path; src/api/cri/checkpoint-restore.ts):
 *
 *  1. importCriCheckpoint: the archive's saved sandbox VM unpacked as checkpoint `name` of the
 *     new sandbox's pod (under `.new-<name>`, renamed when whole: a failure or a crash leaves
 *     nothing that looks like a checkpoint), its records rebuilt from their checked fields
 *     (./cri-restore-records.ts), and refused (CheckpointError `cannot-restore`) when this
 *     daemon cannot start it: another guest kernel, agent or QEMU, named.
 *  2. restoreCriSandbox: the sandbox's VM replaced by one started from that checkpoint. Its run
 *     ends (its CNI network with it) and it starts again from the checkpoint: the saved pause
 *     taken over as the sandbox's (renamed in the guest), the CNI network set up anew (the
 *     guest's interface given the address CNI gives now), and the saved container's disks
 *     hot-plugged where the save found them before the state loads, kept for pod `joiner` (the
 *     new CRI container, which joins the sandbox): its disk an overlay over the archive's copy
 *     of the layer, going by the saved container's disk name. A start that fails starts the
 *     sandbox afresh, so that it is ready again, and throws.
 *  3. The joiner's first start takes over the saved container's init (StartOptions.takeOver:
 *     ./../lifecycle/restore-takeover.ts, RENAME_CONTAINER) instead of creating one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError } from '../../errors';
import { logger } from '../../util/log';
import { removeTree } from '../../util/remove-tree';
import { writeFileAtomic } from '../../util/atomic';
import { imageDiskIdentity, VM_RECORD_FILE } from '../../vm/qemu/snapshots/saved-record';
import type { PodContext } from '../context';
import { CheckpointError } from '../errors';
import type { Entry } from '../records/registry';
import { startLocked } from '../lifecycle/lifecycle';
import { stopLocked } from '../lifecycle/stop';
import { checkpointsDir, hasCheckpoint } from './checkpoints';
import { CRI_IMAGE_DISK_COPY, CriRecordError, criRestorePodRecord, criRestoreVmRecord } from './cri-restore-records';

const log = logger('pod');

/** The pod record a checkpoint holds (./checkpoints.ts). */
const POD_RECORD = 'pod.json';

/** Read a record the archive brought (at most 4 MiB: its reader's limit), parsed. */
async function readRecord(file: string): Promise<unknown> {
  const fh = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    return JSON.parse(await fh.readFile('utf8')) as unknown;
  } catch (err) {
    throw new CriRecordError(`its ${path.basename(file)} is not JSON: ${(err as Error).message}`);
  } finally {
    await fh.close();
  }
}

/**
 * Import a CRI checkpoint archive as checkpoint `name` of sandbox pod `e` (named `ref`):
 * `unpack` writes the archive's files into the directory it is given and answers the saved
 * container's disk name (see the module comment, step 1). Nothing is left on a refusal.
 */
export async function importCriCheckpoint(
  ctx: PodContext,
  e: Entry,
  ref: string,
  name: string,
  unpack: (dir: string) => Promise<{ diskName: string }>,
): Promise<void> {
  const hv = ctx.deps.hypervisor;
  if (!hv?.restoreVm) throw new CheckpointError('cannot-restore', ref, name, 'this daemon cannot restore VMs');
  if (hasCheckpoint(ctx, e, name)) throw new CheckpointError('exists', ref, name);
  const dir = checkpointsDir(ctx, e);
  const tmp = path.join(dir, `.new-${name}`);
  const final = path.join(dir, name);
  await removeTree(tmp);
  await fs.promises.mkdir(tmp, { recursive: true, mode: 0o700 });
  try {
    const { diskName } = await unpack(tmp);
    // The identity of the archive's image disk: a rename keeps it.
    const identity = imageDiskIdentity(path.join(tmp, CRI_IMAGE_DISK_COPY));
    if (!identity) throw new CriRecordError(`its ${CRI_IMAGE_DISK_COPY} was not unpacked`);
    const vm = criRestoreVmRecord(await readRecord(path.join(tmp, VM_RECORD_FILE)), diskName, {
      file: path.join(final, CRI_IMAGE_DISK_COPY),
      identity,
    });
    const pod = criRestorePodRecord(await readRecord(path.join(tmp, POD_RECORD)), e.record);
    await writeFileAtomic(path.join(tmp, VM_RECORD_FILE), JSON.stringify(vm));
    await writeFileAtomic(path.join(tmp, POD_RECORD), JSON.stringify(pod));
    try {
      hv.checkSavedVm?.(tmp);
    } catch (err) {
      throw new CheckpointError('cannot-restore', ref, name, (err as Error).message);
    }
    await fs.promises.rename(tmp, final);
  } catch (err) {
    await removeTree(tmp).catch(() => undefined);
    if (err instanceof CriRecordError)
      throw new InvalidArgumentError(`not a podvisor checkpoint archive: ${err.message}`);
    throw err;
  }
}

/**
 * Replace the VM of sandbox pod `e` (named `ref`) by one started from its checkpoint `name`, the
 * saved container's disks kept for pod `joiner` (see the module comment, step 2).
 */
export async function restoreCriSandbox(
  ctx: PodContext,
  e: Entry,
  ref: string,
  name: string,
  joiner: Entry,
): Promise<void> {
  await e.ops.run(async (signal) => {
    if (!hasCheckpoint(ctx, e, name)) throw new CheckpointError('missing', ref, name);
    const t0 = Date.now();
    if (e.run) await stopLocked(ctx, e, 0, signal);
    e.record.manuallyStopped = false;
    try {
      await startLocked(ctx, e, signal, { dir: path.join(checkpointsDir(ctx, e), name), joiner });
    } catch (err) {
      log.warn(`sandbox ${e.record.id.slice(0, 12)}: its restore failed, started afresh: ${(err as Error).message}`);
      await startLocked(ctx, e, signal).catch((again: Error) =>
        log.warn(`sandbox ${e.record.id.slice(0, 12)}: its fresh start failed too: ${again.message}`),
      );
      throw err;
    }
    log.info(`sandbox ${e.record.id.slice(0, 12)}: its VM restored from ${name} in ${Date.now() - t0} ms`);
  });
}
