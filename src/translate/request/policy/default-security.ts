/**
 * The security settings of a container that asks for none of its own (a pod file's, with
 * Kubernetes' defaults as containerd gives them, which are dockerd's): the default capability
 * set and the default masked and read-only paths; with `privileged`, every capability and no
 * paths. No new privileges are kept from being gained only when asked, the root stays writable,
 * and no sysctl is set.
 */
import type { ContainerSecurity } from '../../../pod/types';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES } from '../../../util/capabilities';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from './masked-paths';

/** The default security settings (see the module comment). */
export function defaultSecurity(privileged: boolean): ContainerSecurity {
  return {
    capabilities: privileged ? [...ALL_CAPABILITIES] : [...new Set(DEFAULT_CAPABILITIES)],
    privileged,
    noNewPrivs: false,
    readonlyRootfs: false,
    maskedPaths: privileged ? [] : [...DEFAULT_MASKED_PATHS],
    readonlyPaths: privileged ? [] : [...DEFAULT_READONLY_PATHS],
    sysctls: {},
  };
}
