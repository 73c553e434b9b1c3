/**
 * QemuHypervisor's options, and StartHost: the part of the hypervisor that its VM start steps
 * (boot.ts, clone.ts, adopt.ts) work with (its settings, the VMs it owns, the QEMUs of starts
 * under way that close() kills).
 */
import type { ChildProcess } from 'node:child_process';
import type { Vm, VmConfig, VmDevices, VmSize } from '../types';
import type { GuestImages } from '../guest-images';
import type { AgentConnector } from './agent-connector';
import type { QemuTools } from './binaries';
import type { VmPaths } from './runtime-dir';
import type { QemuArgsOptions } from './cmdline';

/** Configuration of QemuHypervisor. */
export interface QemuHypervisorOptions {
  /** Runtime root; VMs live in `<execRoot>/vms/<id>/`. */
  execRoot: string;
  /** Guest kernel (guest/out/vmlinux, or a bzImage) and initramfs. */
  kernel: string;
  initrd: string;
  /** Acceleration, decided by resolveAccel (src/vm/accel.ts). */
  accel: 'kvm' | 'tcg';
  /** How to reach the agent (AgentClient.connect in the daemon). */
  connectAgent: AgentConnector;
  /** Explicit paths of qemu-system-x86_64 and virtiofsd (default: searched). */
  tools?: Partial<QemuTools>;
  /** Boot deadline per attempt, to agent handshake (default 30 s under TCG: a boot takes ~2 s of one core, and on a loaded 2-core host measured boots passed 10 s; 5 s with KVM). */
  bootTimeoutMs?: number;
  /** Budget for the agent handshake when adopting a running VM, over 3 attempts (default 15 s). */
  adoptTimeoutMs?: number;
  /** Extra guest kernel parameters. */
  kernelArgs?: string[];
  /** Extra microvm machine properties the kernel needs (e.g. `acpi=off`: GuestImages.machineOpts). */
  machineOpts?: string[];
  /**
   * The guest to boot, asked before every boot instead of kernel, initrd and machineOpts: the
   * daemon passes its choice of kernel (guest-images.ts), so a kernel the bootstrap builds in
   * the background is booted as soon as it is there, without a restart.
   */
  guest?: () => GuestImages;
  /** Host TSC kHz for TCG guests; default read from the host, null to never pass it. */
  tscKhz?: number | null;
  /**
   * Nice value of QEMU while it boots (default 10 when running as root, else 0 = off): a
   * booting VM (a pool refill, typically) yields the CPU to running VMs, so the container
   * just handed a warm VM does not share its core with the next boot. Back to 0 once booted.
   */
  bootNice?: number;
  /**
   * After each boot, hand the memory the boot no longer needs back to the host (post-boot-reclaim.ts:
   * QEMU's kernel and initramfs mappings paged out, a short balloon squeeze); default true.
   * It runs in the background once the agent answered, so it never delays a boot.
   */
  reclaimAfterBoot?: boolean;
  /**
   * TCG with one vCPU: allocate the code buffer with split-wx (a memfd mapped twice), so that
   * the idle trim can punch its dead tail (jit-trim.ts); default true. Measured: -14.7 MiB PSS
   * per idle pool VM, boot and warm start unchanged (docs/performance.md).
   */
  tcgSplitWx?: boolean;
  /**
   * Start VMs from templates (templates.ts) when the guest kernel can (GuestImages.templates;
   * for fixed images, its config file beside the kernel builds in 9p) and the daemon runs as
   * root (QEMU serves 9p shares as root); default true. A clone that cannot be made falls back
   * to a boot.
   */
  templates?: boolean;
}

/** What QemuHypervisor lends the steps that boot, clone and adopt its VMs. */
export interface StartHost {
  readonly opts: QemuHypervisorOptions;
  /** The guest kernel command line. */
  readonly cmdline: string;
  /** Boot deadline per attempt, to the agent's handshake. */
  readonly bootTimeoutMs: number;
  /** Budget for the agent handshake of an adoption. */
  readonly adoptTimeoutMs: number;
  /** Nice value of QEMU while it boots (0: off). */
  readonly bootNice: number;
  /** True once close() was called: no VM is handed out any more. */
  readonly closing: boolean;
  /** Ids of the VMs this daemon booted or adopted, until they exit: never reclaimed. */
  readonly own: Set<string>;
  /** The QEMUs of boots and clones under way, until their VM is handed out: close() kills them. */
  readonly starting: Set<ChildProcess>;
  /** A new VM's id, runtime directory and devices; the id is owned from now on. */
  newRuntimeDir(config: VmConfig): { id: string; paths: VmPaths; devices: VmDevices };
  /** A start's QEMU, killed by close() until the start ends. */
  startingQemu(qemu: ChildProcess): void;
  /** Track `vm` as owned until it exits. */
  owned<T extends Vm>(vm: T): T;
  /** Whether a VM of `size` gets a split-wx code buffer. */
  splitWx(size: VmSize): boolean;
}

/**
 * The qemuArgs fields a boot and a clone on host `h` share: its accelerator and kernel command
 * line, and the guest's kernel, initramfs and machine options.
 */
export function hostQemuOptions(
  h: StartHost,
  guest: GuestImages,
): Pick<QemuArgsOptions, 'accel' | 'kernel' | 'initrd' | 'cmdline' | 'machineOpts'> {
  return {
    accel: h.opts.accel,
    kernel: guest.kernel,
    initrd: guest.initrd,
    cmdline: h.cmdline,
    machineOpts: guest.machineOpts,
  };
}
