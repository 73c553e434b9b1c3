/**
 * A CRI container's linux.security_context, as the neutral creation request's security fields
 * (./create-request.ts), with containerd 1.6's rules:
 *
 *   capabilities  its default set; `ALL` in add_capabilities gives every capability and `ALL`
 *                 in drop_capabilities none, before the other names are added and dropped;
 *                 names are given without `CAP_` (added here); the result goes as the exact
 *                 set, which the translation keeps as it is and checks with Docker's rules
 *                 (src/api/v1.41/docker/security.ts: an unknown name is INVALID_ARGUMENT)
 *   privileged    every capability, no masked or read-only paths, /sys writable
 *   paths         masked_paths / readonly_paths as given; none given: the defaults (the
 *                 kubelet sends them; an empty list cannot be told from none on the wire)
 *   no_new_privs  no new privileges
 */
import type { SecurityRequest } from '../../engine/service';
import type { LinuxContainerSecurityContext } from './messages';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, capabilityName } from '../../util/capabilities';

/** A CRI container's linux.security_context, as decoded (./runtime.ts). */
export interface CriContainerSecurity {
  privileged: boolean;
  /** Capability names as the CRI gives them (`NET_ADMIN`, `ALL`). */
  addCapabilities: string[];
  dropCapabilities: string[];
  readonlyRootfs: boolean;
  noNewPrivs: boolean;
  /** Empty: the defaults. */
  maskedPaths: string[];
  readonlyPaths: string[];
}

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

/** The neutral security fields of a CRI container's security context. */
export function criSecurity(s: CriContainerSecurity | undefined): SecurityRequest {
  if (!s) return {};
  return {
    ...(s.privileged ? { privileged: true } : { capabilities: criCapabilities(s.addCapabilities, s.dropCapabilities) }),
    ...(s.readonlyRootfs ? { readonlyRoot: true } : {}),
    ...(s.noNewPrivs ? { noNewPrivileges: true } : {}),
    ...(s.maskedPaths.length ? { maskedPaths: [...s.maskedPaths] } : {}),
    ...(s.readonlyPaths.length ? { readonlyPaths: [...s.readonlyPaths] } : {}),
  };
}

/** A container's linux.security_context as the creation service takes it. */
export function criSecurityOf(sec: LinuxContainerSecurityContext): CriContainerSecurity {
  return {
    privileged: !!sec.privileged,
    addCapabilities: sec.capabilities?.add_capabilities ?? [],
    dropCapabilities: sec.capabilities?.drop_capabilities ?? [],
    readonlyRootfs: !!sec.readonly_rootfs,
    noNewPrivs: !!sec.no_new_privs,
    maskedPaths: sec.masked_paths ?? [],
    readonlyPaths: sec.readonly_paths ?? [],
  };
}
