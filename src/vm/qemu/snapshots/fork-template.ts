/**
 * A checkpoint's fork template (./checkpoint.ts): the checkpoint's state loaded once into a
 * QEMU that writes the guest's RAM into a file, and saved again without it, so that every
 * fork maps that file copy-on-write (restoreVmFrom in ./clone.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { GuestImages } from '../../guest-images';
import { UnavailableError } from '../../../errors';
import type { QemuTools } from '../binaries';
import { killSpawned } from '../confinement/jailed-process';
import { childEnd, cleanupDir } from '../start-steps';
import type { StartHost } from '../start-host';
import { saveState } from './migration';
import { checkpointCloneLayout, type CloneProgress, type SavedShape, type SavedState } from './clone-layout';
import { spawnCloneQemu } from './clone-qemu';
import { loadSavedState } from './clone-load';
import { waitForHostLeft } from './clone-agent';

/**
 * Make the fork template of a checkpoint: its state (`stateFile`, saved with all its RAM)
 * loaded into a QEMU of `shape` that writes the RAM into `out.ramFile`, run until its agent has
 * seen its old host leave (a moment: its network is on no bridge), and saved again without
 * the RAM (x-ignore-shared) into `out.stateFile`. Each fork then maps that RAM
 * file copy-on-write (restoreVmFrom with `ramFile`). Both files are written under temporary
 * names and renamed when whole; the QEMU and its directory are gone when this returns.
 * `imageDisk`: the checkpoint's image disk, behind the template's image disk while it runs.
 */
export async function makeForkTemplate(
  h: StartHost,
  tools: QemuTools,
  guest: GuestImages,
  shape: SavedShape,
  stateFile: string,
  out: { stateFile: string; ramFile: string },
  imageDisk?: string,
): Promise<void> {
  const layout = checkpointCloneLayout(h, shape);
  const tmp = { stateFile: `${out.stateFile}.tmp`, ramFile: `${out.ramFile}.tmp` };
  const made: CloneProgress = { restored: false };
  try {
    await fs.promises.rm(tmp.ramFile, { force: true });
    const from: SavedState = {
      stateFile,
      ramFile: tmp.ramFile,
      allRam: true,
      checkpoint: true,
      shareRam: true,
      ...(imageDisk ? { imageDisk } : {}),
    };
    const qemu = await spawnCloneQemu(h, tools, guest, layout, from, made);
    h.startingQemu(qemu);
    await loadSavedState(h, layout, qemu, childEnd(qemu), from, made);
    // It runs until its agent has seen its old host leave (its ports emptied), and is saved
    // then, as a template is: each fork's agent then waits for its host with nothing stale.
    await waitForHostLeft(h, layout, "the fork template's agent");
    await saveState(layout.paths, tmp.stateFile, { socket: path.join(layout.paths.dir, 'state.sock') });
    await fs.promises.rename(tmp.ramFile, out.ramFile);
    await fs.promises.rename(tmp.stateFile, out.stateFile);
  } catch (err) {
    await fs.promises.rm(tmp.ramFile, { force: true });
    await fs.promises.rm(tmp.stateFile, { force: true });
    throw new UnavailableError(`the fork template could not be made: ${(err as Error).message}`);
  } finally {
    if (made.qemu) h.starting.delete(made.qemu);
    if (made.stateFd !== undefined) fs.closeSync(made.stateFd);
    if (made.qemu?.pid) await killSpawned(made.qemu);
    await cleanupDir(layout.paths);
    h.own.delete(layout.id);
  }
}
