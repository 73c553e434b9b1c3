/**
 * How a booted VM's virtiofsd (its rootfs share's, its volume share's) is started: in a jail
 * like its QEMU's (../confinement/jail.ts, host/jail) when VMs are jailed, else as it is.
 *
 * Its jail: its own mount, IPC and PID namespaces, and a root that holds only its VM's
 * directory read-write (the directory it serves, its socket, with the mounts the host makes
 * there later: the VM directory is a shared mount, ../confinement/jail-mounts.ts), its binary and
 * libraries, /dev/null, its own /proc/self (it reaches its files through /proc/self/fd),
 * /proc/sys/fs/file-max read-only (it sizes its fd limit from it, and will not start without
 * it), and a small tmpfs of its own at /var/run/virtiofsd (the lock file of its socket goes
 * there; on the host it stays behind in /run/virtiofsd for every VM). It joins its VM's
 * cgroup, so its memory counts against the VM's limit. Its bounding set is cut to
 * VIRTIOFSD_CAPABILITIES; virtiofsd then narrows it itself, to what serving a guest needs
 * (modcaps in ../../devices/share-args.ts), and chroots into the directory it serves
 * (sandbox=chroot).
 */
import type { ChildProcess } from 'node:child_process';
import { spawnDetached } from './processes';
import { activeJail, helperJailArgs } from '../confinement/jail';
import { spawnInPidNamespace } from '../confinement/jailed-process';
import { makeVmCgroup } from '../confinement/vm-cgroup';
import type { VmSize } from '../../types';
import type { VmPaths } from '../runtime-dir';

/**
 * What virtiofsd keeps of root's capabilities: what it serves a guest with (chown,
 * dac_override, fowner, fsetid, setgid, setuid), what it sets itself up with (sys_chroot for
 * its chroot, setpcap to narrow its own bounding set, sys_resource to raise its fd limit).
 * Not mknod or setfcap (modcaps drops them), nor dac_read_search, net_admin or sys_admin.
 */
export const VIRTIOFSD_CAPABILITIES = [
  'chown',
  'dac_override',
  'fowner',
  'fsetid',
  'setgid',
  'setuid',
  'sys_chroot',
  'setpcap',
  'sys_resource',
];

/**
 * Where virtiofsd writes the lock file of its socket: QEMU's local state directory (/var, not
 * relocated) + run/virtiofsd. Its jail has no /var/run link to /run, so the path is spelled out.
 */
const VIRTIOFSD_LOCK_DIR = '/var/run/virtiofsd';

/** The host file virtiofsd reads its default fd limit from. */
const FILE_MAX = '/proc/sys/fs/file-max';

/**
 * Start virtiofsd `bin` with `args` serving `share` for the VM of `paths` and size `size` (its
 * cgroup's limits), detached (its log `logFile`): jailed when VMs are, with its VM's `run/`
 * and `share` (the child is then its jail's supervisor; programPid gives virtiofsd's own pid).
 */
export async function spawnVirtiofsd(
  bin: string,
  args: string[],
  logFile: string,
  paths: VmPaths,
  share: string,
  size: VmSize,
): Promise<ChildProcess> {
  const jail = activeJail();
  if (!jail) return spawnDetached(bin, args, logFile);
  const cgroup = makeVmCgroup(paths.dir, size) ?? [];
  const dirs = [paths.runDir, share];
  return spawnInPidNamespace(
    jail,
    [
      // As root (../confinement/jail.ts says why).
      ...helperJailArgs(bin, dirs, cgroup, VIRTIOFSD_CAPABILITIES),
      '--ro',
      FILE_MAX,
      '--tmpfs',
      VIRTIOFSD_LOCK_DIR,
    ],
    bin,
    args,
    logFile,
  );
}
