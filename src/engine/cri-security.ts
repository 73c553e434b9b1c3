/**
 * A CRI container's linux.security_context and its sandbox's sysctls, as the Docker HostConfig
 * fields the creation service takes (./cri.ts), with containerd 1.6's rules:
 *
 *   capabilities  its default set; `ALL` in add_capabilities gives every capability and `ALL`
 *                 in drop_capabilities none, before the other names are added and dropped;
 *                 names are given without `CAP_` (added here); the result goes as CapDrop ALL
 *                 plus CapAdd of the set, which Docker's rules (../translate/security.ts) keep
 *                 as it is and check (an unknown name is INVALID_ARGUMENT)
 *   privileged    every capability, no masked or read-only paths, /sys writable
 *   paths         masked_paths / readonly_paths as given; none given: the defaults (the
 *                 kubelet sends them; an empty list cannot be told from none on the wire)
 *   no_new_privs  SecurityOpt no-new-privileges
 *   sysctls       the sandbox's, set in its VM (whose kernel is the pod's) at its start
 */
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, capabilityName } from '../util/capabilities';
import type { CriContainerSecurity } from './service';

/** The capability set containerd gives for these add/drop lists. */
export function criCapabilities(add: readonly string[], drop: readonly string[]): string[] {
  const isAll = (c: string) => c.toUpperCase() === 'ALL';
  let caps: string[] = [...DEFAULT_CAPABILITIES];
  if (add.some(isAll)) caps = [...ALL_CAPABILITIES];
  if (drop.some(isAll)) caps = [];
  for (const c of add.filter((x) => !isAll(x))) if (!caps.includes(capabilityName(c))) caps.push(capabilityName(c));
  const dropped = new Set(drop.filter((x) => !isAll(x)).map(capabilityName));
  return caps.filter((c) => !dropped.has(c));
}

/** The HostConfig fields of a CRI container's security context. */
export function criSecurityHostConfig(s: CriContainerSecurity | undefined): Record<string, unknown> {
  if (!s) return {};
  return {
    ...(s.privileged
      ? { Privileged: true }
      : { CapDrop: ['ALL'], CapAdd: criCapabilities(s.addCapabilities, s.dropCapabilities) }),
    ...(s.readonlyRootfs ? { ReadonlyRootfs: true } : {}),
    ...(s.noNewPrivs ? { SecurityOpt: ['no-new-privileges'] } : {}),
    ...(s.maskedPaths.length ? { MaskedPaths: [...s.maskedPaths] } : {}),
    ...(s.readonlyPaths.length ? { ReadonlyPaths: [...s.readonlyPaths] } : {}),
  };
}
