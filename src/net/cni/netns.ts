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

/** Remove the namespace file of sandbox `id` and its directory (idempotent). */
export async function removeNetns(root: string, id: string): Promise<void> {
  const file = netnsPath(root, id);
  if (isMountPoint(file)) await sharedMounter().unmount(file, { detach: true });
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
