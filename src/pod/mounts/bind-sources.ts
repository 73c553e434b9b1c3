/**
 * Bind sources, pinned at create (src/util/host-path.ts says how).
 *
 * At create, pinBindSources resolves each bind mount's source through the user's own symlinks
 * and records the canonical path with the mount (PodBindMount.resolvedSource); a `--mount`
 * source must exist then, as dockerd checks it. Every later use, at each start, restart,
 * re-adoption after a daemon restart and relayed socket connection, goes through
 * openBindSource: the recorded path opened with no symlink followed, so that a container
 * that can write a directory on the way (a bind of a parent, `-v D:/app -v D/conf:/conf`)
 * cannot swap a component for a symlink and have the host bind or connect to what it points
 * at. Such a source fails the start with BindSourceMissingError's `changed` form, which says
 * to create the container again to take a new target on purpose.
 */
import type * as fs from 'node:fs';
import { InvalidArgumentError } from '../../errors';
import { BindSourceMissingError } from '../errors';
import { canonicalHostPath, HostPathChangedError, openHostPath, type OpenHostPath } from '../../util/host-path';
import type { PodBindMount } from './mount-types';
import type { PodContainerSpec, PodSpec } from '../types';

/**
 * Create-time pinning of a pod's bind sources (see the module comment): each bind mount gets
 * its resolvedSource; a `--mount type=bind` source that does not exist is refused with
 * dockerd's message (`-v` sources are made at start). A mount taken from another container
 * (`--volumes-from`) keeps the path pinned when that container was made.
 */
export async function pinBindSources(spec: PodSpec): Promise<void> {
  for (const c of spec.containers) {
    for (const m of c.mounts ?? []) {
      if (m.type !== 'bind') continue;
      m.resolvedSource ??= await canonicalHostPath(m.source);
      if (m.createSource) continue;
      const found = await openBindSource(m);
      await found.fh.close();
    }
  }
}

/**
 * For a record made before sources were pinned, read at the daemon's start: each bind mount
 * without a pinned path gets one now, resolved as a create would. True when one was added (the
 * record is then written again).
 */
export async function pinLegacyBindSources(containers: readonly PodContainerSpec[]): Promise<boolean> {
  let pinned = false;
  for (const c of containers)
    for (const m of c.mounts ?? [])
      if (m.type === 'bind' && !m.resolvedSource) {
        m.resolvedSource = await canonicalHostPath(m.source);
        pinned = true;
      }
  return pinned;
}

/**
 * The path a start opens for `m`: the one pinned at create (or when a daemon first read a record
 * made before: pinLegacyBindSources); resolved now only for a mount that came by neither way.
 */
async function pinnedPath(m: PodBindMount): Promise<string> {
  return m.resolvedSource ?? (await canonicalHostPath(m.source));
}

/**
 * Open a bind mount's source (a directory, a regular file or a unix socket), held O_PATH, with
 * no symlink followed on its pinned path; a `-v` source that is missing is made (directories,
 * 0755) when `create`. Rejects with BindSourceMissingError: missing, or `changed` when a
 * component is now a symlink; with InvalidArgumentError when the source is a FIFO or a device.
 */
export async function openBindSource(m: PodBindMount, opts: { create?: boolean } = {}): Promise<OpenHostPath> {
  const canonical = await pinnedPath(m);
  try {
    return await openHostPath(canonical, { createDirectory: !!opts.create && m.createSource });
  } catch (e) {
    if (e instanceof HostPathChangedError && e.special)
      throw new InvalidArgumentError(
        `podvisor bind-mounts directories, regular files and unix sockets only, not ${m.source} (${e.found})`,
      );
    if (e instanceof HostPathChangedError) throw new BindSourceMissingError(m.source, 'bind', e.found);
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new BindSourceMissingError(m.source, 'bind');
    throw e;
  }
}

/**
 * What a bind mount's source is now, reached as openBindSource reaches it (nothing made);
 * undefined when it is missing or changed.
 */
export async function statBindSource(m: PodBindMount): Promise<fs.Stats | undefined> {
  try {
    const found = await openBindSource(m);
    await found.fh.close();
    return found.stat;
  } catch {
    return undefined;
  }
}
