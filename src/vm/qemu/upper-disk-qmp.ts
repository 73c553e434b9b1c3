/** QMP steps on a VM's upper disk (src/vm/devices/upper-disk.ts gives the commands). */
import { detachCommands } from '../devices/upper-disk';
import type { QmpClient } from './qmp';

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
