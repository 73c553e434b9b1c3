/**
 * A container's seccomp profile in its spec, as plain types (a leaf: no code): either
 * podvisor's default profile or one the user gave (Docker's profile JSON, read by
 * src/translate/seccomp-json.ts). Rules may depend on the container's capabilities, the
 * architecture and the kernel, as in Docker's profiles; ./seccomp.ts resolves them into the
 * filter the agent loads (SeccompFilter) at each start.
 */
import type { SeccompAction, SeccompArgTest } from '../../vm/types';

export type { SeccompAction, SeccompArgTest } from '../../vm/types';

/** When a rule of a profile applies (Docker's `includes` / `excludes`). */
export interface SeccompCondition {
  /** Capabilities (`CAP_SYS_ADMIN`): includes needs all of them, excludes none of them. */
  caps?: string[];
  /** Architectures by Go's names (`amd64`, `x32`, `arm64`...): the guest's must (not) be among them. */
  arches?: string[];
  /** The guest kernel is (includes) or is not (excludes) at least this version ("4.8"). */
  minKernel?: string;
}

/** One rule of a profile. */
export interface SeccompProfileRule {
  names: string[];
  action: SeccompAction;
  /** errno of an `errno` action (absent: EPERM), value of a `trace` one. */
  errno?: number;
  args: SeccompArgTest[];
  includes?: SeccompCondition;
  excludes?: SeccompCondition;
}

/** A seccomp profile (Docker's format, checked): what a container's processes may call. */
export interface SeccompProfile {
  defaultAction: SeccompAction;
  defaultErrno?: number;
  /**
   * libseccomp names of the architectures the filter covers (`x86_64`, `x86`, `x32`), Docker's
   * `architectures` or the guest's entry of its `archMap`; empty: the guest's own only.
   */
  architectures: string[];
  rules: SeccompProfileRule[];
}

/**
 * PodContainerSpec.seccomp: podvisor's default profile (./seccomp-default.ts, resolved with the
 * container's capabilities at each start), or the user's own profile. Absent: no filter.
 */
export type PodSeccomp = { profile: 'default' } | { profile: 'custom'; spec: SeccompProfile };
