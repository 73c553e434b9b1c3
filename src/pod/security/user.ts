/**
 * Resolving a container's `User` (`name`, `uid`, `name:group`, `uid:gid`...) against the
 * container's own /etc/passwd and /etc/group, as runc does at start. The files come from the
 * guest and are NOT trusted: they are size-limited by the caller and parsed defensively.
 */
import { InvalidArgumentError } from '../../errors';
import type { ProcessUser } from '../../vm/types';

/** A resolved user plus its home directory (for HOME). */
export interface ResolvedUser extends ProcessUser {
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const MAX_ID = 2 ** 31 - 1;

function toId(s: string): number | undefined {
  if (!/^\d{1,10}$/.test(s)) return undefined;
  const n = Number(s);
  return n <= MAX_ID ? n : undefined;
}

/** The fields of each non-empty, non-comment line of a colon-separated file with at least `minFields` fields. */
function* colonRecords(text: string, minFields: number): Generator<string[]> {
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length >= minFields) yield f;
  }
}

/** Parse /etc/passwd content; malformed lines are skipped. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const f of colonRecords(text, 7)) {
    const uid = toId(f[2]);
    const gid = toId(f[3]);
    if (uid === undefined || gid === undefined) continue;
    out.push({ name: f[0], uid, gid, home: f[5] || '/' });
  }
  return out;
}

/** Parse /etc/group content; malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const f of colonRecords(text, 4)) {
    const gid = toId(f[2]);
    if (gid === undefined) continue;
    out.push({ name: f[0], gid, members: f[3] ? f[3].split(',').filter(Boolean) : [] });
  }
  return out;
}

/**
 * Resolve `spec` (may be '') with the given file contents (undefined when the file is
 * missing). Errors carry runc's messages, e.g.
 * "unable to find user bob: no matching entries in passwd file".
 */
export function resolveUser(spec: string, passwd: string | undefined, group: string | undefined): ResolvedUser {
  const [userPart, groupPart] = spec.includes(':')
    ? [spec.slice(0, spec.indexOf(':')), spec.slice(spec.indexOf(':') + 1)]
    : [spec, undefined];
  const users = parsePasswd(passwd ?? '');
  const groups = parseGroup(group ?? '');
  let uid = 0;
  let gid = 0;
  let home = '/';
  let name: string | undefined;
  if (userPart === '') {
    const root = users.find((u) => u.uid === 0);
    if (root) {
      name = root.name;
      gid = root.gid;
      home = root.home;
    }
  } else {
    const numeric = toId(userPart);
    const entry = numeric !== undefined ? users.find((u) => u.uid === numeric) : users.find((u) => u.name === userPart);
    if (entry) {
      uid = entry.uid;
      gid = entry.gid;
      home = entry.home;
      name = entry.name;
    } else if (numeric !== undefined) {
      uid = numeric;
    } else {
      throw new InvalidArgumentError(`unable to find user ${userPart}: no matching entries in passwd file`);
    }
  }
  if (groupPart !== undefined && groupPart !== '') {
    const numeric = toId(groupPart);
    const g = numeric !== undefined ? groups.find((x) => x.gid === numeric) : groups.find((x) => x.name === groupPart);
    if (g) gid = g.gid;
    else if (numeric !== undefined) gid = numeric;
    else throw new InvalidArgumentError(`unable to find group ${groupPart}: no matching entries in group file`);
  }
  // The primary group is first among the supplementary groups too, as dockerd 20.10.24's
  // getUser makes them (`--user 1000:1000 --group-add 10`: `id` says groups=10,1000(user)),
  // so a process that changes its gid keeps the group's access.
  const members =
    name !== undefined && groupPart === undefined
      ? groups.filter((g) => g.members.includes(name as string) && g.gid !== gid).map((g) => g.gid)
      : [];
  const additionalGids = [...new Set([gid, ...members])];
  return { uid, gid, additionalGids, home };
}

/**
 * HostConfig.GroupAdd: extra groups (names or numbers) added to a user's supplementary groups
 * (dockerd's getUser, for the init and every exec). A name missing from /etc/group fails with
 * runc's message.
 */
export function withGroupAdd(
  user: ResolvedUser,
  groupAdd: readonly string[] | undefined,
  group: string | undefined,
): ResolvedUser {
  if (!groupAdd?.length) return user;
  const groups = parseGroup(group ?? '');
  const gids = [...user.additionalGids];
  for (const g of groupAdd) {
    let gid: number | undefined = /^\d{1,10}$/.test(g) ? Number(g) : groups.find((e) => e.name === g)?.gid;
    if (gid !== undefined && gid > 0xffffffff) gid = undefined;
    if (gid === undefined)
      throw new InvalidArgumentError(`Unable to find group ${g}: no matching entries in group file`);
    if (!gids.includes(gid)) gids.push(gid);
  }
  return { ...user, additionalGids: gids };
}
