/**
 * Saves an earlier daemon did not finish: a checkpoint is written under `.new-<name>` and
 * renamed once whole (./checkpoints.ts), so a daemon that died in the middle of one left that
 * directory, and a VM that may still be stopped for the save, its rootfs share let go.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removeTree } from '../../util/remove-tree';
import type { PodContext } from '../context';
import type { Entry } from '../records/registry';
import { checkpointsDir } from './checkpoints';

/**
 * Remove what pod `e`'s unfinished saves left in its checkpoints directory; resolves with how
 * many there were (the caller runs a VM it re-adopted on, as a failed save does).
 */
export async function removeUnfinishedSaves(ctx: PodContext, e: Entry): Promise<number> {
  const dir = checkpointsDir(ctx, e);
  let names: string[];
  try {
    names = (await fs.promises.readdir(dir)).filter((n) => n.startsWith('.new-'));
  } catch {
    return 0;
  }
  for (const n of names) await removeTree(path.join(dir, n));
  return names.length;
}
