/**
 * Where a container's mounts go and in which order, for every front: a mount point is
 * normalised with no trailing '/' (as dockerd's parseMounts records it), and mounts are made
 * parents before children (dockerd's sortMounts), so that one at /a/b goes on top of one at /a.
 */
import * as path from 'node:path';

/** A mount point normalised, with no trailing '/'. */
export function mountTarget(target: string): string {
  return path.posix.normalize(target).replace(/(.)\/$/, '$1');
}

/** `mounts` sorted in place, parents before children (a stable sort: equal depths keep their order). */
export function sortParentsFirst<T extends { target: string }>(mounts: T[]): T[] {
  const depth = (t: string) => (t === '/' ? 0 : t.split('/').length);
  return mounts.sort((a, b) => depth(a.target) - depth(b.target));
}
