/**
 * What a guest kernel has, from its `uname -r` (read in a container): podvisor's own kernel
 * is built from Debian's linux-source-6.1 (scripts/guest-kernel.sh; 6.12 was tried and kept
 * out for its slower 9p, docs/performance.md), Debian's cloud kernel 6.1 is the fallback.
 * Tests whose expected results are the guest kernel's (overlayfs' O_TMPFILE since 6.6 and in
 * our own build, user.* xattrs on tmpfs since 6.6, our 9p changes in guest/kernel/patches) ask
 * here, so they hold on either side of 6.6 and on either kernel.
 */

/** True when the kernel release `release` (`6.12.117-podvisor`, `6.1.0-56-cloud-amd64`) is `major.minor` or newer. */
export function kernelAtLeast(release: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release.trim());
  if (!m) throw new Error(`not a kernel release: ${JSON.stringify(release)}`);
  const [got, gotMinor] = [Number(m[1]), Number(m[2])];
  return got > major || (got === major && gotMinor >= minor);
}

/**
 * True when the kernel release is podvisor's own build (CONFIG_LOCALVERSION `-podvisor`), which
 * carries guest/kernel/patches: over 9p, flock is apart from POSIX locks, and fallocate and
 * O_TMPFILE work; overlayfs has O_TMPFILE. Debian's cloud kernel (the fallback) has none of it.
 */
export function ownGuestKernel(release: string): boolean {
  return /-podvisor$/.test(release.trim());
}
