/**
 * A host path the user named (a bind source, a CRI hostPath, a pod file's host directory),
 * resolved once, when the container is created, and never again after that.
 *
 * At create, canonicalHostPath follows the user's own symlinks, as dockerd does at create: the
 * longest part of the path that exists is resolved with realpath(3), and the part that does
 * not exist yet (a `-v` source made at start) is appended as written. That canonical path is
 * recorded with the container.
 *
 * From then on the host opens it with openHostPath only: a walk from `/` that holds each
 * directory it reaches and opens the next component through it with O_NOFOLLOW
 * (src/util/beneath.ts), so no symlink is followed anywhere on the path, nor a magic link. A
 * container that can write a directory on that path (a bind of a parent directory) may rename
 * and replace anything there, with symlinks too, but can no longer make the host act on a
 * file outside what the user named: a component that became a symlink or another kind of file
 * fails the open with HostPathChangedError, and nothing is mounted or connected.
 *
 * A new file put at the same path (an editor's save by rename, a service that makes its socket
 * again) is found by the next open: the path is pinned, not the inode.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openBeneath, SharePathError } from './beneath';

/** O_PATH (the same value on x86_64 and arm64). */
const O_PATH = 0o10000000;

/** What a pinned path may be when opened: the kinds the host binds or connects to. */
export type HostPathKind = 'directory' | 'file' | 'socket';

/**
 * A pinned path that does not lead, without a symlink, to a directory, a regular file or a
 * socket: `special` when its last component is a FIFO or a device; otherwise a component is a
 * symlink (or a file where a directory was). `found` says what is there.
 */
export class HostPathChangedError extends Error {
  constructor(
    readonly canonical: string,
    readonly found: string,
    readonly special = false,
  ) {
    super(`${canonical}: ${found}`);
  }
}

/**
 * The canonical form of an absolute host path `p` at create: its longest existing prefix
 * resolved through the user's symlinks (realpath), then the rest of it as written, normalised
 * (no `.`, `..` or repeated `/`). `..` after a symlink is resolved as the kernel would (the
 * link's target's parent), since realpath resolves that prefix whole.
 */
export async function canonicalHostPath(p: string): Promise<string> {
  const abs = path.resolve(p);
  const missing: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      const real = await fs.promises.realpath(cur);
      return missing.length ? path.join(real, ...missing.reverse()) : real;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // A dangling symlink, a missing entry: the part that exists is above it.
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
      const parent = path.dirname(cur);
      if (parent === cur) return abs;
      missing.push(path.basename(cur));
      cur = parent;
    }
  }
}

/** Options of openHostPath. */
export interface OpenHostPathOptions {
  /** Make the path as directories (mode 0755) when it is missing (`-v`'s missing source). */
  createDirectory?: boolean;
}

/** An open pinned path: the handle (O_PATH), and what it is. */
export interface OpenHostPath {
  fh: fs.promises.FileHandle;
  stat: fs.Stats;
  kind: HostPathKind;
}

function kindOf(st: fs.Stats): HostPathKind | undefined {
  if (st.isDirectory()) return 'directory';
  if (st.isFile()) return 'file';
  if (st.isSocket()) return 'socket';
  return undefined;
}

function describe(st: fs.Stats): string {
  if (st.isSymbolicLink()) return 'a symlink';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'a special file';
}

async function openWalk(canonical: string, create: boolean): Promise<fs.promises.FileHandle> {
  if (canonical === '/') return fs.promises.open('/', O_PATH | fs.constants.O_DIRECTORY);
  const rel = canonical.slice(1);
  if (!create) return openBeneath({ root: '/', rel }, { kind: 'node' });
  return openBeneath({ root: '/', rel }, { kind: 'dir', create: true, dirMode: 0o755 });
}

/**
 * Open the canonical path `canonical` (from canonicalHostPath) with no symlink followed in any
 * component (see the module comment): a directory, a regular file or a socket, held O_PATH
 * (the caller closes it). Rejects with HostPathChangedError when a component is a symlink or
 * the wrong kind, or the last one is not one of those three kinds; with the system's error
 * (ENOENT) when it is missing and not to be made.
 */
export async function openHostPath(canonical: string, opts: OpenHostPathOptions = {}): Promise<OpenHostPath> {
  if (!path.isAbsolute(canonical) || path.normalize(canonical) !== canonical)
    throw new HostPathChangedError(canonical, 'not a canonical absolute path');
  let fh: fs.promises.FileHandle;
  try {
    fh = await openWalk(canonical, false);
  } catch (e) {
    if (e instanceof SharePathError) throw new HostPathChangedError(canonical, e.message);
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || !opts.createDirectory) throw e;
    try {
      fh = await openWalk(canonical, true);
    } catch (ce) {
      if (ce instanceof SharePathError) throw new HostPathChangedError(canonical, ce.message);
      throw ce;
    }
  }
  try {
    const stat = await fh.stat();
    const kind = kindOf(stat);
    if (!kind) throw new HostPathChangedError(canonical, describe(stat), true);
    return { fh, stat, kind };
  } catch (e) {
    await fh.close().catch(() => undefined);
    throw e;
  }
}
