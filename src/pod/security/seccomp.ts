/**
 * A container's seccomp filter at its start: its spec's profile (PodContainerSpec.seccomp, the
 * default one or the user's) resolved for this container, as Docker resolves a profile into
 * the OCI spec when it starts a container:
 *
 *   a rule's `includes` must all hold and none of its `excludes` may: capabilities against the
 *   container's (PodContainerSpec.security.capabilities; Docker's default set when absent), architectures
 *   against the guest's (`amd64`); minimum kernels go to the agent, which knows its kernel.
 *
 *   const filter = seccompFilterFor(container);   // null: unconfined
 *   await vm.agent.setSeccomp(container.id, filter);
 */
import type { SeccompFilter, SeccompFilterRule } from '../../vm/types';
import { DEFAULT_SECCOMP_PROFILE } from './seccomp-default';
import type { SeccompCondition, SeccompProfile } from './seccomp-types';
import type { PodContainerSpec } from '../types';
import { DEFAULT_CAPABILITIES, capabilityName } from '../../util/capabilities';

/** The guest's architecture by Go's name, as Docker's profiles' `arches` conditions name it. */
export const GUEST_ARCH = 'amd64';

/** The rule applies (Docker's reading of includes and excludes, but minKernel: the agent's). */
function applies(includes: SeccompCondition | undefined, excludes: SeccompCondition | undefined, caps: Set<string>) {
  if (includes?.caps?.some((c) => !caps.has(capabilityName(c)))) return false;
  if (includes?.arches?.length && !includes.arches.includes(GUEST_ARCH)) return false;
  if (excludes?.caps?.some((c) => caps.has(capabilityName(c)))) return false;
  if (excludes?.arches?.includes(GUEST_ARCH)) return false;
  return true;
}

/** `profile` resolved for a container with capabilities `capabilities` (see the module comment). */
export function resolveSeccompProfile(profile: SeccompProfile, capabilities: readonly string[]): SeccompFilter {
  const caps = new Set(capabilities.map(capabilityName));
  const rules: SeccompFilterRule[] = [];
  for (const r of profile.rules) {
    if (!applies(r.includes, r.excludes, caps)) continue;
    rules.push({
      names: r.names,
      action: r.action,
      ...(r.errno !== undefined ? { errno: r.errno } : {}),
      args: r.args,
      ...(r.includes?.minKernel ? { minKernel: r.includes.minKernel } : {}),
      ...(r.excludes?.minKernel ? { belowKernel: r.excludes.minKernel } : {}),
    });
  }
  return {
    defaultAction: profile.defaultAction,
    ...(profile.defaultErrno !== undefined ? { defaultErrno: profile.defaultErrno } : {}),
    architectures: profile.architectures,
    rules,
  };
}

/** The filter of a container's processes at this start; null when it has none (unconfined). */
export function seccompFilterFor(c: Pick<PodContainerSpec, 'seccomp' | 'security'>): SeccompFilter | null {
  if (!c.seccomp) return null;
  const profile = c.seccomp.profile === 'default' ? DEFAULT_SECCOMP_PROFILE : c.seccomp.spec;
  return resolveSeccompProfile(profile, c.security?.capabilities ?? DEFAULT_CAPABILITIES);
}
