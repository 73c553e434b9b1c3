/**
 * `docker diff` from a container's writable layer (overlayfs upper directory): every entry of
 * the upper directory is a change: an overlay whiteout (character device 0:0) is a deletion
 * (Kind 2), an entry that also exists in the image's layers a modification (Kind 0), any
 * other an addition (Kind 1). Below an added or opaque directory everything is an addition.
 *
 * The upper directory is written by the guest: it is walked without following symlinks
 * (lstat, directories opened with O_NOFOLLOW through ./resolve.ts), and the image layers are
 * probed component by component with lstat, never through a symlink.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { at, listDir, RootDir } from './resolve';

/** One change as dockerd reports it. */
export interface Change {
  Path: string;
  /** 0 modified, 1 added, 2 deleted. */
  Kind: 0 | 1 | 2;
}

function isWhiteout(st: fs.Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/** Whether container path `p` (components) exists in the merged view of `layers` (top first). */
export async function existsInLayers(layers: string[], comps: string[]): Promise<boolean> {
  for (const layer of layers) {
    let dir = layer;
    let found: fs.Stats | undefined;
    for (let i = 0; i < comps.length; i++) {
      try {
        found = await fs.promises.lstat(path.join(dir, comps[i]));
      } catch {
        found = undefined;
        break;
      }
      if (i < comps.length - 1 && !found.isDirectory()) {
        // A non-directory on the way hides everything below in this layer and the lower ones.
        return false;
      }
      dir = path.join(dir, comps[i]);
    }
    if (found) return !isWhiteout(found);
  }
  return false;
}

/**
 * `changes` without the files the daemon itself writes into every container's writable layer
 * (`hidden`, absolute paths), which dockerd keeps out of the layer (bind mounts over its init
 * layer). A directory that was listed only because of them (no other change below it) goes too.
 */
export function withoutDaemonFiles(changes: Change[], hidden: readonly string[]): Change[] {
  const isHidden = new Set(hidden);
  const kept = changes.filter((c) => !isHidden.has(c.Path));
  const parents = new Set(hidden.map((h) => path.posix.dirname(h)));
  return kept.filter((c) => !parents.has(c.Path) || c.Kind === 2 || kept.some((o) => o.Path.startsWith(`${c.Path}/`)));
}

/**
 * The changes of upper directory `upper` against image `layers` (top layer first), sorted by
 * path as dockerd sorts them. `isOpaque(hostPath)` says whether a directory of upper is an
 * opaque directory (trusted.overlay.opaque=y); it defaults to no.
 */
export async function listChanges(
  upper: string,
  layers: string[],
  isOpaque: (hostPath: string) => Promise<boolean> = async () => false,
): Promise<Change[]> {
  const out: Change[] = [];
  const root = await RootDir.open(upper);
  const walk = async (dir: fs.promises.FileHandle, comps: string[], added: boolean): Promise<void> => {
    const names = await listDir(dir);
    for (const n of names) {
      const c = [...comps, n];
      const p = `/${c.join('/')}`;
      let st: fs.Stats;
      try {
        st = await fs.promises.lstat(at(dir, n));
      } catch {
        continue;
      }
      if (isWhiteout(st)) {
        if (!added) out.push({ Path: p, Kind: 2 });
        continue;
      }
      const inLower = !added && (await existsInLayers(layers, c));
      out.push({ Path: p, Kind: inLower ? 0 : 1 });
      if (st.isDirectory()) {
        const sub = await RootDir.openDir(dir, n);
        try {
          const opaque = inLower && (await isOpaque(at(sub)));
          await walk(sub, c, !inLower || opaque);
        } finally {
          await sub.close();
        }
      }
    }
  };
  try {
    await walk(root.handle, [], false);
  } finally {
    await root.close();
  }
  return out;
}
