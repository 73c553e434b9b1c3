/**
 * Where the guest kernel and initramfs built by guest/build.sh are (the daemon's defaults for
 * --kernel and --initrd).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PACKAGE_ROOT } from '../util/package-info';

/** Paths of the guest images. */
export interface GuestImages {
  kernel: string;
  initrd: string;
}

/**
 * guest/out/vmlinux (the uncompressed PVH kernel, faster to boot) when bootstrap could extract
 * it, else guest/out/vmlinuz; guest/out/initramfs.cpio.gz. The files may be missing: the
 * hypervisor says what to run when they are.
 */
export function defaultGuestImages(root: string = PACKAGE_ROOT): GuestImages {
  const out = path.join(root, 'guest', 'out');
  const vmlinux = path.join(out, 'vmlinux');
  return {
    kernel: fs.existsSync(vmlinux) ? vmlinux : path.join(out, 'vmlinuz'),
    initrd: path.join(out, 'initramfs.cpio.gz'),
  };
}

/**
 * podvisor's own kernel and its module-less initramfs (guest/out/podvisor/, present when
 * scripts/guest-kernel.sh built one), or undefined. Not the default yet: it boots only with
 * QEMU's microvm acpi=off (QemuHypervisor's machineOpts), and the test suites have not run on
 * it (docs/performance.md).
 */
export function ownGuestImages(root: string = PACKAGE_ROOT): GuestImages | undefined {
  const dir = path.join(root, 'guest', 'out', 'podvisor');
  const own = { kernel: path.join(dir, 'vmlinux'), initrd: path.join(dir, 'initramfs.cpio.gz') };
  return fs.existsSync(own.kernel) && fs.existsSync(own.initrd) ? own : undefined;
}
