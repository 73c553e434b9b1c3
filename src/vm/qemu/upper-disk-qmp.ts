/** QMP steps on a VM's upper disk (src/vm/devices/upper-disk.ts gives the commands). */
import { attachCommands, detachCommands } from '../devices/upper-disk';
import type { QmpClient } from './qmp';
import { withFileInVmDir } from './jail-mounts';

/** Host file `file` put behind the upper disk of the VM whose directory is `dir` (reached from its jail). */
export async function attachFile(q: QmpClient, dir: string, file: string): Promise<void> {
  await withFileInVmDir(dir, file, async (reached) => {
    for (const [command, args] of attachCommands(reached)) await q.execute(command, args);
  });
}

/** The placeholder put back behind the upper disk and the file's node removed (none there is fine). */
export async function detachFile(q: QmpClient): Promise<void> {
  const [reopen, del] = detachCommands();
  await q.execute(reopen[0], reopen[1]);
  try {
    await q.execute(del[0], del[1]);
  } catch (err) {
    // No file was attached: the placeholder was there already.
    if (!/Failed to find node|Cannot find/i.test((err as Error).message)) throw err;
  }
}
