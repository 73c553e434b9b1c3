/**
 * A container's security settings and the guest devices it is given, as plain types (a leaf:
 * no code), re-exported by ../types.ts.
 */
import type { GuestDeviceRule, ProcessRlimit } from '../../vm/types';

/** A container's security settings (PodContainerSpec.security), in the runtimes' terms. */
export interface ContainerSecurity {
  /** Capability names (`CAP_CHOWN`) of its init and execs: their bounding, effective and permitted sets. */
  capabilities: string[];
  /** Privileged: /sys writable, and an exec may ask for every capability. */
  privileged: boolean;
  /** prctl(PR_SET_NO_NEW_PRIVS) for its init and execs. */
  noNewPrivs: boolean;
  /** Its `/` read-only (mounts, /dev, /proc, /sys stay as they are). */
  readonlyRootfs: boolean;
  /** Paths hidden (a file: /dev/null over it; a directory: an empty read-only tmpfs). */
  maskedPaths: string[];
  /** Paths made read-only. */
  readonlyPaths: string[];
  /** KEY -> VALUE written to /proc/sys in the guest before its init runs (the VM's kernel is the pod's). */
  sysctls: Record<string, string>;
  /** Resource limits of its init and execs (docker --ulimit); absent: the guest's defaults. */
  rlimits?: ProcessRlimit[];
  /** oom_score_adj of its init and execs, -1000..1000 (docker --oom-score-adj); absent: the guest's. */
  oomScoreAdj?: number;
  /** Devices of the guest kernel's own made in its /dev and allowed (docker --device). */
  devices?: ContainerDevice[];
  /** Accesses its device program allows beyond the defaults (docker --device-cgroup-rule). */
  deviceCgroupRules?: GuestDeviceRule[];
}

/** A device node of the guest kernel's given to a container (docker --device). */
export interface ContainerDevice {
  /** Where the node is made: under /dev/. */
  path: string;
  type: 'b' | 'c';
  major: number;
  minor: number;
  /** The node's permission bits. */
  mode: number;
  /** What the container may do with it: letters of "rwm". */
  access: string;
}
