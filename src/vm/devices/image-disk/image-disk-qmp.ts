/** QMP steps on a VM's image disk (./image-disk.ts gives the commands). */
import { attachImageCommands, detachImageCommands } from './image-disk';
import type { QmpClient } from '../../qemu/qmp';
import { withFileInVmDir } from '../../qemu/confinement/jail-mounts';

/** Host file `file` put behind the image disk (read-only) of the VM whose directory is `dir` (reached from its jail). */
export async function attachImageFile(q: QmpClient, dir: string, file: string): Promise<void> {
  await withFileInVmDir(dir, file, async (reached) => {
    for (const [command, args] of attachImageCommands(reached)) await q.execute(command, args);
  });
}

/** The placeholder put back behind the image disk and the file's node removed (none there is fine). */
export async function detachImageFile(q: QmpClient): Promise<void> {
  const [reopen, del] = detachImageCommands();
  await q.execute(reopen[0], reopen[1]);
  try {
    await q.execute(del[0], del[1]);
  } catch (err) {
    if (!/Failed to find node|Cannot find/i.test((err as Error).message)) throw err;
  }
}
