/**
 * The daemon's data root and exec root are its own: mode 0700, root's alone, made so at every
 * start (an existing directory too), as dockerd closes /var/lib/docker (0710) and
 * /var/run/docker (0700). A guest is assumed to be root, and its files on the host (its
 * rootfs's upper layer, named volumes, the VM's share directory) keep the owners and modes it
 * gives them: a setuid-root program it leaves in a volume must not be reachable by a host user
 * through the data root (docs/design/vm.md, "QEMU confinement").
 */
import * as fs from 'node:fs';

/** Make each of `dirs` (and its missing parents) and set its mode to 0700. */
export function closeDaemonRoots(dirs: string[]): void {
  for (const dir of dirs) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(dir, 0o700);
  }
}
