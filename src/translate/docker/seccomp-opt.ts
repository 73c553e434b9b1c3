/**
 * The seccomp profile of a Docker container, from its HostConfig as dockerd reads it:
 *
 *   Privileged                      no filter (dockerd ignores any profile then)
 *   SecurityOpt seccomp=unconfined  no filter
 *   SecurityOpt seccomp=<json>      that profile (the docker CLI reads the file it is given and
 *                                   sends its content), checked by ../seccomp-json.ts
 *   neither                         podvisor's default profile (src/pod/security/seccomp-default.ts)
 *
 * The last `seccomp` option wins; `seccomp:...` is the old spelling of `seccomp=...`. Other
 * security options are not read here.
 */
import type { PodSeccomp } from '../../pod/types';
import { parseSeccompProfile } from '../seccomp-json';

/**
 * `docker info`'s SecurityOptions, as dockerd lists them: containers get a seccomp filter, by
 * default podvisor's default profile (every guest kernel podvisor boots has seccomp filters).
 */
export const SECURITY_OPTIONS: readonly string[] = ['name=seccomp,profile=default'];

/** `--security-opt seccomp=` with this value means no filter. */
export const SECCOMP_UNCONFINED = 'unconfined';

/** The value of the last `seccomp` security option, split as dockerd splits them. */
function seccompOption(opts: readonly string[]): string | undefined {
  let value: string | undefined;
  for (const opt of opts) {
    const sep = opt.includes('=') ? '=' : opt.includes(':') ? ':' : undefined;
    if (!sep) continue;
    const i = opt.indexOf(sep);
    if (opt.slice(0, i) === 'seccomp') value = opt.slice(i + 1);
  }
  return value;
}

/** The container's profile (see the module comment); undefined for none. Throws 400 for a bad profile. */
export function seccompOf(hc: { Privileged?: boolean; SecurityOpt?: string[] | null }): PodSeccomp | undefined {
  if (hc.Privileged) return undefined;
  const value = seccompOption(hc.SecurityOpt ?? []);
  if (value === SECCOMP_UNCONFINED) return undefined;
  if (!value) return { profile: 'default' };
  const spec = parseSeccompProfile(value);
  return spec ? { profile: 'custom', spec } : undefined;
}
