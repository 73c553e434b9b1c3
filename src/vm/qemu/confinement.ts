/**
 * How the host confines every VM's QEMU (docs/architecture.md, "QEMU confinement"). The VM is
 * the boundary and the guest is assumed to be root and hostile, so the QEMU serving it gets
 * only what its job needs:
 * - a seccomp sandbox (`-sandbox`, QEMU_SANDBOX_ARGS, in qemuArgs): no obsolete system calls, no
 *   setuid/setgid, no fork or exec (so a template is saved over a unix socket, not `exec:`),
 *   no scheduler or priority changes;
 * - a capability bounding set cut to QEMU_CAPABILITIES (setpriv, from util-linux, before the
 *   exec): QEMU still runs as root, because its 9p server (security_model=passthrough) acts for
 *   guest root on files of any owner (create with the guest's owner, chown, chmod); but without
 *   CAP_MKNOD a guest cannot make a device node on the host, without CAP_SETFCAP it cannot give
 *   a host file capabilities, and without CAP_SYS_ADMIN it cannot set `trusted.*` attributes
 *   (overlayfs reads its own there).
 */
import type { ChildProcess } from 'node:child_process';
import { UnavailableError } from '../../errors';
import { findOnPath, type QemuProgram } from './binaries';
import { spawnDetached } from './processes';

/** QEMU's seccomp sandbox, with every optional deny-set that QEMU's work allows. */
export const QEMU_SANDBOX_ARGS = [
  '-sandbox',
  'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
];

/**
 * The capabilities a VM's QEMU keeps (bounding set; everything else is dropped before it
 * starts): chown, dac_override, dac_read_search, fowner and fsetid for the 9p server acting
 * for guest root on files of any owner and mode, net_admin to create its taps
 * (`-netdev tap,ifname=`).
 */
export const QEMU_CAPABILITIES = ['chown', 'dac_override', 'dac_read_search', 'fowner', 'fsetid', 'net_admin'];

/** The setpriv arguments that run the rest of the command line with QEMU_CAPABILITIES only. */
export function capabilityArgs(): string[] {
  const keep = QEMU_CAPABILITIES.map((c) => `+${c}`).join(',');
  // The inheritable set is emptied too: for root, inheritable capabilities survive an exec
  // whatever the bounding set says (and the ambient set is a subset of it).
  return ['--inh-caps=-all', `--bounding-set=-all,${keep}`, '--'];
}

/** setpriv, or an UnavailableError naming its package: QEMU never runs without its bounding set. */
export function setprivBinary(): string {
  const bin = findOnPath('setpriv', `/usr/bin:/bin:${process.env.PATH ?? ''}`);
  if (!bin) throw new UnavailableError('setpriv not found: install it with "apt-get install util-linux"');
  return bin;
}

/**
 * Start `program` with `args` (qemuArgs, which bring the seccomp sandbox) under the
 * capability bounding set, detached as spawnDetached starts it (same log and extra fds). The
 * process is QEMU itself once setpriv has exec'd it: same pid, QEMU's argv.
 */
export function spawnConfinedQemu(
  program: QemuProgram,
  args: string[],
  logFile: string,
  extraFds: number[] = [],
): Promise<ChildProcess> {
  return spawnDetached(
    setprivBinary(),
    [...capabilityArgs(), program.bin, ...program.args, ...args],
    logFile,
    extraFds,
    program.env,
  );
}
