/**
 * The seccomp fields of a CRI security context, as the seccomp choice (./seccomp.ts) takes
 * them: for RunPodSandbox's and CreateContainer's translations alike.
 */
import type { SeccompFields } from './messages';
import type { CriSeccompRequest } from './seccomp';

/** The seccomp fields of a sandbox's or container's security context (./seccomp.ts chooses). */
export function criSeccomp(sec: SeccompFields | null | undefined): CriSeccompRequest {
  return { profile: sec?.seccomp ?? null, profilePath: sec?.seccomp_profile_path ?? '', privileged: !!sec?.privileged };
}
