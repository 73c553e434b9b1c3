/**
 * The host's mounts that a jailed QEMU (./jail.ts) depends on:
 * - a VM's runtime directory is made a shared mount of itself before anything is mounted in it
 *   (shareVmDir), so that the jail's copy of it, a slave, gets the mounts the host makes there
 *   later: container rootfs overlays and volumes' bind copies in a clone's 9p shares. (A host
 *   whose / is a shared mount, as systemd leaves it, would propagate them anyway; one whose /
 *   is private would not.) The mount goes with the directory: cleanupDir and QemuVm's destroy
 *   unmount everything at or below it;
 * - a file QEMU opens after it started, by QMP (the host file behind a VM's upper disk), is
 *   bound into the VM's directory for the moment of the open (withFileInVmDir): QEMU keeps its
 *   open file, and the jail never holds the host's other containers' disks. The read-only
 *   files under a copy-on-write disk are bound read-only (withFilesInVmDir): QEMU cannot
 *   open them for writing.
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
 * Run `open` with the path at which the QEMU of VM directory `dir` reaches host file `file`:
 * the file itself when VMs are not jailed, else a bind of it in `dir` (which propagates into
 * the jail), removed once `open` is done whatever it did.
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
 * Run `open` with the paths at which the QEMU of VM directory `dir` reaches host `files`, in
 * order: the files themselves when VMs are not jailed, else binds of them in `dir`
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
      fs.writeFileSync(target, '', { mode: 0o600 });
      bound.push(target);
      // Read-only before it is attached: the jail's copy of the bind is made as it is then.
      if (f.readOnly) await m.bindTree({ source: f.file, target, readOnly: true });
      else await m.mount({ source: f.file, target, flags: MS_BIND });
    }
    return await open(bound);
  } finally {
    for (const target of bound.reverse()) {
      await m.unmount(target, { detach: true }).catch(() => undefined);
      fs.rmSync(target, { force: true });
    }
  }
}
