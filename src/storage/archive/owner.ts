/**
 * The owner that `docker cp -a` (copyUIDGID) and a build's `COPY --chown` give the files they
 * write: a container user spec ('', `uid`, `uid:gid`, `name`, `name:group`) resolved against
 * the container's own /etc/passwd and /etc/group, as dockerd resolves it. The files are read
 * inside the container's root (no symlink leads out of it), bounded in size.
 */
import { InvalidArgumentError } from '../../errors';
import type { RootDir } from './resolve';
import { readBounded, withRegularFile } from './open-regular';

/** uid and gid of a container user spec ('', `uid`, `uid:gid`, `name`, `name:group`), read from its /etc files. */
export async function resolveOwner(root: RootDir, user: string): Promise<{ uid: number; gid: number }> {
  return resolveOwnerWith((file) => readSmallFile(root, file), user);
}

/** resolveOwner with the container's /etc files read by `read` (undefined: missing). */
export async function resolveOwnerWith(
  read: (file: string) => Promise<string | undefined>,
  user: string,
): Promise<{ uid: number; gid: number }> {
  if (user === '') return { uid: 0, gid: 0 };
  const [u, g] = user.split(':', 2);
  const lookup = async (file: string, name: string): Promise<string[] | undefined> => {
    const text = await read(file);
    return text
      ?.split('\n')
      .map((l) => l.split(':'))
      .find((f) => f[0] === name);
  };
  let uid: number;
  let gid = 0;
  if (/^\d+$/.test(u)) uid = Number(u);
  else {
    const f = await lookup('/etc/passwd', u);
    if (!f) throw new InvalidArgumentError(`unable to find user ${u}: no matching entries in passwd file`);
    uid = Number(f[2]);
    gid = Number(f[3]);
  }
  if (g !== undefined) {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const f = await lookup('/etc/group', g);
      if (!f) throw new InvalidArgumentError(`unable to find group ${g}: no matching entries in group file`);
      gid = Number(f[2]);
    }
  }
  return { uid, gid };
}

/** A small file of the container's root (at most 4 MiB); undefined when it is missing or no regular file. */
async function readSmallFile(root: RootDir, p: string): Promise<string | undefined> {
  const r = await withRegularFile(root, p, (fh) => readBounded(fh, 4 << 20), { unresolvedIsAbsent: true });
  return r.found === 'file' ? r.value?.toString('utf8') : undefined;
}
