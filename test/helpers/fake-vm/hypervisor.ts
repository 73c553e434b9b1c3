/**
 * The fake hypervisor, its VM handles and an on-demand factory (the Hypervisor, Vm and
 * VmFactory contracts of src/vm/types.ts), for unit tests of the layers above.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Hypervisor, Vm, VmConfig, VmDevices, VmExit, VmFactory, VmSize } from '../../../src/vm/types';
import { normalizeRequest } from '../../../src/vm/devices';
import { randomMac } from '../../../src/vm/devices/nic';
import { UnavailableError } from '../../../src/errors';
import { mountsBelow, sharedMounter } from '../../../src/util/mounter';
import { FAKE_PROGRAMS, type FakeProgram } from './programs';
import { FakeGuest } from './guest';
import { FakeAgent } from './agent';

/** A host handle on a fake guest. */
export class FakeVm implements Vm {
  readonly agent: FakeAgent;
  readonly exited: Promise<VmExit>;
  readonly pid: number;

  constructor(
    readonly guest: FakeGuest,
    readonly shareDir: string,
  ) {
    this.agent = new FakeAgent(guest);
    this.pid = 10000 + Number(guest.id.replace(/\D/g, '') || 0);
    this.exited = new Promise((r) => guest.onExit(r));
  }

  get id(): string {
    return this.guest.id;
  }

  get size(): VmSize {
    return this.guest.size;
  }

  get devices(): VmDevices {
    return this.guest.devices;
  }

  async pause(): Promise<void> {
    if (!this.guest.alive) throw new UnavailableError(`VM ${this.id} is not running`);
    this.guest.setPaused(true);
  }

  async resume(): Promise<void> {
    if (!this.guest.alive) throw new UnavailableError(`VM ${this.id} is not running`);
    this.guest.setPaused(false);
  }

  async destroy(): Promise<void> {
    this.guest.die({ expected: true, reason: 'destroyed by the host' });
    this.guest.hypervisor.forget(this.id);
    await this.guest.hypervisor.releaseHostDirs(this.id);
  }

  async memoryUsage(): Promise<number> {
    return (this.guest.size.memoryMiB * 1024 * 1024) / 4;
  }

  /** The host cgroup parent each placeCgroup asked for, in order (undefined: podvisor's own). */
  readonly cgroupPlacements: Array<string | undefined> = [];

  async placeCgroup(parent: string | undefined): Promise<void> {
    if (!this.guest.alive) throw new UnavailableError(`VM ${this.id} is not running`);
    this.cgroupPlacements.push(parent);
  }

  /** Times trimIdleMemory was called (it changes nothing in the fake). */
  trims = 0;

  async trimIdleMemory(): Promise<void> {
    this.trims++;
  }
}

/** Construction options of the fake hypervisor. */
export interface FakeHypervisorOptions {
  /**
   * Base of the fake share directories. The pod layer really bind-mounts bind sources into a
   * VM's volume share there; destroy unmounts and removes them, as the QEMU runtime's teardown
   * does. Default: a directory of this hypervisor's own under the system's temp directory
   * (created only when something is mounted), so parallel suites never share one.
   */
  shareRoot?: string;
  /** Milliseconds a boot takes (default 0). */
  bootDelayMs?: number;
}

/** Injectable failures for rollback tests. */
export interface FakeFailures {
  /** The next createVm rejects. */
  boot: boolean;
  /** The next createContainer rejects. */
  createContainer: boolean;
}

let hypervisorCount = 0;

/** The fake hypervisor: boots fake guests, adopts surviving ones, crashes them on request. */
export class FakeHypervisor implements Hypervisor {
  /** Programs that processes can run; tests may add their own. */
  readonly programs = new Map<string, FakeProgram>(FAKE_PROGRAMS);
  /** Files every new container starts with (path -> content). */
  rootfsFiles: Record<string, string> = {
    '/etc/passwd':
      'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
    '/etc/group': 'root:x:0:\nwheel:x:10:user\nuser:x:1000:\nnogroup:x:65534:\n',
  };
  readonly failNext: FakeFailures = { boot: false, createContainer: false };
  /** When true, agents stop answering (requests never settle), as a hung guest. */
  hangAgents = false;
  /** Agents built before PROCESS_TABLE (a VM of an older podvisor): processTable is refused. */
  olderAgents = false;
  /** Every guest ever booted, by id (also the dead ones). */
  readonly guests = new Map<string, FakeGuest>();
  /** Number of boots so far. */
  boots = 0;
  private nextId = 1;
  private readonly shareRoot: string;
  private readonly bootDelayMs: number;

  constructor(opts: FakeHypervisorOptions = {}) {
    this.shareRoot = opts.shareRoot ?? path.join(os.tmpdir(), `pv-fake-vms-${process.pid}-${++hypervisorCount}`);
    this.bootDelayMs = opts.bootDelayMs ?? 0;
  }

  async createVm(config: VmConfig): Promise<Vm> {
    const size = config.size;
    const want = normalizeRequest(config.devices);
    if (this.bootDelayMs) await new Promise((r) => setTimeout(r, this.bootDelayMs));
    if (this.failNext.boot) {
      this.failNext.boot = false;
      throw new UnavailableError('VM did not boot: injected failure');
    }
    this.boots++;
    const id = `fakevm${this.nextId++}`;
    const devices: VmDevices = {
      nics: Array.from({ length: want.nics }, (_, i) => ({
        tap: `pv${id}${i}`,
        mac: randomMac(),
        guestName: `eth${i}`,
      })),
      ...(want.volumes
        ? {
            volumes: { hostDir: path.join(this.shareRoot, id, 'volumes'), tag: 'podvisor-vol', cache: 'auto' as const },
          }
        : {}),
    };
    const guest = new FakeGuest(id, { ...size }, this, devices);
    this.guests.set(id, guest);
    // The share directories exist from the boot on, as a real VM's do (the host resolves
    // paths below them, never making them).
    fs.mkdirSync(path.join(this.shareRoot, id, 'share'), { recursive: true, mode: 0o755 });
    if (devices.volumes) fs.mkdirSync(devices.volumes.hostDir, { mode: 0o755 });
    return new FakeVm(guest, path.join(this.shareRoot, id, 'share'));
  }

  async adopt(id: string): Promise<Vm | undefined> {
    const g = this.guests.get(id);
    if (!g || !g.alive) return undefined;
    return new FakeVm(g, path.join(this.shareRoot, id, 'share'));
  }

  /** Unmount whatever the host mounted in VM `id`'s directories, then remove them. */
  async releaseHostDirs(id: string): Promise<void> {
    const dir = path.join(this.shareRoot, id);
    for (const m of mountsBelow(dir))
      await sharedMounter()
        .unmount(m, { detach: true })
        .catch(() => undefined);
    // Never recurse into a source still bound there.
    if (mountsBelow(dir).length > 0) throw new Error(`fake VM ${id}: mounts left under ${dir}`);
    await fs.promises.rm(dir, { recursive: true, force: true });
    await fs.promises.rmdir(this.shareRoot).catch(() => undefined);
  }

  async listRuntimeVms(): Promise<string[]> {
    return [...this.guests.values()].filter((g) => g.alive).map((g) => g.id);
  }

  /** The VM dies on its own (kernel panic, OOM of QEMU...). */
  crash(id: string, reason = 'crashed'): void {
    this.guests.get(id)?.die({ expected: false, reason });
  }

  /** Guests that are still running. */
  running(): FakeGuest[] {
    return [...this.guests.values()].filter((g) => g.alive);
  }

  /** Called by FakeVm.destroy. */
  forget(_id: string): void {
    // Dead guests stay in `guests` for assertions.
  }

  /** Synthetic /proc files for stats and top. */
  procFiles(guest: FakeGuest, p: string): Buffer | undefined {
    const memKiB = guest.size.memoryMiB * 1024;
    switch (p) {
      case '/proc/meminfo':
        return Buffer.from(
          `MemTotal:       ${memKiB} kB\nMemFree:        ${Math.floor(memKiB * 0.7)} kB\nMemAvailable:   ${Math.floor(memKiB * 0.8)} kB\nBuffers:        1024 kB\nCached:         ${Math.floor(memKiB * 0.05)} kB\n`,
        );
      case '/proc/stat': {
        const t = Math.floor(process.uptime() * 100);
        return Buffer.from(
          `cpu  ${t} 0 ${Math.floor(t / 2)} ${t * 10} 0 0 0 0 0 0\ncpu0 ${t} 0 ${Math.floor(t / 2)} ${t * 10} 0 0 0 0 0 0\n`,
        );
      }
      case '/proc/loadavg':
        return Buffer.from(`0.00 0.00 0.00 1/${guest.processes.size + 1} 100\n`);
      default:
        return undefined;
    }
  }
}

/** A VmFactory that boots on demand from a (fake) hypervisor. */
export class FakeFactory implements VmFactory {
  readonly handedOut: Vm[] = [];
  constructor(readonly hypervisor: Hypervisor) {}
  async getVm(config: VmConfig): Promise<Vm> {
    const vm = await this.hypervisor.createVm(config);
    this.handedOut.push(vm);
    return vm;
  }
  async close(): Promise<void> {
    // Nothing is kept idle.
  }
}
