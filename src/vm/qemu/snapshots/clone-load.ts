/**
 * Loading the saved state into a clone's QEMU (./clone.ts, ./fork-template.ts): a
 * checkpoint's disks put behind their devices first (their device modules' checkpoint steps),
 * then the state loaded over the migration stream, and a checkpoint's agent seen to notice its
 * old host gone.
 */
import type { ChildProcess } from 'node:child_process';
import type { ProcessEnd } from '../qemu-vm-init';
import { raceBoot, waitForSocket } from '../start-steps';
import { connectWhenListening } from '../qmp';
import { waitForHostLeft } from '../agent-status';
import type { StartHost } from '../start-host';
import { attachUpperDiskBeforeLoad } from '../../devices/upper-disk/upper-disk-checkpoint';
import { attachImageDiskBeforeLoad } from '../../devices/image-disk/image-disk-checkpoint';
import { attachJoinedFiles } from '../../devices/joined-disks-qmp';
import { SCSI_CONTROLLER_ID } from '../../devices/image-disk/image-disk';
import { restoreClone } from './migration';
import { CLONE_STATE_FD, type CloneLayout, type CloneProgress, type SavedState } from './clone-layout';

/**
 * Load the saved state into the clone's QEMU, once its QMP socket is there; a file to put
 * behind the upper disk and one behind the image disk first, and the disks of the containers
 * that had joined it, each where the save found it (a checkpoint's: its guest has their
 * filesystems mounted).
 */
export async function loadSavedState(
  h: StartHost,
  layout: CloneLayout,
  qemu: ChildProcess,
  processEnd: Promise<ProcessEnd>,
  from: SavedState,
  made: CloneProgress,
): Promise<void> {
  const { qmpSock, disksDir: dir } = layout.paths;
  // Bounded as a boot is: a QEMU that still runs will listen, and one spawned beside many
  // others on a loaded host (ten forks at once under a test suite) took over 3 s to. One that
  // exits fails the wait at once.
  await waitForSocket(qmpSock, qemu, h.bootTimeoutMs, 'QEMU');
  // One connection to its monitor for the disks and the load: each connection costs QEMU's
  // greeting and the capabilities' round trip.
  const qmp = await connectWhenListening(qmpSock);
  try {
    if (from.disk) await attachUpperDiskBeforeLoad(qmp, dir, from.disk);
    if (from.imageDisk) await attachImageDiskBeforeLoad(qmp, dir, from.imageDisk);
    for (const j of from.joined ?? [])
      await attachJoinedFiles(qmp, dir, SCSI_CONTROLLER_ID, j.containerId, j.upperFile, j.imageFile, j.at);
    await raceBoot(
      restoreClone(qmp, CLONE_STATE_FD, { allRam: from.allRam === true, checkpoint: from.checkpoint }),
      processEnd,
      h.bootTimeoutMs,
      from.checkpoint ? "the checkpoint's state was loaded" : "the template's state was loaded",
    );
    made.restored = true;
    // A checkpoint was saved with its host connected: the restored agent first sees that host
    // leave, and drops what is in its ports then; a new host's handshake sent before that
    // would be dropped with it, and never answered. Its status port tells (agent-status.ts;
    // this VM's status file is new). Not seeing it (up to the boot timeout) is no failure: the
    // host's handshake is sent again while unanswered.
    if (from.checkpoint && from.allRam)
      await raceBoot(
        waitForHostLeft(layout.paths, h.bootTimeoutMs, 'the restored agent'),
        processEnd,
        h.bootTimeoutMs + 1000,
      ).catch(() => undefined);
  } finally {
    qmp.close();
  }
}
