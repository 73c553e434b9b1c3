/**
 * A seccomp filter as the host hands it to the guest agent (Agent.setSeccomp, op 46): a
 * profile already resolved for one container (src/pod/security/seccomp.ts). Part of the agent contract
 * (./agent-types.ts re-exports it).
 */
/**
 * What a seccomp filter does with a system call (Docker's and the OCI spec's SCMP_ACT_*):
 * `errno` fails it with an errno, `trace` hands it to a ptrace tracer (ENOSYS without one).
 */
export type SeccompAction = 'allow' | 'errno' | 'kill-thread' | 'kill-process' | 'trap' | 'trace' | 'log';

/** An argument test of a seccomp rule (the OCI spec's LinuxSeccompArg, SCMP_CMP_* without the prefix). */
export interface SeccompArgTest {
  /** The system call's argument, 0..5. */
  index: number;
  op: 'NE' | 'LT' | 'LE' | 'EQ' | 'GE' | 'GT' | 'MASKED_EQ';
  /** Unsigned 64-bit values as numbers (at most Number.MAX_SAFE_INTEGER); MASKED_EQ: mask, then value2. */
  value: number;
  value2: number;
}

/** One rule of a resolved seccomp filter. */
export interface SeccompFilterRule {
  /** System call names; the agent skips one its kernel tables do not know (as runc). */
  names: string[];
  action: SeccompAction;
  /** The errno of an `errno` action (default EPERM), the value of a `trace` one. */
  errno?: number;
  /** Tests that must all hold (several on one argument: each alone, as runc reads them). */
  args: SeccompArgTest[];
  /** Only on a guest kernel at least this version ("4.8"): the agent decides, knowing its kernel. */
  minKernel?: string;
  /** Only on a guest kernel older than this version. */
  belowKernel?: string;
}

/**
 * A seccomp filter as the agent loads it into a container's processes (Agent.setSeccomp): one
 * profile already resolved for that container (its capabilities and the architecture applied).
 */
export interface SeccompFilter {
  /** What a call that no rule names gets. */
  defaultAction: SeccompAction;
  /** Its errno (or trace value). */
  defaultErrno?: number;
  /** libseccomp architecture names the filter covers beside the guest's own (`x86`, `x32`). */
  architectures: string[];
  rules: SeccompFilterRule[];
}
