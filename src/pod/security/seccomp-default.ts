/**
 * podvisor's default seccomp profile: what every Docker container gets unless it is
 * `--privileged` or runs with `--security-opt seccomp=unconfined` (and a CRI container whose
 * profile is RuntimeDefault, runtime/default or docker/default).
 *
 * It is podvisor's own, not a copy of Docker's or containerd's allowlist: every system call is
 * allowed, and the rules below refuse (EPERM) the calls that reach past the container. Each
 * group is lifted by the capability the kernel itself asks for that call (`excludes.caps`), so
 * a container given that capability (`--cap-add SYS_ADMIN`) may make those calls, as with
 * Docker's default profile; and a container without it is refused even while the guest still
 * gives its processes every capability. The VM is the isolation boundary; this profile keeps
 * a container from doing what Docker's default keeps it from, so the same programs fail (and
 * work) in the same places:
 *
 *   CAP_SYS_ADMIN   mount, umount, umount2, pivot_root, the new mount API (fsopen, fsconfig,
 *                   fsmount, fspick, move_mount, open_tree, mount_setattr), sethostname,
 *                   setdomainname, setns, swapon, swapoff, quotactl, quotactl_fd,
 *                   lookup_dcookie, fanotify_init; unshare and clone with any CLONE_NEW* flag
 *                   (one rule per flag bit: seccomp can test bits, not "any of"), clone3 with
 *                   ENOSYS (its flags are in memory seccomp cannot read; C libraries then fall
 *                   back to clone, whose flags it can)
 *   CAP_SYS_ADMIN or CAP_BPF       bpf
 *   CAP_SYS_ADMIN or CAP_PERFMON   perf_event_open
 *   CAP_SYS_BOOT    reboot, kexec_load, kexec_file_load
 *   CAP_SYS_MODULE  init_module, finit_module, delete_module, create_module, query_module,
 *                   get_kernel_syms
 *   CAP_SYS_PACCT   acct
 *   CAP_SYS_TIME    settimeofday, stime, clock_settime(64), clock_adjtime(64) (adjtimex stays:
 *                   read-only use is common, and setting the time needs the capability anyway)
 *   CAP_SYS_RAWIO   iopl, ioperm
 *   CAP_SYSLOG      syslog (the kernel log)
 *   CAP_DAC_READ_SEARCH  open_by_handle_at (opens any inode of a file system by its handle)
 *   CAP_SYS_NICE    mbind, set_mempolicy, migrate_pages, move_pages
 *   CAP_SYS_TTY_CONFIG   vhangup
 *   CAP_SYS_PTRACE  kcmp, userfaultfd; ptrace, process_vm_readv, process_vm_writev only on a
 *                   kernel before 4.8, where a tracer could rewrite a call after seccomp had
 *                   checked it
 *   never           keyctl, add_key, request_key (the kernel keyring is not namespaced), vm86,
 *                   vm86old, uselib, ustat, sysfs, _sysctl, nfsservctl (obsolete interfaces)
 *
 * The filter covers x86-64 and the x86 and x32 ABIs, so a 32-bit program is held to the same
 * rules. Names a kernel does not have on an ABI are skipped by the agent.
 */
import type { SeccompArgTest } from '../../vm/types';
import type { SeccompProfile, SeccompProfileRule } from './seccomp-types';

const EPERM = 1;
const ENOSYS = 38;

/** The CLONE_NEW* flags clone takes: NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET. */
const CLONE_NEW_FLAGS = [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000];
/** unshare also takes CLONE_NEWTIME (clone's low byte is the exit signal instead). */
const UNSHARE_NEW_FLAGS = [...CLONE_NEW_FLAGS, 0x80];

/** A refusal (EPERM) of `names`, lifted by any of `caps`. */
function deny(names: string[], caps: string[], more: Partial<SeccompProfileRule> = {}): SeccompProfileRule {
  return {
    names,
    action: 'errno',
    errno: EPERM,
    args: [],
    ...(caps.length ? { excludes: { caps } } : {}),
    ...more,
  };
}

/** One rule per bit of `flags` in argument `index` of `call`: refused when that bit is set. */
function denyNamespaceFlags(call: string, index: number, flags: number[]): SeccompProfileRule[] {
  return flags.map((bit) => {
    const test: SeccompArgTest = { index, op: 'MASKED_EQ', value: bit, value2: bit };
    return deny([call], ['CAP_SYS_ADMIN'], { args: [test] });
  });
}

/** The default profile (see the module comment). */
export const DEFAULT_SECCOMP_PROFILE: SeccompProfile = {
  defaultAction: 'allow',
  architectures: ['x86_64', 'x86', 'x32'],
  rules: [
    deny(
      [
        'mount',
        'umount',
        'umount2',
        'pivot_root',
        'fsopen',
        'fsconfig',
        'fsmount',
        'fspick',
        'move_mount',
        'open_tree',
        'mount_setattr',
        'sethostname',
        'setdomainname',
        'setns',
        'swapon',
        'swapoff',
        'quotactl',
        'quotactl_fd',
        'lookup_dcookie',
        'fanotify_init',
      ],
      ['CAP_SYS_ADMIN'],
    ),
    ...denyNamespaceFlags('unshare', 0, UNSHARE_NEW_FLAGS),
    // clone's flags are its first argument on x86-64 and x86 (the order differs on s390).
    ...denyNamespaceFlags('clone', 0, CLONE_NEW_FLAGS),
    deny(['clone3'], ['CAP_SYS_ADMIN'], { errno: ENOSYS }),
    deny(['bpf'], ['CAP_SYS_ADMIN', 'CAP_BPF']),
    deny(['perf_event_open'], ['CAP_SYS_ADMIN', 'CAP_PERFMON']),
    deny(['reboot', 'kexec_load', 'kexec_file_load'], ['CAP_SYS_BOOT']),
    deny(
      ['init_module', 'finit_module', 'delete_module', 'create_module', 'query_module', 'get_kernel_syms'],
      ['CAP_SYS_MODULE'],
    ),
    deny(['acct'], ['CAP_SYS_PACCT']),
    deny(
      ['settimeofday', 'stime', 'clock_settime', 'clock_settime64', 'clock_adjtime', 'clock_adjtime64'],
      ['CAP_SYS_TIME'],
    ),
    deny(['iopl', 'ioperm'], ['CAP_SYS_RAWIO']),
    deny(['syslog'], ['CAP_SYSLOG']),
    deny(['open_by_handle_at'], ['CAP_DAC_READ_SEARCH']),
    deny(['mbind', 'set_mempolicy', 'migrate_pages', 'move_pages'], ['CAP_SYS_NICE']),
    deny(['vhangup'], ['CAP_SYS_TTY_CONFIG']),
    deny(['kcmp', 'userfaultfd'], ['CAP_SYS_PTRACE']),
    deny(['ptrace', 'process_vm_readv', 'process_vm_writev'], [], {
      excludes: { caps: ['CAP_SYS_PTRACE'], minKernel: '4.8' },
    }),
    deny(
      ['keyctl', 'add_key', 'request_key', 'vm86', 'vm86old', 'uselib', 'ustat', 'sysfs', '_sysctl', 'nfsservctl'],
      [],
    ),
  ],
};
