/**
 * Docker's runtime environment of a container's processes: its init's
 * (../lifecycle/container-init.ts) and each exec's (../sessions/exec-run.ts).
 */
import { mergeEnv } from '../../util/env';

/** PATH a container gets when its image sets none (Docker's default). */
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Docker's runtime environment (dockerd's CreateDaemonEnvironment): PATH (default), HOSTNAME
 * and TERM (with a TTY) first, then the config's env replacing those by key or appended, and
 * HOME from the user's passwd entry when still unset.
 */
export function runtimeEnv(
  env: string[],
  hostname: string,
  tty: boolean,
  home: string,
  linkEnv: readonly string[] = [],
): string[] {
  const base = [DEFAULT_PATH, `HOSTNAME=${hostname}`, ...(tty ? ['TERM=xterm'] : []), ...linkEnv];
  const out = mergeEnv(base, env);
  if (!out.some((e) => e.startsWith('HOME='))) out.push(`HOME=${home}`);
  return out;
}
