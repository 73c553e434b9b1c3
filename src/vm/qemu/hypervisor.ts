/**
 * QemuHypervisor: boots microVMs with QEMU (one virtiofsd per VM serving its share
 * directory), waits for the agent's handshake, and re-adopts VMs a previous daemon left
 * running. The command lines are in cmdline.ts, the runtime directory layout in runtime-dir.ts;
 * the steps of a boot are in boot.ts, of a clone from a template in clone.ts, of an adoption in
 * adopt.ts, the options in start-host.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import type { Hypervisor, RestoreJoinedDisks, Vm, VmConfig, VmDevices, VmSize } from '../types';
import { kernelHas9p, type GuestImages } from '../guest-images';
import { planDevices } from '../devices';
import { InvalidArgumentError, UnavailableError } from '../../errors';
import { logger } from '../../util/log';
import { checkGuestImages, locateQemuTools, type QemuTools } from './binaries';
import { kernelCmdline } from './cmdline';
import { hostTscKhz } from './host-tsc';
import { stampedFiles, warmFileDigests } from './snapshots/save-stamp';
import { isValidVmId, makeRuntimeDir, vmPaths, vmsRoot, type VmPaths } from './runtime-dir';
import { scanVmProcesses } from './processes/vm-processes';
import { templatesRoot, VmTemplates } from './snapshots/templates';
import { sweepVmCgroups, vmCgroupLayout } from './confinement/vm-cgroup';
import type { QemuHypervisorOptions, StartHost } from './start-host';
import { bootVm } from './boot';
import { cloneVm } from './snapshots/clone';
import { adoptVm } from './adopt';
import {
  checkSavedVm,
  forkTemplatesSettled,
  prepareForkTemplate,
  restoreVm,
  saveVm,
  type RestoreDisk,
} from './snapshots/checkpoint';
import { activeJail } from './confinement/jail';

const log = logger('vm');

/** Longest path a unix socket can have (sun_path, with its NUL). */
const MAX_SOCKET_PATH = 107;

/** Boots QEMU microVMs; see the module comment. */
export class QemuHypervisor implements Hypervisor, StartHost {
  readonly bootTimeoutMs: number;
  readonly adoptTimeoutMs: number;
  readonly cmdline: string;
  readonly bootNice: number;
  /** Ids of the VMs this daemon booted or adopted, until they exit: never reclaimed. */
  readonly own = new Set<string>();
  /** Boots, restores and fork template makes under way (close() waits for them). */
  private readonly booting = new Set<Promise<unknown>>();
  /** The QEMUs of boots and clones under way, until their VM is handed out: close() kills them. */
  readonly starting = new Set<ChildProcess>();
  closing = false;
  private lastKernel: string | undefined;
  private readonly templates: VmTemplates | undefined;
  /** Whether new VMs are cloned from templates (the option, and root). */
  private readonly cloning: boolean;

  constructor(readonly opts: QemuHypervisorOptions) {
    this.bootNice = opts.bootNice ?? (process.getuid?.() === 0 ? 10 : 0);
    this.bootTimeoutMs = opts.bootTimeoutMs ?? (opts.accel === 'kvm' ? 5000 : 30_000);
    this.adoptTimeoutMs = opts.adoptTimeoutMs ?? 15000;
    const tscKhz = opts.tscKhz === null ? undefined : (opts.tscKhz ?? hostTscKhz());
    this.cmdline = kernelCmdline({ accel: opts.accel, tscKhz, extra: opts.kernelArgs });
    if (process.getuid?.() === 0) {
      this.templates = new VmTemplates({
        execRoot: opts.execRoot,
        qemu: () => locateQemuTools(this.opts.tools).cloneQemu,
        connectAgent: opts.connectAgent,
        bootTimeoutMs: this.bootTimeoutMs,
      });
      // What a killed daemon left of its templates goes now, whether or not this one clones.
      this.templates
        .sweepOnce()
        .catch((err: Error) => log.warn(`removing the templates an earlier daemon left: ${err.message}`));
    }
    // The cgroups of VMs a killed daemon left (one still running keeps its own).
    if (process.getuid?.() === 0) sweepVmCgroups([vmsRoot(opts.execRoot), templatesRoot(opts.execRoot)]);
    this.cloning = (opts.templates ?? true) && this.templates !== undefined;
    // The digests a save's stamp names (snapshots/save-stamp.ts), read now in the background
    // rather than by the first save or start from a save.
    if (this.templates) {
      try {
        void warmFileDigests(stampedFiles(locateQemuTools(this.opts.tools), this.guestImages()));
      } catch {
        // No QEMU or guest yet: a boot says what is missing.
      }
    }
    const longest = vmPaths(opts.execRoot, 'f'.repeat(12)).virtiofsdSock;
    if (longest.length > MAX_SOCKET_PATH) {
      throw new InvalidArgumentError(`exec root ${opts.execRoot} is too long for unix socket paths (${longest})`);
    }
  }

  /** The guest kernel command line in use. */
  get kernelCmdline(): string {
    return this.cmdline;
  }

  /** Tools and images, checked on every boot so installing them needs no daemon restart. */
  private preflight(): { tools: QemuTools; guest: GuestImages } {
    // A VM this host cannot confine fails here, before anything of it is made, in words that
    // name what is missing (confinement/policy.ts), unless --unconfined-vms.
    if (activeJail()) vmCgroupLayout();
    const tools = locateQemuTools(this.opts.tools);
    const guest = this.guestImages();
    checkGuestImages(guest.kernel, guest.initrd);
    return { tools, guest };
  }

  /** The guest the next boot runs (QemuHypervisorOptions.guest, else the fixed images). */
  private guestImages(): GuestImages {
    const { kernel, initrd, machineOpts } = this.opts;
    // Fixed images can be cloned when the kernel's config beside it builds in 9p (as guest/build.sh leaves it).
    const guest = this.opts.guest?.() ?? {
      kernel,
      initrd,
      machineOpts,
      templates: kernelHas9p(path.join(path.dirname(kernel), 'config')),
    };
    if (guest.kernel !== this.lastKernel) {
      if (this.lastKernel !== undefined) log.info(`VMs now boot ${guest.kernel}`);
      this.lastKernel = guest.kernel;
    }
    return guest;
  }

  /**
   * Whether the next VM will be a clone of a template (templates on, and a guest kernel that
   * can be cloned): ~0.1 s of CPU where a TCG boot costs ~1 s, which the pool weighs when
   * requests wait for VMs (CachedFactory's waiterBoots).
   */
  willClone(): boolean {
    return this.cloning && this.guestImages().templates === true;
  }

  /** Boot a VM; one retry after a failed or hung boot (see types.ts). */
  async createVm(config: VmConfig): Promise<Vm> {
    if (this.closing) throw new UnavailableError('the daemon is shutting down');
    return this.tracked(this.createVmRetrying(config));
  }

  /** Track `work` (a boot, a restore, a fork template's make) until it ends: close() waits for it. */
  private tracked<T>(work: Promise<T>): Promise<T> {
    this.booting.add(work);
    void work.then(
      () => this.booting.delete(work),
      () => this.booting.delete(work),
    );
    return work;
  }

  /**
   * Daemon shutdown: no new boots; boots, restores and fork template makes under way are cut
   * short (their QEMU is killed, so each fails at once and removes what it made, its cgroup
   * too, before the shutdown goes on), so no VM of this daemon is left
   * half-booted or unowned and no shutdown waits for a boot. VMs already handed out are their
   * owners' (running containers' VMs stay for the next daemon).
   */
  async close(): Promise<void> {
    this.closing = true;
    for (const q of this.starting) q.kill('SIGKILL');
    await Promise.allSettled([...this.booting]);
    await this.templates?.close();
  }

  private async createVmRetrying(config: VmConfig): Promise<Vm> {
    const { tools, guest } = this.preflight();
    if (this.cloning && this.templates && guest.templates) {
      try {
        return await cloneVm(this, tools, guest, config, this.templates);
      } catch (err) {
        if (this.closing) throw err;
        log.warn(`${(err as Error).message}; booting instead`);
      }
    }
    try {
      return await bootVm(this, tools, guest, config);
    } catch (first) {
      log.warn(`${(first as Error).message.split('\n')[0]}; retrying once`);
      if (this.closing) throw first;
      return await bootVm(this, tools, guest, config);
    }
  }

  /** A boot's QEMU, killed by close() until the boot ends (at once when the daemon is closing already). */
  startingQemu(qemu: ChildProcess): void {
    this.starting.add(qemu);
    if (this.closing) qemu.kill('SIGKILL');
  }

  /** Track `vm` as ours until it exits. */
  owned<T extends Vm>(vm: T): T {
    this.own.add(vm.id);
    void vm.exited.then(() => this.own.delete(vm.id));
    return vm;
  }

  /** A new VM's id, its runtime directory with its share (and volume share) directories, and its devices; the id is ours from now on. */
  newRuntimeDir(config: VmConfig): { id: string; paths: VmPaths; devices: VmDevices } {
    const id = randomBytes(6).toString('hex');
    const paths = vmPaths(this.opts.execRoot, id);
    const devices = planDevices(id, config.devices, paths);
    this.own.add(id);
    fs.mkdirSync(vmsRoot(this.opts.execRoot), { recursive: true, mode: 0o700 });
    makeRuntimeDir(paths, devices.volumes !== undefined);
    return { id, paths, devices };
  }

  /**
   * Re-adopt VM `id` left by an earlier daemon, or clean up what it left (adopt.ts).
   */
  adopt(id: string): Promise<Vm | undefined> {
    return adoptVm(this, id);
  }

  /** @inheritdoc */
  saveVm(vm: Vm, dir: string, opts: Parameters<NonNullable<Hypervisor['saveVm']>>[2]): Promise<void> {
    const { tools, guest } = this.preflight();
    return saveVm(this, tools, guest, vm, dir, opts);
  }

  /** @inheritdoc */
  async restoreVm(
    dir: string,
    disk?: RestoreDisk,
    opts?: { fork?: boolean; joined?: RestoreJoinedDisks },
  ): Promise<Vm> {
    if (this.closing) throw new UnavailableError('the daemon is shutting down');
    const { tools, guest } = this.preflight();
    // Tracked as a boot is: close() kills its QEMU (startingQemu) and waits until it has cleaned up.
    return this.tracked(restoreVm(this, tools, guest, dir, disk, opts));
  }

  /** @inheritdoc */
  prepareForkTemplate(dir: string): Promise<void> {
    if (this.closing) return Promise.reject(new UnavailableError('the daemon is shutting down'));
    const { tools, guest } = this.preflight();
    // Tracked as a boot is: close() kills its QEMU and waits until it has cleaned up.
    return this.tracked(prepareForkTemplate(this, tools, guest, dir));
  }

  /** @inheritdoc */
  checkSavedVm(dir: string): void {
    const { tools, guest } = this.preflight();
    checkSavedVm(this, tools, guest, dir);
  }

  /** @inheritdoc */
  forkTemplatesSettled(dir: string): Promise<void> {
    return forkTemplatesSettled(dir);
  }

  /** Whether a VM of `size` gets a split-wx code buffer (TCG, one vCPU, tcgSplitWx). */
  splitWx(size: VmSize): boolean {
    return this.opts.accel === 'tcg' && size.cpus === 1 && (this.opts.tcgSplitWx ?? true);
  }

  /**
   * Ids of the VMs an earlier daemon left: runtime directories under `<execRoot>/vms`, and VM
   * processes whose argv names one (a daemon killed before it wrote anything leaves only
   * those).
   */
  async listRuntimeVms(): Promise<string[]> {
    let dirs: string[] = [];
    try {
      dirs = fs.readdirSync(vmsRoot(this.opts.execRoot)).filter(isValidVmId);
    } catch {
      // no vms/ yet
    }
    const ids = new Set([...dirs, ...scanVmProcesses(this.opts.execRoot).map((p) => p.vmId)]);
    return [...ids];
  }

  /** Whether this daemon booted or adopted VM `id` and it has not exited (never reclaimed). */
  ownsVm(id: string): boolean {
    return this.own.has(id);
  }
}
