/**
 * CheckpointContainer (Kubernetes' container checkpoint, `crictl checkpoint --export=FILE`):
 * the container's sandbox VM saved whole while it runs on, packed into an archive at the
 * request's `location` (./checkpoint-archive.ts; docs/cri.md, "CheckpointContainer").
 *
 * A CRI container runs in its sandbox's VM on two disks of its own, hot-plugged on that VM's
 * SCSI controller (its writable layer and its image's read-only disk), so the VM can be saved
 * as a VM with a joined container is (docs/checkpoint.md): the save (the pod layer's, with
 * `criSandbox`) copies the container's layer while the VM is stopped and records its image
 * disk. Refused, the container running on:
 *   - FAILED_PRECONDITION for a container that does not run, one with host-path mounts (on the
 *     VM's 9p file share, which QEMU cannot save), one in a sandbox whose VM has that share
 *     mounted (another container of the pod had host-path mounts, even one that exited since),
 *     one whose layer is on the host, and any other reason the VM cannot be saved now (QEMU's
 *     words);
 *   - UNIMPLEMENTED for a pod of several app containers running (the archive is of one
 *     container, and its saved VM would hold the others' processes too), and on a daemon that
 *     cannot save VMs.
 * The save is a checkpoint of the sandbox's pod made for the archive and removed once the
 * archive is written (no fork template is made for it).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConflictError, InvalidArgumentError, NotImplementedError } from '../../errors';
import { CheckpointError } from '../../pod/errors';
import { diskNameOf, mainContainer } from '../../pod/types';
import { CRI_CHECKPOINT_FORMAT, writeCriCheckpointArchive, type CriCheckpointManifest } from './checkpoint-archive';
import type { CriPods } from './records';
import type { CriRuntimeDeps } from './runtime-deps';
import { logger } from '../../util/log';

const log = logger('cri');

/** CheckpointContainerRequest. */
export interface CheckpointContainerRequest {
  container_id: string;
  /** Where the archive goes: a path on the node (the kubelet's checkpoints directory). */
  location: string;
  /** Seconds the runtime may take (int64 as a string); podvisor's save has its own bounds. */
  timeout?: string;
}

/** Save container `req.container_id` and write its archive at `req.location` (see the module comment). */
export async function checkpointCriContainer(
  deps: CriRuntimeDeps,
  cri: CriPods,
  req: CheckpointContainerRequest,
): Promise<void> {
  const r = await cri.settled(cri.container(req.container_id));
  const rec = cri.containerRecord(r);
  const s = cri.sandbox(rec.sandboxId);
  const refused = (why: string) => new ConflictError(`CheckpointContainer: container ${r.id}: ${why}`);
  const { pods } = deps;
  if (!pods.checkpoint || !pods.checkpointDir || !pods.removeCheckpoint)
    throw new NotImplementedError(`CheckpointContainer: this daemon cannot save VMs`);
  if (!req.location || !path.isAbsolute(req.location))
    throw new InvalidArgumentError('CheckpointContainer: location must be an absolute path on the node');
  if (!fs.statSync(path.dirname(req.location), { throwIfNoEntry: false })?.isDirectory())
    throw new InvalidArgumentError(`CheckpointContainer: the directory of ${req.location} does not exist`);
  if (!pods.isRunning(r.id)) throw refused('it is not running');
  if (!pods.isRunning(s.id)) throw refused(`its sandbox ${s.id} is not ready`);
  const others = cri.containersOf(s.id).filter((c) => c.id !== r.id && pods.isRunning(c.id));
  if (others.length > 0)
    throw new NotImplementedError(
      `CheckpointContainer: container ${r.id}: its pod's container ${others[0].id} runs in the same VM: podvisor checkpoints the only running container of a pod (the saved VM would hold the others' processes too)`,
    );
  if (rec.mounts.length > 0)
    throw refused(
      `its host-path mounts (${rec.mounts.map((m) => m.containerPath).join(', ')}) are on the VM's file share, which QEMU cannot save (docs/cri.md, "CheckpointContainer")`,
    );
  const name = `cri-${crypto.randomBytes(8).toString('hex')}`;
  const started = Date.now();
  try {
    await pods.checkpoint(s.id, name, { exit: false, criSandbox: true });
  } catch (err) {
    if (err instanceof CheckpointError && err.refusal !== 'missing') {
      // QEMU's blocker for a 9p share: the sandbox VM's volume share, which stays mounted
      // once a container of the pod had a host-path mount (even one that exited since).
      const qemu = /Migration is disabled when VirtFS[^(]*/.exec(err.detail)?.[0].trim();
      if (qemu)
        throw refused(
          `its sandbox's VM has a file share mounted, which QEMU cannot save: a container of the pod had host-path mounts (QEMU: ${qemu})`,
        );
      throw refused(err.detail || err.refusal.replace(/-/g, ' '));
    }
    throw err;
  }
  try {
    const dir = pods.checkpointDir(s.id, name);
    const diskName = diskNameOf(mainContainer(r).spec);
    // Its layer's copy and its image's disk, the VM's only joined container's.
    if (!fs.existsSync(path.join(dir, 'joined-0.disk')) || fs.existsSync(path.join(dir, 'joined-1.disk')))
      throw refused(`its VM was saved without its disks (its layer is not on a disk of its own)`);
    const smd = cri.sandboxRecord(s).metadata;
    const manifest: Omit<CriCheckpointManifest, 'files'> = {
      format: CRI_CHECKPOINT_FORMAT,
      created: new Date().toISOString(),
      container: {
        id: r.id,
        metadata: { ...rec.metadata },
        image: rec.image,
        labels: rec.labels,
        annotations: rec.annotations,
        diskName,
      },
      sandbox: { id: s.id, metadata: { ...smd } },
    };
    const saved = Date.now();
    await writeCriCheckpointArchive(dir, manifest, req.location);
    log.info(
      `container ${r.id.slice(0, 12)}: checkpointed to ${req.location} (VM saved in ${saved - started} ms, archive written in ${Date.now() - saved} ms)`,
    );
  } finally {
    await pods.removeCheckpoint(s.id, name).catch(() => undefined);
  }
}
