/**
 * A running container's own account files, read from its guest (/etc/passwd and /etc/group,
 * size-limited: the guest is not trusted), and its `User` resolved against them (./user.ts).
 * The start of a container (../lifecycle/container-init.ts), an exec (../sessions/exec-run.ts) and
 * `docker top` (../stats/top.ts) read them so.
 */
import { NotFoundError } from '../../errors';
import type { Agent } from '../../vm/types';
import { resolveUser, withGroupAdd, type ResolvedUser } from './user';

/** Largest /etc/passwd or /etc/group read from a guest. */
export const MAX_ACCOUNT_FILE = 1024 * 1024;

/** Read a small file (an account file) from the guest; undefined when it does not exist. */
export async function readGuestFile(agent: Agent, containerId: string, p: string): Promise<string | undefined> {
  try {
    return (await agent.readFile(containerId, p, MAX_ACCOUNT_FILE)).toString('utf8');
  } catch (e) {
    if (e instanceof NotFoundError) return undefined;
    throw e;
  }
}

/** A running container's /etc/passwd and /etc/group (undefined where missing). */
export async function readAccountFiles(
  agent: Agent,
  containerId: string,
): Promise<{ passwd?: string; group?: string }> {
  const [passwd, group] = await Promise.all([
    readGuestFile(agent, containerId, '/etc/passwd'),
    readGuestFile(agent, containerId, '/etc/group'),
  ]);
  return { passwd, group };
}

/** Resolve a user spec inside a running container. */
export async function resolveUserInGuest(
  agent: Agent,
  containerId: string,
  user: string,
  groupAdd?: readonly string[],
): Promise<ResolvedUser> {
  const { passwd, group } = await readAccountFiles(agent, containerId);
  return withGroupAdd(resolveUser(user, passwd, group), groupAdd, group);
}
