/**
 * Network namespaces of sandboxes, made and removed by us: each is a namespace file
 * `<root>/<sandbox id>/netns` (the nsfs of a new network namespace bind-mounted on it, as
 * `ip netns add` does under /run/netns, but under our own runtime directory so that one
 * daemon's namespaces are told from another's by path and swept with its other runtime state).
 *
 * The namespace lives while that mount (or a process or device in it) holds it: removing it
 * is an unmount (detached) and the file's removal; the kernel frees the namespace, and the
 * virtual devices in it (the CNI veth end, a VM's tap), once nothing holds it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from '../run';
import { isMountPoint, sharedMounter } from '../../util/mounter';
import { logger } from '../../util/log';

const log = logger('cni');

/** The namespace file of sandbox `id` under `root`. */
export function netnsPath(root: string, id: string): string {
  return path.join(root, id, 'netns');
}

/** Make the network namespace of sandbox `id` (its directory too); an existing one is kept. */
export async function createNetns(root: string, id: string): Promise<string> {
  const file = netnsPath(root, id);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  if (isMountPoint(file)) return file;
  fs.writeFileSync(file, '', { mode: 0o444 });
  // util-linux's unshare binds the new namespace onto the file (--net=FILE) and runs its
  // command in it: the loopback brought up, as runtimes do before CNI runs (the loopback
  // plugin does it again). One process start.
  await run('unshare', [`--net=${file}`, 'ip', 'link', 'set', 'dev', 'lo', 'up']);
  return file;
}

/**
 * Whether the namespace file of sandbox `id` still holds its namespace (the bind mount is
 * there): false once a removal unmounted it, or when it was never made.
 */
export function netnsHeld(root: string, id: string): boolean {
  return isMountPoint(netnsPath(root, id));
}

/** How many mounts on one namespace file a removal takes off before it gives up. */
export const NETNS_MOUNTS_MAX = 8;

/**
 * Remove the namespace file of sandbox `id` and its directory (idempotent). Every mount on
 * the file goes first: a full test run once met a file still mounted after one unmount
 * (its removal then failed with EBUSY), so mounts stacked on it are taken off one by one,
 * NETNS_MOUNTS_MAX at most, and more than one is logged.
 */
export async function removeNetns(root: string, id: string): Promise<void> {
  const file = netnsPath(root, id);
  let taken = 0;
  while (isMountPoint(file) && taken < NETNS_MOUNTS_MAX) {
    await sharedMounter().unmount(file, { detach: true });
    taken++;
  }
  if (taken > 1) log.warn(`sandbox ${id}: its namespace file had ${taken} mounts on it; all were removed`);
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
}

/** The sandbox ids that have a directory under `root`. */
export function listNetnsDirs(root: string): string[] {
  try {
    return fs.readdirSync(root).filter((n) => fs.statSync(path.join(root, n)).isDirectory());
  } catch {
    return [];
  }
}

/** Run a tool inside the namespace of `file` (nsenter --net); resolves its stdout. */
export function inNetns(file: string, cmd: string, args: string[], input?: string): Promise<string> {
  return run('nsenter', [`--net=${file}`, '--', cmd, ...args], input);
}
