/**
 * How the host confines every VM's QEMU (docs/architecture.md, "QEMU confinement"). The VM is
 * the boundary and the guest is assumed to be root and hostile, so the QEMU serving it gets
 * only what its job needs:
 * - a jail of its own (./jail.ts, host/jail): its own mount, IPC and PID namespaces (it is pid 1
 *   of its namespace, under a supervisor: ./jailed-process.ts), a root that
 *   holds only this VM's files (its directory, kernel, initramfs, template RAM, the QEMU and its
 *   libraries), and a host cgroup of its own with memory and task limits (./vm-cgroup.ts);
 * - a seccomp sandbox (`-sandbox`, QEMU_SANDBOX_ARGS, in qemuArgs): no obsolete system calls, no
 *   setuid/setgid, no fork or exec (so a template is saved over a unix socket, not `exec:`),
 *   no scheduler or priority changes;
 * - a capability bounding set cut to QEMU_CAPABILITIES (by the jail, or by setpriv when the
 *   jail is off): QEMU still runs as root, because its 9p server (security_model=passthrough)
 *   acts for guest root on files of any owner (create with the guest's owner, chown, chmod);
 *   but without CAP_MKNOD a guest cannot make a device node on the host, without CAP_SETFCAP
 *   it cannot give a host file capabilities, without CAP_SYS_ADMIN it cannot set `trusted.*`
 *   attributes (overlayfs reads its own there), and without CAP_DAC_READ_SEARCH it cannot open
 *   a host file by handle (open_by_handle_at), which would reach past any root.
 */
import type { ChildProcess } from 'node:child_process';
import { UnavailableError } from '../../../errors';
import { findOnPath, type QemuProgram } from '../binaries';
import { spawnDetached } from '../processes/processes';
import { spawnInPidNamespace } from './jailed-process';
import { activeJail, jailArgs, type JailSpec } from './jail';
import { makeVmCgroup } from './vm-cgroup';

/** QEMU's seccomp sandbox, with every optional deny-set that QEMU's work allows. */
export const QEMU_SANDBOX_ARGS = [
  '-sandbox',
  'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
];

/**
 * The capabilities a VM's QEMU keeps (bounding set; everything else is dropped before it
 * starts): chown, dac_override, fowner and fsetid for the 9p server acting for guest root on
 * files of any owner and mode (dac_override covers reading and searching them), net_admin to
 * create its taps (`-netdev tap,ifname=`) when it is not jailed.
 */
export const QEMU_CAPABILITIES = ['chown', 'dac_override', 'fowner', 'fsetid', 'net_admin'];

/** What a jailed QEMU that serves 9p keeps: the same less net_admin, its jail having made its taps. */
export const QEMU_JAILED_CAPABILITIES = QEMU_CAPABILITIES.filter((c) => c !== 'net_admin');

/**
 * What a jailed QEMU that serves no 9p share keeps (a booted VM's: its shares are virtiofsd's):
 * dac_override alone, for its VM directory and the files bound there (disks), which are
 * root's while it runs as its VM's user (jail.ts vmUid).
 */
export const QEMU_UNSHARING_CAPABILITIES = ['dac_override'];

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
 * Start `program` with `args` (qemuArgs, which bring the seccomp sandbox) confined, detached as
 * spawnDetached starts it (same log and extra fds): in the jail of `jail` (its paths, its
 * cgroup, a PID namespace of its own) when VMs are jailed (activeJail), else under setpriv's
 * bounding set alone. The child is then the jail's supervisor, whose exit mirrors QEMU's, and
 * programPid gives QEMU's own host pid; without the jail the child is QEMU itself once setpriv
 * has exec'd it (same pid).
 */
export function spawnConfinedQemu(
  program: QemuProgram,
  args: string[],
  logFile: string,
  extraFds: number[],
  jail: JailSpec,
): Promise<ChildProcess> {
  const jailBin = activeJail();
  if (!jailBin)
    return spawnDetached(
      setprivBinary(),
      [...capabilityArgs(), program.bin, ...program.args, ...args],
      logFile,
      extraFds,
      program.env,
    );
  const cgroup = makeVmCgroup(jail.paths.dir, jail.size) ?? [];
  return spawnInPidNamespace(
    jailBin,
    jailArgs(program, jail, cgroup, jail.ninep ? QEMU_JAILED_CAPABILITIES : QEMU_UNSHARING_CAPABILITIES),
    program.bin,
    [...program.args, ...args],
    logFile,
    extraFds,
    program.env,
  );
}
