/**
 * The seccomp profile of a CRI sandbox or container, as containerd 1.6 chooses it, in the
 * neutral creation request's words (./create-request.ts):
 *
 *   privileged                                  no filter (unconfined)
 *   seccomp {profile_type: RuntimeDefault}      podvisor's default profile
 *   seccomp {profile_type: Unconfined}          unconfined
 *   seccomp {profile_type: Localhost,           the file's content: a profile on the node, in
 *            localhost_ref: /path}              Docker's (or the OCI spec's) JSON
 *   else seccomp_profile_path (deprecated):
 *     runtime/default, docker/default           the default profile
 *     unconfined                                unconfined
 *     localhost/<path>                          the file at <path>
 *     anything else                             INVALID_ARGUMENT (containerd: invalid profile)
 *   neither                                     unconfined (the kubelet's default)
 *
 * A Localhost file that cannot be read fails the create, as with containerd.
 */
import * as fs from 'node:fs';
import { InvalidArgumentError } from '../../errors';
import type { SeccompRequest } from '../../engine/service';

/** The CRI fields a profile is chosen from (LinuxSandboxSecurityContext or LinuxContainerSecurityContext). */
export interface CriSeccompRequest {
  /** `seccomp` (a SecurityProfile), as decoded: enums by name. */
  profile?: { profile_type?: string; localhost_ref?: string } | null;
  /** `seccomp_profile_path`, deprecated. */
  profilePath?: string;
  privileged?: boolean;
}

const LOCALHOST_PREFIX = 'localhost/';
/** A profile file larger than this is refused (Docker's default profile is ~20 KiB). */
const MAX_PROFILE_BYTES = 1 << 20;
const UNCONFINED: SeccompRequest = { mode: 'unconfined' };
const DEFAULT: SeccompRequest = { mode: 'default' };

async function localhost(ref: string): Promise<SeccompRequest> {
  if (!ref.startsWith('/'))
    throw new InvalidArgumentError(`seccomp localhost profile path ${JSON.stringify(ref)} is not absolute`);
  let text: string;
  try {
    const st = await fs.promises.stat(ref);
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > MAX_PROFILE_BYTES) throw new Error(`larger than ${MAX_PROFILE_BYTES} bytes`);
    text = await fs.promises.readFile(ref, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(`cannot load seccomp profile ${JSON.stringify(ref)}: ${(err as Error).message}`);
  }
  return { mode: 'profile', json: text };
}

/** The seccomp filter of a CRI request's seccomp settings (see the module comment). */
export async function criSeccomp(req: CriSeccompRequest): Promise<SeccompRequest> {
  if (req.privileged) return UNCONFINED;
  if (req.profile) {
    switch (req.profile.profile_type ?? 'RuntimeDefault') {
      case 'RuntimeDefault':
        return DEFAULT;
      case 'Unconfined':
        return UNCONFINED;
      case 'Localhost':
        if (!req.profile.localhost_ref)
          throw new InvalidArgumentError('seccomp profile type Localhost without a localhost_ref');
        return localhost(req.profile.localhost_ref);
      default:
        throw new InvalidArgumentError(`unknown seccomp profile type ${JSON.stringify(req.profile.profile_type)}`);
    }
  }
  const p = req.profilePath ?? '';
  if (p === '' || p === 'unconfined') return UNCONFINED;
  if (p === 'runtime/default' || p === 'docker/default') return DEFAULT;
  if (p.startsWith(LOCALHOST_PREFIX)) return localhost(p.slice(LOCALHOST_PREFIX.length));
  throw new InvalidArgumentError(
    `invalid seccomp profile ${JSON.stringify(p)}: not runtime/default, docker/default, unconfined or localhost/<path>`,
  );
}
