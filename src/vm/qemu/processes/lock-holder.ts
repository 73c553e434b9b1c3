/**
 * The lock holder of a cloned VM (host/lock-holder): the host's side of the 9p locks its guest
 * takes. QEMU's 9p server grants every lock without taking one, so our guest kernel sends a
 * POSIX lock on a 9p file through the agent's relay to the virtio-serial port
 * org.podvisor.locks (guest/kernel/patches/0005, guest/agent/locks.c); the holder, connected
 * to that port's socket, takes it on the host file as an OFD lock, so that it excludes the
 * locks of other VMs and of the host's own processes.
 *
 * One holder per clone (booted VMs share files over virtio-fs, not 9p), started once QEMU
 * listens and given the host directories of the VM's 9p shares by their tags, in a jail like
 * its QEMU's (../confinement/jail.ts: its VM's directory only, one capability, a PID namespace of its own
 * under a supervisor: ../confinement/jailed-process.ts). It is detached:
 * a daemon restart leaves it holding its locks; it ends when QEMU does (the socket closes), and
 * the VM's locks go with it.
 */
import * as path from 'node:path';
import { logger } from '../../../util/log';
import { VOLUME_TAG } from '../../devices/volume-share';
import { jailedDirs, type VmPaths } from '../runtime-dir';
import { SHARE_TAG } from '../cmdline';
import { lockHolderBinary } from '../binaries';
import { spawnDetached } from './processes';
import { activeJail, helperJailArgs, vmUid } from '../confinement/jail';
import { spawnInPidNamespace } from '../confinement/jailed-process';

/** What the lock holder keeps of root's capabilities in its jail: opening any file to lock it. */
export const LOCK_HOLDER_CAPABILITIES = ['dac_override'];

const log = logger('vm');

let warned = false;

/**
 * Start the holder of the VM at `paths`, whose QEMU already listens on `paths.locksSock`.
 * Without the binary (not built), the guest's locks stay its own, as the log says once.
 */
export async function startLockHolder(paths: VmPaths, bin: string | undefined = lockHolderBinary()): Promise<void> {
  if (!bin) {
    if (!warned)
      log.warn(
        'host/out/podvisor-lock-holder is missing (scripts/bootstrap.sh builds it): 9p locks are not shared with the host or other VMs',
      );
    warned = true;
    return;
  }
  const args = [paths.locksSock, `${SHARE_TAG}=${paths.shareDir}`, `${VOLUME_TAG}=${paths.volumesDir}`];
  const jail = activeJail();
  // Jailed as its QEMU is: its VM's run/ and shares only (the files it locks, and the
  // mounts made there later), as its VM's user, opening files of any owner (dac_override).
  // Not in the VM's cgroup: it outlives QEMU by a moment (until it sees the socket close),
  // which would keep the cgroup from going with the VM's directory.
  const child = jail
    ? await spawnInPidNamespace(
        jail,
        helperJailArgs(bin, jailedDirs(paths).rw, [], LOCK_HOLDER_CAPABILITIES, vmUid(paths.dir)),
        bin,
        args,
        paths.locksLog,
      )
    : await spawnDetached(bin, args, paths.locksLog);
  child.on('error', (err) => log.warn(`lock holder of ${path.basename(paths.dir)}: ${err.message}`));
}
