/**
 * What an image disk make left when its daemon was killed in the middle of it (SIGKILL, a
 * crash: a pull's make, the start's background one, a container start's), removed when the next
 * daemon starts, before its first make (./layers.ts): nothing then waits for that image's next
 * make, which may never come (the image removed, a daemon run with `--storage-opt
 * image=layers`). A clean shutdown leaves none (ImageDisks.close cuts each make short and it
 * takes its own paths away). Beside each disk file the make used (makeScratch,
 * src/storage/image-disks/image-disks.ts), in this order:
 * - its mkfs.ext4, which outlived the daemon (a child, not killed with it), found in /proc by
 *   its program's name and its last argument, exactly the make's temporary file: killed;
 * - the temporary file: unlinked;
 * - the image's read-only tree on the mount directory (an overlay, or a bind of its only
 *   layer: src/storage/layer-mounts.ts), unmounted detached and without following a symlink
 *   (unmountBeneath: the disks' directory held, the name unmounted in it with
 *   UMOUNT_NOFOLLOW), as many times as it was mounted over itself; then the directory
 *   removed (rmdir: never through a mount);
 * - the short layer links of a long layer list: the directory of links removed (its links,
 *   not what they lead to).
 * Only these names are touched: every other file and mount in the directory, or anywhere else,
 * is left as it is. A step that fails is logged and fails nothing: the daemon starts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeScratch, type ImageDisks } from '../storage/image-disks/image-disks';
import { removeLayerLinks } from '../storage/layer-mounts';
import { unmountBeneath } from '../util/beneath';
import { logger } from '../util/log';
import type { Mounter } from '../util/mounter';
import { killAndWait } from '../vm/qemu/processes/processes';
import { liveProcesses } from '../vm/qemu/processes/vm-processes';

const log = logger('rootfs');

/** The program a make runs (src/storage/image-disks/image-disks.ts makeImageFilesystem). */
const MKFS = 'mkfs.ext4';

/** Bound on the unmounts of one mount directory (a tree mounted over itself that many times). */
const MAX_UNMOUNTS = 8;

/** What the removal acts with: the host's by default; a test's stand-ins. */
export interface LeftoverTools {
  mounter: Mounter;
  /** The host's processes with their argv (default: /proc). */
  processes?: () => Array<{ pid: number; argv: string[] }>;
  /** SIGKILL `pid` and wait until it is gone (default: killAndWait). */
  kill?: (pid: number) => Promise<boolean>;
}

/**
 * Remove what the interrupted makes of an earlier daemon left in `disks`' directory (see the
 * module comment); resolves how many makes had left something. Never rejects.
 */
export async function removeInterruptedMakes(disks: ImageDisks, tools: LeftoverTools): Promise<number> {
  const files = disks.interrupted();
  if (!files.length) return 0;
  const processes = (tools.processes ?? liveProcesses)();
  for (const file of files) await removeMakeLeftovers(disks.dir, file, processes, tools);
  log.info(
    `image disks: removed what ${files.length} make(s) cut off by an earlier daemon left (temporary file, mount): ${files.map((f) => path.basename(f)).join(', ')}`,
  );
  return files.length;
}

/** The leftovers of the make of disk `file` in `dir`, in the module comment's order. */
async function removeMakeLeftovers(
  dir: string,
  file: string,
  processes: Array<{ pid: number; argv: string[] }>,
  tools: LeftoverTools,
): Promise<void> {
  const { tmp, tree, links } = makeScratch(file);
  const step = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (e) {
      log.warn(`image disk ${path.basename(file)}: ${what} an interrupted make left stays: ${(e as Error).message}`);
    }
  };
  for (const { pid, argv } of processes)
    if (path.basename(argv[0] ?? '') === MKFS && argv[argv.length - 1] === tmp)
      await step(`its mkfs.ext4 (pid ${pid})`, async () => {
        log.info(`image disk ${path.basename(file)}: killing mkfs.ext4 ${pid} left by an earlier daemon`);
        if (!(await (tools.kill ?? killAndWait)(pid))) throw new Error('still running after SIGKILL');
      });
  await step('the temporary file', () => fs.promises.rm(tmp, { force: true }));
  await step("the image's tree mount", () => removeTreeMount(dir, tree, tools.mounter));
  await step('the layer links', () => removeLayerLinks(links));
}

/**
 * Unmount whatever is mounted on the make's mount directory `tree` (in `dir`), then remove the
 * directory; a symlink or file of that name is only unlinked.
 */
async function removeTreeMount(dir: string, tree: string, mounter: Mounter): Promise<void> {
  let st: fs.Stats;
  try {
    st = await fs.promises.lstat(tree);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!st.isDirectory()) return fs.promises.rm(tree, { force: true });
  const beneath = { root: dir, rel: path.basename(tree) };
  for (let i = 0; i < MAX_UNMOUNTS; i++) if (!(await unmountBeneath(mounter, beneath, { detach: true }))) break;
  // A directory still mounted on (or not empty) is refused: nothing is removed through a mount.
  await fs.promises.rmdir(tree);
}
