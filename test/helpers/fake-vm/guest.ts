/**
 * What lives "inside" a fake VM: its containers (with a small file tree each), its processes
 * (flow-controlled output, signals with the kernel's default dispositions, a terminal's echo and
 * Ctrl-C) and whether it is up or paused.
 */
import { Readable } from 'node:stream';
import type {
  ContainerSpec,
  SeccompFilter,
  ExitStatus,
  InterfaceInfo,
  ProcessSpec,
  VmDevices,
  VmExit,
  VmSize,
} from '../../../src/vm/types';
import { UnavailableError } from '../../../src/errors';
import type { FakeHypervisor } from './hypervisor';
import { IGNORED_BY_DEFAULT, ProgramExit, SIGINT, SIGKILL } from './programs';

/** An output Readable fed by a program, paced by the consumer. */
class FakeOutput extends Readable {
  private waiters: Array<() => void> = [];
  constructor() {
    super({ highWaterMark: 16 * 1024 });
  }
  override _read(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  /** Wake writers waiting for room (the stream is going away). */
  wake(): void {
    this._read();
  }
  /** Push data; resolves when there is room again. */
  async put(data: Buffer): Promise<void> {
    if (this.destroyed || this.readableEnded) return;
    if (!this.push(data)) await new Promise<void>((r) => this.waiters.push(r));
  }
  finish(): void {
    if (!this.destroyed) this.push(null);
    this._read();
  }
}

/** One process inside a fake guest. */
export class FakeGuestProcess {
  readonly handlers = new Map<number, ((s: number) => void) | 'ignore'>();
  /** Output waiting while no host handle is attached (after agent.close()). */
  private detached: Array<{ stream: 'stdout' | 'stderr'; data: Buffer }> = [];
  stdout: FakeOutput | null = null;
  stderr: FakeOutput | null = null;
  stdinQueue: Buffer[] = [];
  stdinEnded: boolean;
  stdinWaiter: (() => void) | null = null;
  rows: number;
  cols: number;
  status: ExitStatus | null = null;
  failure: Error | null = null;
  private exitListeners: Array<() => void> = [];
  private sleepers = new Set<() => void>();
  /** Set when a signal ends the process; programs then stop at their next await. */
  private killedBy: ExitStatus | null = null;
  /** When it started (for the process table). */
  readonly startedAt = Date.now();

  constructor(
    readonly guest: FakeGuest,
    readonly spec: ProcessSpec,
    readonly pid: number,
  ) {
    this.stdinEnded = !spec.stdin;
    this.rows = spec.rows ?? 24;
    this.cols = spec.cols ?? 80;
  }

  /** Attach new host-side output streams (at start, or after a reattach). */
  attachOutputs(): void {
    this.stdout = new FakeOutput();
    this.stderr = this.spec.terminal ? null : new FakeOutput();
    for (const p of this.detached) (p.stream === 'stderr' && this.stderr ? this.stderr : this.stdout).push(p.data);
    this.detached = [];
    if (!this.running) this.endOutputs();
  }

  /** Drop the host-side streams (agent closed); output is kept until the next attach. */
  detachOutputs(): void {
    for (const o of [this.stdout, this.stderr]) {
      o?.destroy();
      o?.wake();
    }
    this.stdout = null;
    this.stderr = null;
  }

  async emit(stream: 'stdout' | 'stderr', data: Buffer): Promise<void> {
    this.checkAlive();
    await this.guest.gate();
    this.checkAlive();
    if (this.spec.terminal) {
      stream = 'stdout';
      data = Buffer.from(data.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
    }
    const out = stream === 'stdout' ? this.stdout : this.stderr;
    if (!out) {
      this.detached.push({ stream, data });
      return;
    }
    await out.put(data);
    this.checkAlive();
  }

  checkAlive(): void {
    if (this.killedBy) throw new ProgramExit(this.killedBy);
    if (this.failure) throw new ProgramExit({ exitCode: 255 });
  }

  async read(): Promise<Buffer | null> {
    for (;;) {
      this.checkAlive();
      if (this.stdinQueue.length) return this.stdinQueue.shift() as Buffer;
      if (this.stdinEnded) return null;
      await new Promise<void>((r) => (this.stdinWaiter = r));
    }
  }

  input(data: Buffer): void {
    if (this.spec.terminal) {
      // The line discipline: echo, and ^C becomes SIGINT.
      const s = data.toString('latin1');
      if (s.includes('\x03')) {
        this.signal(SIGINT);
        return;
      }
      void this.emit('stdout', data).catch(() => undefined);
    }
    this.stdinQueue.push(data);
    this.wakeStdin();
  }

  closeStdin(): void {
    this.stdinEnded = true;
    this.wakeStdin();
  }

  private wakeStdin(): void {
    const w = this.stdinWaiter;
    this.stdinWaiter = null;
    w?.();
  }

  sleep(ms: number): Promise<void> {
    this.checkAlive();
    return new Promise<void>((resolve, reject) => {
      const wake = () => {
        clearTimeout(t);
        this.sleepers.delete(wake);
        try {
          this.checkAlive();
          resolve();
        } catch (e) {
          reject(e);
        }
      };
      const t = setTimeout(wake, ms);
      this.sleepers.add(wake);
    }).then(() => this.guest.gate());
  }

  signal(sig: number): void {
    if (this.status || this.failure) return;
    const h = sig === SIGKILL ? undefined : this.handlers.get(sig);
    if (h === 'ignore') return;
    if (typeof h === 'function') {
      h(sig);
      return;
    }
    if (IGNORED_BY_DEFAULT.has(sig)) return;
    this.killedBy = { exitCode: 128 + sig, signal: sig };
    this.finish(this.killedBy);
  }

  /** End the program from outside its main flow (a shell trap that runs `exit N`). */
  exitNow(status: ExitStatus): void {
    if (this.status || this.failure) return;
    this.killedBy = status;
    this.finish(status);
  }

  /** Record the exit (once), end the outputs, wake everything that waits. */
  finish(status: ExitStatus): void {
    if (this.status || this.failure) return;
    this.status = status;
    this.endOutputs();
    this.wakeAll();
  }

  fail(err: Error): void {
    if (this.status || this.failure) return;
    this.failure = err;
    this.endOutputs();
    this.wakeAll();
  }

  private endOutputs(): void {
    this.stdout?.finish();
    this.stderr?.finish();
  }

  private wakeAll(): void {
    for (const s of [...this.sleepers]) s();
    this.wakeStdin();
    const l = this.exitListeners;
    this.exitListeners = [];
    for (const f of l) f();
  }

  onDone(f: () => void): void {
    if (this.status || this.failure) f();
    else this.exitListeners.push(f);
  }

  get running(): boolean {
    return !this.status && !this.failure;
  }
}

/** A file system mounted in a fake container (Agent.mount): its own file tree. */
export interface FakeMount {
  files: Map<string, Buffer>;
  readOnly: boolean;
}

/** A fake container: its id, rootfs, small file tree and the mounts on it, by path. */
export interface FakeContainer {
  spec: ContainerSpec;
  files: Map<string, Buffer>;
  mounts: Map<string, FakeMount>;
  /** The seccomp filter its processes start with (Agent.setSeccomp); the fake enforces none. */
  seccomp?: SeccompFilter;
}

/** A route of the fake guest. */
export interface FakeRoute {
  destination: string;
  prefix: number;
  gateway?: string;
  device?: string;
}

/** What lives "inside the VM": containers, processes, and whether it is up. */
export class FakeGuest {
  readonly containers = new Map<string, FakeContainer>();
  readonly processes = new Map<string, FakeGuestProcess>();
  alive = true;
  paused = false;
  exit: VmExit | null = null;
  private nextPid = 100;
  /** When the fake VM "booted": the zero of its processes' start times. */
  readonly bootedAt = Date.now();
  private pauseWaiters: Array<() => void> = [];
  private exitListeners: Array<(e: VmExit) => void> = [];
  /** Requests seen by this guest's agents, for assertions ("createContainer c1", ...). */
  readonly calls: string[] = [];
  /** The guest's network interfaces: lo (up, 127.0.0.1/8), then one down ethN per NIC. */
  readonly interfaces: InterfaceInfo[];
  routes: FakeRoute[] = [];
  /** File trees of the volume share by `<tag>/<subpath>` (every mount of one directory sees the same files). */
  readonly volumeTrees = new Map<string, Map<string, Buffer>>();
  /**
   * File trees of diskdir mounts by `<upper disk>/volumes/<name>`: the fake keeps no disk files,
   * so a directory of a disk lasts as long as the fake VM, whichever container mounts it.
   */
  readonly diskTrees = new Map<string, Map<string, Buffer>>();

  constructor(
    readonly id: string,
    readonly size: VmSize,
    readonly hypervisor: FakeHypervisor,
    readonly devices: VmDevices = { nics: [] },
  ) {
    this.interfaces = [
      { name: 'lo', mac: '00:00:00:00:00:00', mtu: 65536, up: true, address: '127.0.0.1', prefix: 8 },
      ...devices.nics.map((n) => ({ name: n.guestName, mac: n.mac, mtu: 1500, up: false })),
    ];
  }

  allocPid(): number {
    return this.nextPid++;
  }

  /** Resolves at once unless the VM is paused. */
  gate(): Promise<void> {
    if (!this.paused) return Promise.resolve();
    return new Promise((r) => this.pauseWaiters.push(r));
  }

  setPaused(p: boolean): void {
    this.paused = p;
    if (!p) {
      const w = this.pauseWaiters;
      this.pauseWaiters = [];
      for (const f of w) f();
    }
  }

  /** The VM process goes away: every process fails, listeners learn why. */
  die(exit: VmExit): void {
    if (!this.alive) return;
    this.alive = false;
    this.exit = exit;
    const err = new UnavailableError(`VM ${this.id} exited: ${exit.reason}`);
    for (const p of this.processes.values()) p.fail(err);
    this.setPaused(false);
    const l = this.exitListeners;
    this.exitListeners = [];
    for (const f of l) f(exit);
  }

  onExit(f: (e: VmExit) => void): void {
    if (this.exit) f(this.exit);
    else this.exitListeners.push(f);
  }
}
