/**
 * The seccomp profile a Docker container asks for, from its HostConfig.SecurityOpt as dockerd
 * reads it, in the neutral request's words (../request/container-request.ts SeccompRequest),
 * which the pod's translation applies (../request/request-pod.ts):
 *
 *   seccomp=unconfined  no filter
 *   seccomp=<json>      that profile (the docker CLI reads the file it is given and sends its
 *                       content), checked by ../seccomp-json.ts when the pod is made
 *   neither             podvisor's default profile (src/pod/security/seccomp-default.ts)
 *
 * A privileged container gets no filter whatever it asks (dockerd ignores any profile then).
 * The last `seccomp` option wins; `seccomp:...` is the old spelling of `seccomp=...`. Other
 * security options are not read here.
 */
import type { SeccompRequest } from '../../../translate/request/container-request';

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

/** The profile SecurityOpt asks for (see the module comment). */
export function seccompRequestOf(opts: readonly string[] | null | undefined): SeccompRequest {
  const value = seccompOption(opts ?? []);
  if (value === SECCOMP_UNCONFINED) return { mode: 'unconfined' };
  if (!value) return { mode: 'default' };
  return { mode: 'profile', json: value };
}
