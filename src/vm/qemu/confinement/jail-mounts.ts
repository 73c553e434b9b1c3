/**
 * The host's mounts that a jailed QEMU (./jail.ts) depends on:
 * - a VM's runtime directory is made a shared mount of itself before anything is mounted in it
 *   (shareVmDir), so that the jail's copy of it, a slave, gets the mounts the host makes there
 *   later: container rootfs overlays and volumes' bind copies in a clone's 9p shares. (A host
 *   whose / is a shared mount, as systemd leaves it, would propagate them anyway; one whose /
 *   is private would not.) The mount goes with the directory: cleanupDir and QemuVm's destroy
 *   unmount everything at or below it;
 * - a file QEMU opens after it started, by QMP (the host file behind a VM's upper disk), is
 *   bound into the VM's `disks/` for the moment of the open (withFileInVmDir): QEMU keeps its
 *   open file, and the jail never holds the host's other containers' disks. The read-only
 *   files under a copy-on-write disk are bound read-only (withFilesInVmDir): QEMU cannot
 *   open them for writing. `disks/` is read-only in the jail (../runtime-dir.ts); in the
 *   directory of a VM an earlier build started, which its QEMU writes, each mount point is
 *   made new (O_EXCL, O_NOFOLLOW: never a file a name there led to) and the bind goes onto
 *   the descriptor made, so whatever the name is swapped for, no host file is emptied or
 *   mounted over; it is unmounted by name with UMOUNT_NOFOLLOW (a mount point cannot be
 *   renamed while mounted) and its name unlinked (unlink never follows).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MS_BIND, sharedMounter } from '../../../util/mounter';
import { activeJail } from './jail';

/** mount(2)'s MS_SHARED. */
const MS_SHARED = 0x100000;

/** Where a file opened by QMP is bound in the VM's directory while QEMU opens it. */
export const QMP_FILE_NAME = 'qmp-file';

/** Make VM directory `dir` a shared mount of itself (when VMs are jailed): nothing is mounted in it yet. */
export async function shareVmDir(dir: string): Promise<void> {
  if (!activeJail()) return;
  const m = sharedMounter();
  await m.mount({ source: dir, target: dir, flags: MS_BIND });
  await m.mount({ source: '', target: dir, flags: MS_SHARED });
}

/**
 * Run `open` with the path at which the QEMU of a VM reaches host file `file`: the file itself
 * when VMs are not jailed, else a bind of it in `dir`, the VM's `disks/` (VmPaths.disksDir;
 * the bind propagates into the jail), removed once `open` is done whatever it did.
 */
export async function withFileInVmDir<T>(dir: string, file: string, open: (p: string) => Promise<T>): Promise<T> {
  return withFilesInVmDir(dir, [{ file }], ([p]) => open(p));
}

/** A host file QEMU is to open, and whether its jail may reach it only read-only. */
export interface FileForVm {
  file: string;
  readOnly?: boolean;
}

/**
 * Run `open` with the paths at which the QEMU of a VM reaches host `files`, in order: the
 * files themselves when VMs are not jailed, else binds of them in `dir`, the VM's `disks/`
 * (`qmp-file`, `qmp-file-1`, ...; a `readOnly` one bound read-only), removed once `open` is
 * done whatever it did.
 */
export async function withFilesInVmDir<T>(
  dir: string,
  files: FileForVm[],
  open: (paths: string[]) => Promise<T>,
): Promise<T> {
  if (!activeJail()) return open(files.map((f) => f.file));
  const m = sharedMounter();
  const bound: string[] = [];
  try {
    for (const [i, f] of files.entries()) {
      const target = path.join(dir, i === 0 ? QMP_FILE_NAME : `${QMP_FILE_NAME}-${i}`);
      const fd = newMountPoint(target);
      bound.push(target);
      try {
        // Onto the file just made, whatever its name now leads to. Read-only before it is
        // attached: the jail's copy of the bind is made as it is then.
        const onto = `/proc/${process.pid}/fd/${fd}`;
        if (f.readOnly) await m.bindTree({ source: f.file, target: onto, readOnly: true });
        else await m.mount({ source: f.file, target: onto, flags: MS_BIND });
      } finally {
        fs.closeSync(fd);
      }
    }
    return await open(bound);
  } finally {
    for (const target of bound.reverse()) {
      await m.unmount(target, { detach: true, noFollow: true }).catch(() => undefined);
      fs.rmSync(target, { force: true });
    }
  }
}

/**
 * A new empty file at `target` to mount onto, open: a name left there (by an open that died,
 * or by a jailed QEMU) is unlinked first, never followed.
 */
function newMountPoint(target: string): number {
  const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
  try {
    return fs.openSync(target, flags, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  fs.unlinkSync(target);
  return fs.openSync(target, flags, 0o600);
}
