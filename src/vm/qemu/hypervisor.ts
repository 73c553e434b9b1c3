/**
 * QemuHypervisor: boots microVMs with QEMU (one virtiofsd per VM serving its share
 * directory), waits for the agent's handshake, and re-adopts VMs a previous daemon left
 * running. The command lines are in cmdline.ts, the runtime directory layout in runtime-dir.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import type { Agent, Hypervisor, Vm, VmConfig, VmDevices, VmSize } from '../types';
import { kernelHas9p, type GuestImages } from '../guest-images';
import { normalizeRequest, planDevices } from '../devices';
import { volumeVirtiofsdArgs } from '../devices/volume-share';
import { InvalidArgumentError, UnavailableError } from '../../errors';
import { logger } from '../../util/log';
import { checkGuestImages, locateQemuTools, type QemuTools } from './binaries';
import { kernelCmdline, qemuArgs, TCG_TB_SIZE_MIB, virtiofsdArgs } from './cmdline';
import { hostTscKhz } from './host-tsc';
import { isValidVmId, readVmRecord, vmPaths, vmsRoot, writeVmRecord, type VmPaths } from './runtime-dir';
import {
  isOurProcess,
  killAndWait,
  processCpuMs,
  setProcessNice,
  signalProcess,
  spawnDetached,
  waitGone,
} from './processes';
import { adoptedProcessEnd, QemuVm, type ProcessEnd } from './qemu-vm';
import { QEMU_NAME, scanVmProcesses, VIRTIOFSD_NAME } from './vm-processes';
import { faultPoint } from './fault';
import { bootFailureDetail, childEnd, cleanupDir, raceBoot, waitForSocket } from './start-steps';
import type { AgentConnector } from './agent-connector';
import { qmpCommand } from './qmp';
import { restoreClone, VmTemplates } from './templates';

const log = logger('vm');

/** Longest path a unix socket can have (sun_path, with its NUL). */
const MAX_SOCKET_PATH = 107;
/** The fd a clone's QEMU gets its template's state file on (the first after stdio). */
const CLONE_STATE_FD = 3;

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

/** Boots QEMU microVMs; see the module comment. */
export class QemuHypervisor implements Hypervisor {
  private readonly bootTimeoutMs: number;
  private readonly adoptTimeoutMs: number;
  private readonly cmdline: string;
  private readonly bootNice: number;
  /** Ids of the VMs this daemon booted or adopted, until they exit: never reclaimed. */
  private readonly own = new Set<string>();
  /** Boots under way (close() waits for them). */
  private readonly booting = new Set<Promise<unknown>>();
  /** The QEMUs of boots and clones under way, until their VM is handed out: close() kills them. */
  private readonly starting = new Set<ChildProcess>();
  private closing = false;
  private lastKernel: string | undefined;
  private readonly templates: VmTemplates | undefined;
  /** Whether new VMs are cloned from templates (the option, and root). */
  private readonly cloning: boolean;

  constructor(private readonly opts: QemuHypervisorOptions) {
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
    this.cloning = (opts.templates ?? true) && this.templates !== undefined;
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
    const boot = this.createVmRetrying(config);
    this.booting.add(boot);
    void boot.then(
      () => this.booting.delete(boot),
      () => this.booting.delete(boot),
    );
    return boot;
  }

  /**
   * Daemon shutdown: no new boots; boots under way are cut short (their QEMU is killed, so
   * each fails at once and removes what it made), so no VM of this daemon is left
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
        return await this.cloneOnce(tools, guest, config, this.templates);
      } catch (err) {
        if (this.closing) throw err;
        log.warn(`${(err as Error).message}; booting instead`);
      }
    }
    try {
      return await this.bootOnce(tools, guest, config);
    } catch (first) {
      log.warn(`${(first as Error).message.split('\n')[0]}; retrying once`);
      if (this.closing) throw first;
      return await this.bootOnce(tools, guest, config);
    }
  }

  /** A boot's QEMU, killed by close() until the boot ends (at once when the daemon is closing already). */
  private startingQemu(qemu: ChildProcess): void {
    this.starting.add(qemu);
    if (this.closing) qemu.kill('SIGKILL');
  }

  /** Track `vm` as ours until it exits. */
  private owned<T extends Vm>(vm: T): T {
    this.own.add(vm.id);
    void vm.exited.then(() => this.own.delete(vm.id));
    return vm;
  }

  /** A new VM's id, its runtime directory with its share (and volume share) directories, and its devices; the id is ours from now on. */
  private newRuntimeDir(config: VmConfig): { id: string; paths: VmPaths; devices: VmDevices } {
    const id = randomBytes(6).toString('hex');
    const paths = vmPaths(this.opts.execRoot, id);
    const devices = planDevices(id, config.devices, paths);
    this.own.add(id);
    fs.mkdirSync(vmsRoot(this.opts.execRoot), { recursive: true, mode: 0o700 });
    fs.mkdirSync(paths.dir, { mode: 0o700 });
    fs.mkdirSync(paths.shareDir, { mode: 0o755 });
    if (devices.volumes) fs.mkdirSync(paths.volumesDir, { mode: 0o755 });
    return { id, paths, devices };
  }

  private async bootOnce(tools: QemuTools, guest: GuestImages, config: VmConfig): Promise<Vm> {
    const started = Date.now();
    const size = config.size;
    const { id, paths, devices } = this.newRuntimeDir(config);
    let virtiofsd: ChildProcess | undefined;
    let volumesVirtiofsd: ChildProcess | undefined;
    let qemu: ChildProcess | undefined;
    let agentPromise: Promise<Agent> | undefined;
    try {
      virtiofsd = await spawnDetached(tools.virtiofsd, virtiofsdArgs(paths), paths.virtiofsdLog);
      faultPoint('after-virtiofsd-spawn');
      await waitForSocket(paths.virtiofsdSock, virtiofsd, 3000, 'virtiofsd');
      faultPoint('after-virtiofsd-socket');
      if (devices.volumes) {
        volumesVirtiofsd = await spawnDetached(tools.virtiofsd, volumeVirtiofsdArgs(paths), paths.volumesLog);
        await waitForSocket(paths.volumesSock, volumesVirtiofsd, 3000, "the volume share's virtiofsd");
      }
      const virtiofsdMs = Date.now() - started;
      qemu = await spawnDetached(
        tools.qemu,
        qemuArgs({
          id,
          size,
          accel: this.opts.accel,
          kernel: guest.kernel,
          initrd: guest.initrd,
          cmdline: this.cmdline,
          paths,
          devices,
          splitWx: this.splitWx(size),
          machineOpts: guest.machineOpts,
        }),
        paths.qemuLog,
      );
      faultPoint('after-qemu-spawn');
      this.startingQemu(qemu);
      if (this.bootNice) setProcessNice(qemu.pid!, this.bootNice);
      const processEnd = childEnd(qemu);
      const virtiofsdEnd = Promise.race([
        childEnd(virtiofsd),
        ...(volumesVirtiofsd ? [childEnd(volumesVirtiofsd)] : []),
      ]);
      writeVmRecord(paths, {
        format: 1,
        id,
        size,
        accel: this.opts.accel,
        qemuPid: qemu.pid!,
        virtiofsdPid: virtiofsd.pid!,
        ...(volumesVirtiofsd ? { volumesVirtiofsdPid: volumesVirtiofsd.pid! } : {}),
        devices,
        createdAt: new Date().toISOString(),
        kernel: guest.kernel,
        initrd: guest.initrd,
      });
      faultPoint('after-vm-json');
      agentPromise = this.opts.connectAgent({
        ctlPath: paths.ctlSock,
        ioPath: paths.ioSock,
        timeoutMs: this.bootTimeoutMs,
      });
      const agent = await raceBoot(agentPromise, Promise.race([processEnd, virtiofsdEnd]), this.bootTimeoutMs + 1000);
      faultPoint('after-agent-connect');
      if (this.closing) {
        agent.close();
        throw new UnavailableError('the daemon is shutting down');
      }
      if (this.bootNice && !setProcessNice(qemu.pid!, 0)) log.debug(`VM ${id}: cannot reset QEMU's nice value`);
      log.debug(
        `VM ${id} booted in ${Date.now() - started} ms (virtiofsd ready after ${virtiofsdMs} ms; QEMU CPU ${processCpuMs(qemu.pid!) ?? '?'} ms; qemu pid ${qemu.pid})`,
      );
      const vm = new QemuVm({
        id,
        size,
        devices,
        paths,
        qemuPid: qemu.pid!,
        virtiofsdPids: [virtiofsd.pid!, ...(volumesVirtiofsd ? [volumesVirtiofsd.pid!] : [])],
        agent,
        processEnd,
        virtiofsdEnd,
        ...(this.splitWx(size) ? { jitBufferBytes: TCG_TB_SIZE_MIB * 1048576 } : {}),
      });
      this.starting.delete(qemu);
      if (this.opts.reclaimAfterBoot ?? true) vm.reclaimBootMemory([guest.kernel, guest.initrd]);
      return this.owned(vm);
    } catch (err) {
      if (qemu) this.starting.delete(qemu);
      // Late agent connections are closed; the processes and the directory go.
      agentPromise?.then(
        (a) => a.close(),
        () => undefined,
      );
      for (const child of [qemu, virtiofsd, volumesVirtiofsd]) if (child?.pid) await killAndWait(child.pid);
      const detail = bootFailureDetail(paths);
      await cleanupDir(paths);
      this.own.delete(id);
      throw new UnavailableError(`VM ${id} failed to boot: ${(err as Error).message}${detail}`);
    }
  }

  /**
   * A VM cloned from the template of its shape (templates.ts): QEMU started with the
   * template's RAM mapped copy-on-write and `-incoming defer`, the template's state loaded, then
   * the agent's handshake, ACTIVATE (wall clock, random pool, rootfs share) and each NIC given
   * this VM's own hardware address (the restored device has the template's).
   */
  private async cloneOnce(tools: QemuTools, guest: GuestImages, config: VmConfig, templates: VmTemplates): Promise<Vm> {
    const size = config.size;
    const splitWx = this.splitWx(size);
    const tpl = await templates.get({
      size,
      devices: normalizeRequest(config.devices),
      guest,
      cmdline: this.cmdline,
      accel: this.opts.accel,
      splitWx,
    });
    const started = Date.now();
    const { id, paths, devices } = this.newRuntimeDir(config);
    let qemu: ChildProcess | undefined;
    let agentPromise: Promise<Agent> | undefined;
    let restored = false;
    let stateFd: number | undefined;
    try {
      stateFd = fs.openSync(tpl.stateFile, 'r'); // close-on-exec, as every fd Node opens
      qemu = await spawnDetached(
        tools.cloneQemu.bin,
        [
          ...tools.cloneQemu.args,
          ...qemuArgs({
            id,
            size,
            accel: this.opts.accel,
            kernel: guest.kernel,
            initrd: guest.initrd,
            cmdline: this.cmdline,
            paths,
            devices,
            splitWx,
            machineOpts: guest.machineOpts,
            transport: '9p',
            ram: { file: tpl.ramFile, share: false },
            incoming: true,
          }),
        ],
        paths.qemuLog,
        [stateFd],
        tools.cloneQemu.env,
      );
      fs.closeSync(stateFd);
      stateFd = undefined;
      faultPoint('clone-after-qemu-spawn');
      this.startingQemu(qemu);
      const processEnd = childEnd(qemu);
      writeVmRecord(paths, {
        format: 1,
        id,
        size,
        accel: this.opts.accel,
        qemuPid: qemu.pid!,
        devices,
        createdAt: new Date().toISOString(),
        kernel: guest.kernel,
        initrd: guest.initrd,
        transport: '9p',
      });
      faultPoint('clone-after-vm-json');
      await waitForSocket(paths.qmpSock, qemu, 3000, 'QEMU');
      await raceBoot(
        restoreClone(paths.qmpSock, CLONE_STATE_FD),
        processEnd,
        this.bootTimeoutMs,
        "the template's state was loaded",
      );
      restored = true;
      const restoredMs = Date.now() - started;
      agentPromise = this.opts.connectAgent({
        ctlPath: paths.ctlSock,
        ioPath: paths.ioSock,
        timeoutMs: this.bootTimeoutMs,
      });
      const agent = await raceBoot(agentPromise, processEnd, this.bootTimeoutMs + 1000);
      faultPoint('clone-after-agent-connect');
      const connectedMs = Date.now() - started;
      if (!agent.activate) throw new Error('the agent cannot be activated');
      await agent.activate({ timeNs: BigInt(Date.now()) * 1_000_000n, entropy: randomBytes(64), mountShare: true });
      const activatedMs = Date.now() - started;
      // Sent together: the agent answers in order, so this costs one round trip, not one per NIC.
      await Promise.all(devices.nics.map((nic) => agent.configureInterface({ name: nic.guestName, setMac: nic.mac })));
      if (this.closing) {
        agent.close();
        throw new UnavailableError('the daemon is shutting down');
      }
      log.debug(
        `VM ${id} cloned from template ${tpl.key} in ${Date.now() - started} ms (state loaded after ${restoredMs} ms, agent connected after ${connectedMs} ms, activated after ${activatedMs} ms; QEMU CPU ${processCpuMs(qemu.pid!) ?? '?'} ms; qemu pid ${qemu.pid})`,
      );
      this.starting.delete(qemu);
      return this.owned(
        new QemuVm({
          id,
          size,
          devices,
          paths,
          qemuPid: qemu.pid!,
          virtiofsdPids: [],
          agent,
          processEnd,
          virtiofsdEnd: new Promise<ProcessEnd>(() => undefined),
          clone: true,
          ...(splitWx ? { jitBufferBytes: TCG_TB_SIZE_MIB * 1048576 } : {}),
        }),
      );
    } catch (err) {
      if (qemu) this.starting.delete(qemu);
      if (stateFd !== undefined) fs.closeSync(stateFd);
      agentPromise?.then(
        (a) => a.close(),
        () => undefined,
      );
      if (qemu?.pid) await killAndWait(qemu.pid);
      const detail = bootFailureDetail(paths);
      await cleanupDir(paths);
      this.own.delete(id);
      // A state that does not load is a bad template: the next clone builds a new one.
      if (!restored) templates.discard(tpl.key);
      throw new UnavailableError(
        `VM ${id} could not be cloned from template ${tpl.key}: ${(err as Error).message}${detail}`,
      );
    }
  }

  /**
   * Re-adopt VM `id` left by an earlier daemon, or clean up what it left: every process whose
   * argv names its runtime directory (vm-processes.ts; found whether or not vm.json was
   * written), its mounts and its directory.
   */
  async adopt(id: string): Promise<Vm | undefined> {
    if (!isValidVmId(id) || this.own.has(id)) return undefined;
    const paths = vmPaths(this.opts.execRoot, id);
    const procs = scanVmProcesses(this.opts.execRoot).filter((p) => p.vmId === id);
    if (!fs.existsSync(paths.dir) && procs.length === 0) return undefined;
    const rec = readVmRecord(paths);
    const qemuPid = rec && isOurProcess(rec.qemuPid, QEMU_NAME, paths.dir) ? rec.qemuPid : undefined;
    const vfsPid =
      rec?.virtiofsdPid && isOurProcess(rec.virtiofsdPid, VIRTIOFSD_NAME, paths.dir) ? rec.virtiofsdPid : undefined;
    const volPid =
      rec?.volumesVirtiofsdPid && isOurProcess(rec.volumesVirtiofsdPid, VIRTIOFSD_NAME, paths.dir)
        ? rec.volumesVirtiofsdPid
        : undefined;
    const discard = async (why: string) => {
      const pids = procs.map((p) => p.pid);
      log.info(
        `VM ${id} is not adoptable (${why}); cleaning up${pids.length ? ` (killing pids ${pids.join(', ')})` : ''}`,
      );
      for (const pid of pids) signalProcess(pid, 'SIGKILL');
      for (const pid of pids) await waitGone(pid, 5000);
      await cleanupDir(paths);
      return undefined;
    };
    if (procs.some((p) => p.pid !== qemuPid && p.pid !== vfsPid && p.pid !== volPid))
      return discard('a process of it is not in vm.json');
    if (!rec || rec.id !== id) return discard('no valid vm.json');
    // A clone (9p) has no virtiofsd: QEMU serves its files.
    if (!qemuPid || (rec.transport !== '9p' && !vfsPid) || (rec.volumesVirtiofsdPid && !volPid))
      return discard('its QEMU or a virtiofsd is gone');
    let agent: Agent | undefined;
    const adoptStart = Date.now();
    try {
      const status = (await qmpCommand(paths.qmpSock, 'query-status')) as { status?: string };
      // A paused guest cannot answer the handshake: thaw it for the handshake only.
      const paused = status?.status === 'paused';
      if (paused) await qmpCommand(paths.qmpSock, 'cont');
      try {
        agent = await this.connectForAdoption(paths);
      } finally {
        if (paused) await qmpCommand(paths.qmpSock, 'stop');
      }
    } catch (err) {
      agent?.close();
      return discard((err as Error).message);
    }
    log.info(`adopted VM ${id} (qemu pid ${qemuPid}) in ${Date.now() - adoptStart} ms`);
    const vfsPids = [vfsPid, volPid].filter((p): p is number => p !== undefined);
    return this.owned(
      new QemuVm({
        id,
        size: rec.size,
        devices: rec.devices ?? { nics: [] },
        paths,
        qemuPid,
        virtiofsdPids: vfsPids,
        agent,
        processEnd: adoptedProcessEnd(qemuPid),
        virtiofsdEnd: vfsPids.length
          ? Promise.race(vfsPids.map(adoptedProcessEnd))
          : new Promise<ProcessEnd>(() => undefined),
        ...(rec.transport === '9p' ? { clone: true } : {}),
      }),
    );
  }

  /**
   * The agent handshake of an adoption, on a fresh connection per attempt: now and then the
   * agent of a VM whose previous host died mid-session does not answer the first SYNC (seen
   * about one adoption in four under TCG), while a new connection is answered at once (~100 ms).
   * Giving up kills a live VM, so the budget (adoptTimeoutMs) is split over three attempts.
   */
  private async connectForAdoption(paths: ReturnType<typeof vmPaths>): Promise<Agent> {
    const attempts = 3;
    let lastErr: unknown;
    for (let i = 1; i <= attempts; i++) {
      try {
        return await this.opts.connectAgent({
          ctlPath: paths.ctlSock,
          ioPath: paths.ioSock,
          timeoutMs: Math.ceil(this.adoptTimeoutMs / attempts),
        });
      } catch (err) {
        lastErr = err;
        log.warn(`adoption handshake attempt ${i}/${attempts} failed: ${(err as Error).message}`);
      }
    }
    throw lastErr;
  }

  /** Whether a VM of `size` gets a split-wx code buffer (TCG, one vCPU, tcgSplitWx). */
  private splitWx(size: VmSize): boolean {
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
