/**
 * The restore of a CheckpointContainer archive (./checkpoint.ts wrote it), as CRI-O restores:
 * a CreateContainer whose `config.image.image` is the archive's path on the node, in a sandbox
 * RunPodSandbox made as usual (docs/cri.md, "CheckpointContainer").
 *
 * At CreateContainer, in order, nothing left behind by a refusal:
 *   1. the archive read as hostile input into a checkpoint of the sandbox's pod
 *      (./checkpoint-archive-read.ts; the pod layer rebuilds its records and checks that this
 *      daemon can start the save: PodService.importCriCheckpoint);
 *   2. the container created as any CRI container of the saved one's image (which must be on
 *      the node), its record naming the archive and the saved container;
 *   3. the sandbox's VM replaced by one restored from the save (PodService.restoreCriSandbox):
 *      the saved container's processes are in it, its disks hot-plugged for the new container,
 *      the sandbox on its CNI network again with the address CNI gives it now. Its pod stops
 *      and starts again for that: meanwhile the sandbox shows ready and its pod's events are not
 *      sent as the CRI's (CriRecordStore.setRestoring).
 * StartContainer then takes the saved container's init over as the new container's
 * (criStartOptions): its processes go on from where they were saved.
 *
 * Refused: an archive that is not there (NOT_FOUND), not a regular file or not a podvisor
 * archive (INVALID_ARGUMENT, the reader's reason); a save this daemon cannot start: another guest
 * kernel, agent or QEMU (FAILED_PRECONDITION, naming what differs); a sandbox that is not ready
 * or has a container running (FAILED_PRECONDITION: its VM is replaced); a daemon that cannot
 * restore VMs (UNIMPLEMENTED).
 */
import * as crypto from 'node:crypto';
import { ConflictError, InvalidArgumentError, NotFoundError, NotImplementedError } from '../../errors';
import { CheckpointError } from '../../pod/errors';
import type { StartOptions } from '../../pod/service';
import { mainContainer, type PodRecord } from '../../pod/types';
import { logger } from '../../util/log';
import type { CriCheckpointManifest } from './checkpoint-archive';
import type { CheckpointSource } from './checkpoint-sources';
import type { CreateContainerRequest } from './messages';
import { need, type CriPods } from './records';
import type { CriContainerRecord, RestoredFrom } from './record-types';
import type { CriRuntimeDeps } from './runtime-deps';

const log = logger('cri');

/**
 * Creates a CRI container from `req` (its image replaced by `image`) with `restoredFrom` in its
 * record: CriRuntime's own create; the new container's id.
 */
export type CreateFrom = (req: CreateContainerRequest, image: string, restoredFrom: RestoredFrom) => Promise<string>;

/**
 * Restore the checkpoint `source` (the archive or checkpoint image `req` names) into its sandbox
 * (see the module comment); the new container's id.
 */
export async function restoreCriContainer(
  deps: CriRuntimeDeps,
  cri: CriPods,
  req: CreateContainerRequest,
  source: CheckpointSource,
  create: CreateFrom,
): Promise<string> {
  const s = cri.sandbox(req.pod_sandbox_id);
  need(req.config?.metadata?.name, 'config.metadata.name');
  const { pods } = deps;
  if (!pods.importCriCheckpoint || !pods.restoreCriSandbox || !pods.removeCheckpoint)
    throw new NotImplementedError('CreateContainer: this daemon cannot restore VMs from checkpoint archives');
  try {
    source.check();
  } catch (err) {
    if (err instanceof NotFoundError) throw new NotFoundError(`CreateContainer: ${err.message}`);
    if (err instanceof InvalidArgumentError) throw new InvalidArgumentError(`CreateContainer: ${err.message}`);
    throw err;
  }
  const refused = (why: string) =>
    new ConflictError(`CreateContainer: restoring ${source.what} in sandbox ${s.id}: ${why}`);
  if (!pods.isRunning(s.id)) throw refused('the sandbox is not ready');
  const running = cri.containersOf(s.id).filter((c) => pods.isRunning(c.id));
  if (running.length > 0) throw refused(`its container ${running[0].id} runs: the restore replaces the sandbox's VM`);
  const name = `cri-restore-${crypto.randomBytes(8).toString('hex')}`;
  const t0 = Date.now();
  let manifest: CriCheckpointManifest | undefined;
  try {
    await pods.importCriCheckpoint(s.id, name, async (dir) => {
      manifest = await source.unpack(dir);
      return { diskName: manifest.container.diskName };
    });
  } catch (err) {
    if (err instanceof CheckpointError && err.refusal === 'cannot-restore')
      throw refused(`its saved VM cannot be started here: ${err.detail}`);
    if (err instanceof InvalidArgumentError)
      throw new InvalidArgumentError(`CreateContainer: ${source.what}: ${err.message}`);
    throw err;
  }
  const m = manifest as NonNullable<typeof manifest>;
  const unpacked = Date.now();
  let id: string | undefined;
  try {
    id = await create(req, m.container.image, { archive: source.ref, savedId: m.container.diskName });
    // Its pod stops and starts again: the sandbox stays ready for the CRI meanwhile.
    deps.records.setRestoring(s.id, true);
    try {
      await pods.restoreCriSandbox(s.id, name, id);
    } finally {
      deps.records.setRestoring(s.id, false);
    }
  } catch (err) {
    if (id) {
      await pods.remove(id, { force: true }).catch(() => undefined);
      await deps.records.remove(id).catch(() => undefined);
    }
    await pods.removeCheckpoint(s.id, name).catch(() => undefined);
    throw err;
  }
  log.info(
    `container ${id.slice(0, 12)}: restored from ${source.what} into sandbox ${s.id.slice(0, 12)} (archive read in ${unpacked - t0} ms, VM restored in ${Date.now() - unpacked} ms)`,
  );
  return id;
}

/**
 * How StartContainer starts container `r` (its CRI record `rec`): a restored container's first
 * start takes over the saved container's init in its sandbox's restored VM.
 */
export function criStartOptions(r: PodRecord, rec: CriContainerRecord): StartOptions | undefined {
  const first = mainContainer(r).state.status === 'created';
  return rec.restoredFrom && first ? { takeOver: rec.restoredFrom.savedId } : undefined;
}
