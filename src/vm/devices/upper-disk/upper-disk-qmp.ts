/** QMP steps on a VM's upper disk (src/vm/devices/upper-disk/upper-disk.ts gives the commands). */
import { attachCommands, detachCommands, flattenCommand, UPPER_DISK_BASE_NODE, UPPER_DISK_NODE } from './upper-disk';
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
  await setDeviceThrottle(q, dev, t);
}

/** Set the I/O throttling of block device `dev` (its qdev id or path); every rate 0 lifts it. */
export async function setDeviceThrottle(q: QmpClient, dev: string, t: DiskThrottle): Promise<void> {
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

/** How often a flatten's job is asked how it stands. */
const FLATTEN_POLL_MS = 20;
/** How long a cancelled flatten's job is given to end before it is left to QEMU. */
const FLATTEN_CANCEL_MS = 5000;

/** A block job as QMP `query-jobs` answers it. */
interface QmpJob {
  id: string;
  status: string;
  error?: string;
}

/**
 * Merge into the upper disk's copy-on-write overlay what the qcow2 files under it hold, so
 * that it stands on the raw file at the bottom alone (flattenCommand: a `block-stream` job of
 * the VM's own QEMU, which holds those files open already, read-only, and writes only the
 * overlay; the guest runs on meanwhile). Resolves once QEMU's graph has the overlay on that
 * file; the host's links of the merged files are the caller's to drop, once QEMU wrote the
 * overlay's tables out (src/util/disk-chain.ts dropMergedFiles). Nothing to merge is a job that
 * ends at once. A failure, or no end within `timeoutMs`, cancels the job: the overlay then
 * holds some of the clusters over files that still hold them, which reads the same.
 */
export async function flattenUpperDisk(q: QmpClient, timeoutMs: number): Promise<void> {
  const id = `flatten-${process.hrtime.bigint()}`;
  const [command, args] = flattenCommand(id);
  try {
    await q.execute(command, args);
  } catch (err) {
    const msg = (err as Error).message;
    // A disk attached by an earlier daemon, whose bottom node has no name.
    if (msg.includes(UPPER_DISK_BASE_NODE))
      throw new UnavailableError(
        `its disk's files cannot be merged: its VM was started by an earlier podvisor (stop and start the container, then save it): ${msg}`,
      );
    throw new UnavailableError(`its disk's files cannot be merged: ${msg}`);
  }
  let concluded = false;
  try {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const job = ((await q.execute('query-jobs')) as QmpJob[]).find((j) => j.id === id);
      if (!job) throw new UnavailableError("its disk's files were not merged: QEMU's job is gone");
      if (job.status === 'concluded') {
        concluded = true;
        if (job.error) throw new UnavailableError(`its disk's files were not merged: ${job.error}`);
        return;
      }
      if (Date.now() > end)
        throw new UnavailableError(`its disk's files were not merged within ${Math.round(timeoutMs / 1000)} s`);
      await new Promise((r) => setTimeout(r, FLATTEN_POLL_MS));
    }
  } finally {
    if (!concluded) await cancelJob(q, id).catch(() => undefined);
    await q.execute('job-dismiss', { id }).catch(() => undefined);
  }
}

/** Cancel block job `id` and wait (a while) for it to conclude. */
async function cancelJob(q: QmpClient, id: string): Promise<void> {
  await q.execute('job-cancel', { id });
  const end = Date.now() + FLATTEN_CANCEL_MS;
  while (Date.now() < end) {
    const job = ((await q.execute('query-jobs')) as QmpJob[]).find((j) => j.id === id);
    if (!job || job.status === 'concluded') return;
    await new Promise((r) => setTimeout(r, FLATTEN_POLL_MS));
  }
}
