/** QMP steps on a joined container's disks (./joined-disks.ts gives the commands and names). */
import type { QmpClient } from '../qemu/qmp';
import type { DiskThrottle } from '../types';
import { setDeviceThrottle } from './upper-disk/upper-disk-qmp';
import { withFilesInVmDir } from '../qemu/confinement/jail-mounts';
import { backingOf } from '../../util/disk-chain';
import {
  attachJoinedCommands,
  joinedDeviceIds,
  joinedNodeNames,
  type JoinedDiskAddresses,
  type ScsiAddress,
} from './joined-disks';

/** How long a removed disk's nodes may stay in use (QEMU unplugs a SCSI disk at once; bounded anyway). */
const NODE_RELEASE_MS = 2000;

/**
 * Hot-plug container `containerId`'s upper disk `upperFile` and image disk `imageFile` on
 * controller `controller` of the VM whose directory is `dir` (the files reached from its jail,
 * the image's read-only; a copy-on-write upper disk's files under it too, read-only), on free
 * targets or at `at` (a restore's, before its state loads).
 * What an earlier run of the container left there goes first; a failed step removes what the
 * others added.
 */
export async function attachJoinedFiles(
  q: QmpClient,
  dir: string,
  controller: string,
  containerId: string,
  upperFile: string,
  imageFile: string,
  at?: JoinedDiskAddresses,
): Promise<void> {
  await detachJoinedFiles(q, containerId);
  try {
    // A copy-on-write upper disk (a restored pod's container): the files under it, read-only.
    const backing = backingOf(upperFile).map((file) => ({ file, readOnly: true }));
    const files = [{ file: upperFile }, { file: imageFile, readOnly: true }, ...backing];
    await withFilesInVmDir(dir, files, async ([upper, image, ...under]) => {
      for (const [command, args] of attachJoinedCommands(controller, containerId, upper, image, at, under))
        await q.execute(command, args);
    });
  } catch (err) {
    await detachJoinedFiles(q, containerId).catch(() => undefined);
    throw err;
  }
}

/** The I/O limits of container `containerId`'s joined upper disk (`docker run --device-write-bps` and such). */
export function throttleJoinedUpper(q: QmpClient, containerId: string, limits: DiskThrottle): Promise<void> {
  return setDeviceThrottle(q, joinedDeviceIds(containerId)[0], limits);
}

/** Container `containerId`'s disks unplugged and their files closed (those not there are fine). */
export async function detachJoinedFiles(q: QmpClient, containerId: string): Promise<void> {
  for (const id of joinedDeviceIds(containerId)) {
    await q.execute('device_del', { id }).catch((err: Error) => {
      if (!/not found/i.test(err.message)) throw err;
    });
  }
  for (const node of joinedNodeNames(containerId)) {
    const end = Date.now() + NODE_RELEASE_MS;
    for (;;) {
      try {
        await q.execute('blockdev-del', { 'node-name': node });
        break;
      } catch (err) {
        const msg = (err as Error).message;
        if (/Failed to find node|Cannot find/i.test(msg)) break;
        if (!/in use/i.test(msg) || Date.now() > end) throw err;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
}

/** Where container `containerId`'s two disks sit on their controller (QOM's `scsi-id` and `lun` of each device). */
export async function joinedDiskAddresses(q: QmpClient, containerId: string): Promise<JoinedDiskAddresses> {
  const [upper, image] = await Promise.all(joinedDeviceIds(containerId).map((id) => addressOf(q, id)));
  return { upper, image };
}

/** The SCSI target and LUN of device `id` (each a small whole number, else refused). */
async function addressOf(q: QmpClient, id: string): Promise<ScsiAddress> {
  const get = async (property: string): Promise<number> => {
    const v = await q.execute('qom-get', { path: `/machine/peripheral/${id}`, property });
    if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 255)
      throw new Error(`device ${id}: its ${property} is not a SCSI address (${JSON.stringify(v)})`);
    return v as number;
  };
  return { scsiId: await get('scsi-id'), lun: await get('lun') };
}
