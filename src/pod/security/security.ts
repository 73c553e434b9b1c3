/**
 * A container's security settings (PodContainerSpec.security) as the guest agent takes them:
 * the container's part for CREATE_CONTAINER (sysctls, masked and read-only paths, read-only
 * root, writable /sys when privileged, its device program's rules and its device nodes from
 * ./devices.ts) and each process's capability sets and resource limits (docker --ulimit) for
 * START_PROCESS.
 *
 * The sets are the ones dockerd and containerd put in the OCI spec and runc applies: bounding,
 * effective and permitted the container's capabilities, nothing inheritable or ambient. The
 * kernel's execve rules then give root its bounding set and a non-root user nothing (unless
 * file capabilities), as under runc. A privileged exec (`docker exec --privileged`) gets every
 * capability in all four sets, as dockerd gives it.
 */
import { ALL_CAPABILITIES, capabilityMask } from '../../util/capabilities';
import type { CapabilitySets, GuestContainerSecurity, ProcessRlimit } from '../../vm/types';
import { deviceNodes, deviceRules } from './devices';
import type { ContainerSecurity } from '../types';

/** What CREATE_CONTAINER carries for a container with these settings (undefined: none). */
export function guestContainerSecurity(sec: ContainerSecurity | undefined): GuestContainerSecurity | undefined {
  if (!sec) return undefined;
  const rules = deviceRules(sec);
  const nodes = deviceNodes(sec);
  return {
    sysctls: Object.entries(sec.sysctls).map(([k, v]) => `${k}=${v}`),
    maskedPaths: [...sec.maskedPaths],
    readonlyPaths: [...sec.readonlyPaths],
    readonlyRootfs: sec.readonlyRootfs,
    writableSysfs: sec.privileged,
    ...(rules ? { deviceRules: rules } : {}),
    ...(nodes.length ? { deviceNodes: nodes } : {}),
  };
}

/**
 * START_PROCESS's security fields for a process of a container with these settings; with
 * `privileged`, every capability (a privileged exec). Empty for a container without settings
 * (every capability, as before they existed).
 */
export function processSecurity(
  sec: ContainerSecurity | undefined,
  privileged = false,
): { capabilities?: CapabilitySets; noNewPrivs?: boolean; rlimits?: ProcessRlimit[]; oomScoreAdj?: number } {
  if (!sec) return {};
  // The container's --ulimit and --oom-score-adj values hold for its execs too (runc gives an
  // exec the container's rlimits; dockerd gives it the container's OOM score).
  const nnp = {
    ...(sec.noNewPrivs ? { noNewPrivs: true } : {}),
    ...(sec.rlimits?.length ? { rlimits: sec.rlimits } : {}),
    ...(sec.oomScoreAdj !== undefined ? { oomScoreAdj: sec.oomScoreAdj } : {}),
  };
  if (privileged) {
    const all = capabilityMask(ALL_CAPABILITIES);
    return { capabilities: { bounding: all, effective: all, permitted: all, inheritable: all, ambient: 0 }, ...nnp };
  }
  const mask = capabilityMask(sec.capabilities);
  return { capabilities: { bounding: mask, effective: mask, permitted: mask, inheritable: 0, ambient: 0 }, ...nnp };
}
