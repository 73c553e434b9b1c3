/**
 * A checkpoint's fork template (./checkpoint.ts): the checkpoint's state loaded once into a
 * QEMU that writes the guest's RAM into a file, on a copy of the checkpoint's disk of its own,
 * and saved again without the RAM, so that a restore and every fork map that file
 * copy-on-write (restoreVmFrom in ./clone.ts) and take that disk.
 */
import * as fs from 'node:fs';
import type { GuestImages } from '../../guest-images';
import { UnavailableError } from '../../../errors';
import { logger } from '../../../util/log';
import { makeOverlay, removeDisk, renameDisk } from '../../../util/disk-chain';
import type { QemuTools } from '../binaries';
import { killSpawned } from '../confinement/jailed-process';
import { childEnd, cleanupDir } from '../start-steps';
import type { StartHost } from '../start-host';
import { saveState } from './migration';
import {
  checkpointCloneLayout,
  type CloneProgress,
  type SavedJoinedDisks,
  type SavedShape,
  type SavedState,
} from './clone-layout';
import { spawnCloneQemu } from './clone-qemu';
import { loadSavedState } from './clone-load';
import { dropJoinedContainers } from './joined-drop';

const log = logger('vm');

/** A checkpoint's fork template: its device state, its RAM file and (when it has one) its disk. */
export interface ForkTemplateFiles {
  stateFile: string;
  ramFile: string;
  diskFile?: string;
  /**
   * A pod of several's (its joined containers kept): the template's own disk of each, in the
   * checkpoint's `joined` order, a copy-on-write overlay over the save's copy.
   */
  joinedDisks?: string[];
}

/**
 * Make the fork template of a checkpoint: its state (`stateFile`, saved with all its RAM)
 * loaded into a QEMU of `shape` that writes the RAM into `out.ramFile`, run until its agent has
 * seen its old host leave (a moment: its network is on no bridge), and saved again without
 * the RAM (x-ignore-shared) into `out.stateFile`. Each fork then maps that RAM
 * file copy-on-write (restoreVmFrom with `ramFile`). `disks.diskCopy`: the save's copy of the
 * upper disk, under `out.diskFile`, a copy-on-write overlay over it (src/util/disk-chain.ts),
 * put behind the template's upper disk while
 * it runs: what its guest writes or reads in that moment is on that copy, which a VM started
 * from the template takes as its disk (its memory is the template's). `disks.imageDisk`: the
 * checkpoint's image disk, behind the template's image disk while it runs. `disks.joined`: the
 * disks of the containers that had joined the saved VM, hot-plugged where the save found them
 * (their upper disks the save's copies), and those containers destroyed and their disks
 * unplugged before the template is saved (./joined-drop.ts); with `disks.keepJoined` (a pod
 * of several: they are the pod's own) they stay, each on a copy-on-write overlay of its own
 * over the save's copy (`out.joinedDisks`), as the upper disk's copy is. `signal`: its abort
 * cancels the make (its QEMU killed; it then fails, leaving nothing). The files are
 * written under temporary names and renamed when whole (the state last: its presence says
 * the template is made); the QEMU and its directory are gone when this returns.
 */
export async function makeForkTemplate(
  h: StartHost,
  tools: QemuTools,
  guest: GuestImages,
  shape: SavedShape,
  stateFile: string,
  out: ForkTemplateFiles,
  disks: {
    imageDisk?: string;
    diskCopy?: string;
    joined?: ReadonlyArray<SavedJoinedDisks>;
    keepJoined?: boolean;
  } = {},
  signal?: AbortSignal,
): Promise<void> {
  const layout = checkpointCloneLayout(h, shape);
  const started = Date.now();
  const at: string[] = [];
  const step = (what: string) => {
    at.push(`${what} after ${Date.now() - started} ms`);
    if (signal?.aborted) throw new UnavailableError('cancelled');
  };
  // A cancel (its checkpoint removed) kills its QEMU: the step under way fails at once.
  const cancel = () => {
    if (made.qemu?.pid) made.qemu.kill('SIGKILL');
  };
  signal?.addEventListener('abort', cancel);
  const tmp = {
    stateFile: `${out.stateFile}.tmp`,
    ramFile: `${out.ramFile}.tmp`,
    diskFile: out.diskFile ? `${out.diskFile}.tmp` : undefined,
    joinedDisks: out.joinedDisks?.map((f) => `${f}.tmp`) ?? [],
  };
  // A pod of several's containers stay, each on the template's own overlay over its copy.
  const keep = disks.keepJoined === true && (disks.joined?.length ?? 0) > 0;
  const joined = keep ? (disks.joined ?? []).map((j, i) => ({ ...j, upperFile: tmp.joinedDisks[i] })) : disks.joined;
  const made: CloneProgress = { restored: false };
  try {
    if (keep && tmp.joinedDisks.length !== disks.joined?.length)
      throw new Error("it has no disk for each of the pod's containers");
    await fs.promises.rm(tmp.ramFile, { force: true });
    if (tmp.diskFile && disks.diskCopy) await makeOverlay(disks.diskCopy, tmp.diskFile);
    if (keep) for (const [i, j] of (disks.joined ?? []).entries()) await makeOverlay(j.upperFile, tmp.joinedDisks[i]);
    step('disk made');
    const from: SavedState = {
      stateFile,
      ramFile: tmp.ramFile,
      allRam: true,
      checkpoint: true,
      shareRam: true,
      ...(tmp.diskFile ? { disk: tmp.diskFile } : {}),
      ...(disks.imageDisk ? { imageDisk: disks.imageDisk } : {}),
      ...(joined?.length ? { joined } : {}),
    };
    const qemu = await spawnCloneQemu(h, tools, guest, layout, from, made);
    h.startingQemu(qemu);
    if (signal?.aborted) cancel();
    const processEnd = childEnd(qemu);
    // It runs until its agent has seen its old host leave (its ports emptied: loadSavedState
    // waits for it), and is saved then, as a template is: each fork's agent then waits for
    // its host with nothing stale.
    await loadSavedState(h, layout, qemu, processEnd, from, made);
    step('state loaded, old host gone');
    if (disks.joined?.length && !keep) {
      await dropJoinedContainers(h, layout, processEnd, disks.joined);
      step('joined containers dropped');
    }
    await saveState(layout.paths, tmp.stateFile);
    step('saved');
    if (tmp.diskFile && out.diskFile) await renameDisk(tmp.diskFile, out.diskFile);
    for (const [i, f] of (out.joinedDisks ?? []).entries()) await renameDisk(tmp.joinedDisks[i], f);
    await fs.promises.rename(tmp.ramFile, out.ramFile);
    await fs.promises.rename(tmp.stateFile, out.stateFile);
    log.debug(`fork template ${out.stateFile} made: ${at.join(', ')}`);
  } catch (err) {
    for (const f of [tmp.ramFile, tmp.stateFile, out.ramFile]) await fs.promises.rm(f, { force: true });
    for (const f of [tmp.diskFile, out.diskFile, ...tmp.joinedDisks, ...(out.joinedDisks ?? [])])
      if (f) await removeDisk(f);
    throw new UnavailableError(`the fork template could not be made: ${(err as Error).message}`);
  } finally {
    signal?.removeEventListener('abort', cancel);
    if (made.qemu) h.starting.delete(made.qemu);
    if (made.stateFd !== undefined) fs.closeSync(made.stateFd);
    if (made.qemu?.pid) await killSpawned(made.qemu);
    await cleanupDir(layout.paths);
    h.own.delete(layout.id);
  }
}
