/**
 * Which of a container's mounts a path of `docker cp` falls in. dockerd serves a path under a
 * bind mount or a volume from the mounted directory, not from the root filesystem beneath it;
 * so does podvisor: from the host directory for the mounts whose source is one, and in the
 * guest, chrooted at the mount point, for a volume kept on the container's own disk.
 */
import * as path from 'node:path';

/** A host directory mounted into a container (a bind mount or a volume's data). */
export interface HostMount {
  /** Absolute path inside the container. */
  target: string;
  /** Absolute host path of the mounted directory. */
  source: string;
  /**
   * `source` is a bind source's path pinned at its container's create: opened with no symlink
   * followed (src/util/host-path.ts). Otherwise (a volume's data, the daemon's own path) it is
   * resolved first.
   */
  pinned?: boolean;
  readOnly: boolean;
  inGuest?: false;
}

/**
 * A volume that only the container's guest mounts (a `diskdir` of its upper disk): a path
 * under it is served by the guest, resolved in a clone of the mount at `target`.
 */
export interface GuestMount {
  /** Absolute path inside the container: the volume's mount point. */
  target: string;
  /**
   * The volume's name: until the container's disk is made (a container created and not yet
   * started), the volume is its seed directory on the host (RootfsManager.diskVolumeSeed).
   */
  volume: string;
  inGuest: true;
  readOnly: boolean;
}

/** A mount of a container that `docker cp` serves apart from its root filesystem. */
export type ArchiveMount = HostMount | GuestMount;

/**
 * The mount holding container path `p` (the deepest when mounts nest) and `p` relative to the
 * mount's root, keeping a trailing `/` or `/.` (which docker cp gives a meaning); undefined
 * when `p` is in the root filesystem. `..` is taken lexically, as the path has no symlinks
 * resolved yet (a symlink of the root filesystem leading into a mount is not followed into it).
 */
export function mountFor<M extends { target: string }>(
  p: string,
  mounts: readonly M[],
): { mount: M; rel: string } | undefined {
  const clean = path.posix.normalize(`/${p}`).replace(/\/+$/, '') || '/';
  let best: { mount: M; target: string } | undefined;
  for (const m of mounts) {
    const target = path.posix.normalize(m.target).replace(/\/+$/, '') || '/';
    if (target === '/') continue;
    if ((clean === target || clean.startsWith(`${target}/`)) && (!best || target.length > best.target.length))
      best = { mount: m, target };
  }
  if (!best) return undefined;
  const suffix = /\/\.$/.test(p) ? '/.' : p.endsWith('/') ? '/' : '';
  const rel = clean.slice(best.target.length) || '/';
  return { mount: best.mount, rel: rel === '/' ? (suffix === '/.' ? '/.' : '/') : rel + suffix };
}
