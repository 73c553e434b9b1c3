/** QMP steps on a VM's upper disk (src/vm/devices/upper-disk/upper-disk.ts gives the commands). */
import { attachCommands, detachCommands, UPPER_DISK_NODE } from './upper-disk';
import { UnavailableError } from '../../../errors';
import type { DiskThrottle } from '../../types';
import type { QmpClient } from '../../qemu/qmp';
import { withFilesInVmDir } from '../../qemu/confinement/jail-mounts';
import { backingOf } from '../../../util/disk-chain';

/**
 * Host disk `file` put behind the upper disk of the VM whose directory is `dir` (reached from
 * its jail): a raw image, or a copy-on-write overlay with the files under it, those read-only.
 */
export async function attachFile(q: QmpClient, dir: string, file: string): Promise<void> {
  const backing = backingOf(file);
  const files = [{ file }, ...backing.map((b) => ({ file: b, readOnly: true }))];
  await withFilesInVmDir(dir, files, async ([reached, ...under]) => {
    for (const [command, args] of attachCommands(reached, under)) await q.execute(command, args);
  });
}

/**
 * The placeholder put back behind the upper disk and the file's node removed (none there is
 * fine); the device's rates lifted, so that the next container's disk has only its own.
 */
export async function detachFile(q: QmpClient): Promise<void> {
  await setDiskThrottle(q, {}).catch(() => undefined);
  const [reopen, ...dels] = detachCommands();
  await q.execute(reopen[0], reopen[1]);
  for (const [command, args] of dels) {
    try {
      await q.execute(command, args);
    } catch (err) {
      // Not there: no file was attached, or the other kind of disk was.
      if (!/Failed to find node|Cannot find/i.test((err as Error).message)) throw err;
    }
  }
}

/**
 * Set the I/O throttling of the upper disk's device (QEMU's block_set_io_throttle, on the
 * device whose root node is the disk's format node); every rate 0 lifts it. It holds for
 * whatever file is put behind the disk later (the throttling is the device's).
 */
export async function setDiskThrottle(q: QmpClient, t: DiskThrottle): Promise<void> {
  const blocks = (await q.execute('query-block')) as Array<{ qdev?: string; inserted?: { 'node-name'?: string } }>;
  const dev = blocks.find((b) => b.inserted?.['node-name'] === UPPER_DISK_NODE)?.qdev;
  if (!dev) throw new UnavailableError("the VM's upper disk is not among QEMU's block devices");
  await q.execute('block_set_io_throttle', {
    id: dev,
    bps: 0,
    bps_rd: t.readBps ?? 0,
    bps_wr: t.writeBps ?? 0,
    iops: 0,
    iops_rd: t.readIops ?? 0,
    iops_wr: t.writeIops ?? 0,
  });
}
