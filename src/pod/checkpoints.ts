/**
 * A pod's checkpoints (Docker's `docker checkpoint`, issue 44): named saves of its whole VM,
 * kept in `<pod dir>/checkpoints/<name>/` (mode 0700: a checkpoint holds the guest's memory,
 * secrets included; the pod's directory is the host's only, never a guest's, and goes with the
 * pod's removal).
 *
 * What works today: listing and removing, and every refusal dockerd makes, in its order. What
 * does not: saving. A running container's VM always has a 9p export mounted (the rootfs share,
 * and in block mode the image-layers share), and QEMU refuses to save a VM while one is
 * mounted: its 9p server's open files (fids) are not part of the saved state, so a restored
 * guest would find every open file of its mounts gone. A create therefore answers the reasons
 * the VM gives (Vm.saveBlockers) and makes nothing; docs/limitations.md says what a save needs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PodContext } from './context';
import { CheckpointError } from './errors';
import type { Entry } from './registry';
import { mainContainer } from './types';

/** dockerd's checkpoint names (its RestrictedNamePattern): two characters or more, no separator. */
const CHECKPOINT_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** The directory of a pod's checkpoints. */
export function checkpointsDir(ctx: PodContext, e: Entry): string {
  return path.join(ctx.dir(e.record.id), 'checkpoints');
}

/** The names of a pod's checkpoints, in name order (none when it has none). */
export async function listCheckpoints(ctx: PodContext, e: Entry): Promise<string[]> {
  let entries: fs.Dirent[];
  try {
    entries = await fs.promises.readdir(checkpointsDir(ctx, e), { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return entries
    .filter((d) => d.isDirectory() && CHECKPOINT_NAME.test(d.name))
    .map((d) => d.name)
    .sort();
}

/** Whether the pod has checkpoint `name` (false for a name no checkpoint can have). */
function hasCheckpoint(ctx: PodContext, e: Entry, name: string): boolean {
  if (!CHECKPOINT_NAME.test(name)) return false;
  try {
    return fs.lstatSync(path.join(checkpointsDir(ctx, e), name)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Save running pod `e` (named `ref` by the caller) as checkpoint `name`, refused as dockerd
 * refuses it: a pod that does not run, a terminal, a bad or taken name; then the VM's reasons
 * it cannot be saved (see the module comment). Nothing is made when it is refused, and the pod
 * runs on.
 */
export async function createCheckpoint(
  ctx: PodContext,
  e: Entry,
  ref: string,
  name: string,
  _opts: { exit: boolean },
): Promise<void> {
  await e.ops.run(async () => {
    const vm = e.run?.vm;
    if (!vm) throw new CheckpointError('not-running', ref, name);
    if (mainContainer(e.record).spec.tty) throw new CheckpointError('tty', ref, name);
    if (!CHECKPOINT_NAME.test(name)) throw new CheckpointError('bad-name', ref, name);
    if (hasCheckpoint(ctx, e, name)) throw new CheckpointError('exists', ref, name);
    const blockers = vm.saveBlockers ? await vm.saveBlockers() : ['this kind of VM cannot be saved'];
    throw new CheckpointError(
      'cannot-save',
      ref,
      name,
      blockers.length > 0
        ? `its VM cannot be saved (see docs/checkpoint.md): ${blockers.join('; ')}`
        : 'saving a running VM is not implemented',
    );
  });
}

/** Remove checkpoint `name` of pod `e` (named `ref` by the caller); refused when there is none. */
export async function removeCheckpoint(ctx: PodContext, e: Entry, ref: string, name: string): Promise<void> {
  if (!hasCheckpoint(ctx, e, name)) throw new CheckpointError('missing', ref, name);
  await fs.promises.rm(path.join(checkpointsDir(ctx, e), name), { recursive: true, force: true });
}

/**
 * What a start from checkpoint `name` of pod `e` refuses before anything starts: nothing for a
 * pod that runs (its start answers as any start of a running pod), a checkpoint it does not
 * have, and (no checkpoint can be made yet: see the module comment) any other.
 */
export function refuseRestore(ctx: PodContext, e: Entry, name: string): void {
  if (e.run) return;
  const ref = `/${e.record.name}`;
  if (!hasCheckpoint(ctx, e, name)) throw new CheckpointError('missing', ref, name);
  throw new CheckpointError('cannot-restore', ref, name, 'restoring a saved VM is not implemented');
}
