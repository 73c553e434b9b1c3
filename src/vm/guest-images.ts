/**
 * Which guest kernel and initramfs VMs boot (the daemon's defaults for --kernel and --initrd),
 * all built by the bootstrap (guest/build.sh, scripts/guest-kernel.sh):
 * - podvisor's own kernel (guest/out/podvisor/) when it has been built: everything a VM needs
 *   is built in, so it boots in less than half the CPU time of Debian's kernel
 *   (docs/performance.md). Its VMs need QEMU's microvm with `acpi=off`: its minimal ACPI
 *   cannot read microvm's tables, and with ACPI off QEMU names the virtio-mmio devices on the
 *   kernel command line instead;
 * - else Debian's cloud kernel (guest/out/vmlinux), the fallback when the own kernel is not
 *   built (yet), its build failed, or PODVISOR_GUEST_KERNEL=debian asks for it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PACKAGE_ROOT } from '../util/package-info';

/** Paths of the guest images, and the microvm properties the kernel needs. */
export interface GuestImages {
  kernel: string;
  initrd: string;
  /** Extra `-M microvm,...` properties this kernel needs (e.g. `acpi=off`); none when absent. */
  machineOpts?: string[];
  /**
   * The kernel has virtio-9p built in, so its VMs can be saved and cloned from templates
   * (src/vm/qemu/snapshots/templates.ts); absent: every VM is booted.
   */
  templates?: boolean;
}

/** The images chosen, with a sentence for the daemon's log saying which and why. */
export interface GuestImagesChoice extends GuestImages {
  /** 'own': podvisor's kernel; 'debian': Debian's cloud kernel. */
  flavour: 'own' | 'debian';
  why: string;
}

/**
 * Debian's cloud kernel: guest/out/vmlinux (the uncompressed PVH kernel, faster to boot) when
 * bootstrap could extract it, else guest/out/vmlinuz; guest/out/initramfs.cpio.gz (with the
 * kernel's modules). The files may be missing: the hypervisor says what to run when they are.
 */
export function debianGuestImages(root: string = PACKAGE_ROOT): GuestImages {
  const out = path.join(root, 'guest', 'out');
  const vmlinux = path.join(out, 'vmlinux');
  return {
    kernel: fs.existsSync(vmlinux) ? vmlinux : path.join(out, 'vmlinuz'),
    initrd: path.join(out, 'initramfs.cpio.gz'),
  };
}

/**
 * podvisor's own kernel and its module-less initramfs (guest/out/podvisor/, present once
 * scripts/guest-kernel.sh built one and guest/build.sh assembled its initramfs), or undefined.
 */
export function ownGuestImages(root: string = PACKAGE_ROOT): GuestImages | undefined {
  const dir = path.join(root, 'guest', 'out', 'podvisor');
  const own = {
    kernel: path.join(dir, 'vmlinux'),
    initrd: path.join(dir, 'initramfs.cpio.gz'),
    machineOpts: ['acpi=off'],
  };
  if (!fs.existsSync(own.kernel) || !fs.existsSync(own.initrd)) return undefined;
  return kernelHas9p(path.join(dir, 'config')) ? { ...own, templates: true } : own;
}

/** Whether the kernel config at `configFile` builds in virtio-9p (what a template's VMs need). */
export function kernelHas9p(configFile: string): boolean {
  let config: string;
  try {
    config = fs.readFileSync(configFile, 'utf8');
  } catch {
    return false;
  }
  return ['CONFIG_9P_FS=y', 'CONFIG_NET_9P_VIRTIO=y'].every((line) => config.split('\n').includes(line));
}

/**
 * The default guest: podvisor's own kernel when built, else Debian's (see the module
 * comment). `env.PODVISOR_GUEST_KERNEL=debian` forces Debian's kernel.
 */
export function chooseGuestImages(
  root: string = PACKAGE_ROOT,
  env: NodeJS.ProcessEnv = process.env,
): GuestImagesChoice {
  if (env.PODVISOR_GUEST_KERNEL === 'debian') {
    return {
      ...debianGuestImages(root),
      flavour: 'debian',
      why: "Debian's cloud kernel (PODVISOR_GUEST_KERNEL=debian)",
    };
  }
  const own = ownGuestImages(root);
  if (own) return { ...own, flavour: 'own', why: `podvisor's own kernel (${own.kernel})` };
  return {
    ...debianGuestImages(root),
    flavour: 'debian',
    why: "Debian's cloud kernel: podvisor's own kernel is not built (yet, or its build failed: scripts/guest-kernel.sh says why)",
  };
}

/** Kernel, initramfs and machine properties of the default guest (chooseGuestImages). */
export function defaultGuestImages(root: string = PACKAGE_ROOT): GuestImages {
  const { kernel, initrd, machineOpts, templates } = chooseGuestImages(root);
  return { kernel, initrd, ...(machineOpts ? { machineOpts } : {}), ...(templates ? { templates } : {}) };
}
