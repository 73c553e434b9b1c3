/**
 * The option string of a container's overlay mount (./rootfs.ts): `lowerdir` top layer first,
 * absolute paths while the whole string fits in the kernel's one page of mount options, else
 * relative paths through the container directory's short `l/<n>` links, mounted with that
 * directory as the working directory (Docker's overlay2 does the same with its `l/`).
 */
import * as path from 'node:path';

/** Most layers a container rootfs may have (Docker's limit). */
export const MAX_LAYERS = 128;
/** Size of the kernel's mount option page, minus a safety margin. */
export const MOUNT_OPTIONS_MAX = 4096 - 64;

/** The overlay mount options for a layer list (lowest first), absolute or relative form. */
export function overlayOptions(layers: string[], dir: string): { options: string; cwd?: string; links: boolean } {
  const top = layers.slice().reverse();
  const abs = `lowerdir=${top.join(':')},upperdir=${path.join(dir, 'upper')},workdir=${path.join(dir, 'work')}`;
  if (abs.length <= MOUNT_OPTIONS_MAX) return { options: abs, links: false };
  const rel = `lowerdir=${top.map((_l, i) => `l/${layers.length - 1 - i}`).join(':')},upperdir=upper,workdir=work`;
  return { options: rel, cwd: dir, links: true };
}
