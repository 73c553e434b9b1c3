/**
 * The host half of sharing a source: a bind source or volume's data directory, held open, is
 * bind-mounted (src/util/mounter.ts) at its keyed place in the VM's volume share
 * (./share-names.ts). These mounts live under the VM's runtime directory, so destroying the VM
 * (which unmounts everything below its directory before removing it) takes them away too,
 * after a daemon restart as well (orphan VMs are reclaimed the same way). Each is made an
 * rslave: a mount made on the host under the source later shows in the container (through
 * the share), and unmounting the VM's copies unmounts nothing of the host's.
 *
 * The share is the guest's to write (a root in any container may rename or replace anything
 * in it, with symlinks too), so the host never follows a path in it: every entry is reached
 * from the share directory it holds open, one component at a time, none a symlink
 * (src/util/beneath.ts), and each copy is attached onto the directory or file so reached. The
 * copy of a read-only mount is made read-only on the host, before it is attached: a
 * `--privileged` container that remounts its view read-write still cannot write the source.
 * A source used read-only and read-write gets two copies.
 */
import type * as fs from 'node:fs';
import { UnavailableError } from '../../errors';
import { sharedMounter } from '../../util/mounter';
import {
  fdPath,
  mountOptionsOf,
  openBeneath,
  openMountBeneath,
  unmountBeneath,
  type BeneathPath,
} from '../../util/beneath';
import type { OpenHostPath } from '../../util/host-path';

/**
 * Whether `target` already holds this VM's copy of `source` in that mode, mounted by an
 * earlier container: a mount root whose root is the source and whose read-only flag is the
 * one asked. Anything else that is a mount there is refused (the host mounts nothing else).
 */
async function hasCopy(target: BeneathPath, source: fs.Stats, readOnly: boolean): Promise<boolean> {
  const found = await openMountBeneath(target);
  if (!found) return false;
  try {
    if (!found.mountRoot) return false;
    const st = await found.fh.stat();
    const opts = await mountOptionsOf(found.mountId);
    if (st.dev === source.dev && st.ino === source.ino && opts?.includes(readOnly ? 'ro' : 'rw')) return true;
    throw new UnavailableError(`${target.rel} in the volume share is not the copy of the source it should be`);
  } finally {
    await found.fh.close();
  }
}

/**
 * The copy of an open source (a directory, or a regular file) at `target` in the share, unless
 * another container of the VM has it there already (then false). The copy is made from the
 * held handle, so what is bound is what was opened, wherever a container moves names
 * meanwhile. A single file is bound onto an empty file of the share (the guest then mounts it
 * on a file).
 */
export async function bindCopy(target: BeneathPath, source: OpenHostPath, readOnly: boolean): Promise<boolean> {
  // Already there for another container of this VM: shared as it is.
  if (await hasCopy(target, source.stat, readOnly)) return false;
  const fh = await openBeneath(target, { kind: source.kind === 'directory' ? 'dir' : 'file', create: true });
  try {
    // The copy of a shared source would be its peer: the VM's teardown, which unmounts it,
    // would then unmount the host's own mounts under the source too. As a slave it still gets
    // the mounts made on the host under the source later (rslave).
    await sharedMounter().bindTree({ source: fdPath(source.fh), target: fdPath(fh), readOnly, slave: true });
  } finally {
    await fh.close();
  }
  return true;
}

/** Unmount a copy bindCopy made (detached: a guest still using it keeps its view until it lets go). */
export async function unbindCopy(target: BeneathPath): Promise<void> {
  await unmountBeneath(sharedMounter(), target, { detach: true });
}
