/**
 * VM factories that wrap one another (Kata's factory/ and runV's VM pool):
 *
 *   DirectFactory(hypervisor)              boots a VM for every request
 *   CachedFactory(n, inner, defaultConfig) keeps n idle VMs of the default configuration (size
 *                                          and devices) booted, refilled in the background;
 *                                          requests it does not fit go straight to `inner`
 *
 * Growth: by default the cache holds n VMs and boots one at a time. With `maxCapacity` above n
 * it follows demand (pool-demand.ts): while requests arrive, it keeps about as many VMs ready
 * or booting as are handed out during one boot, up to `maxCapacity`, and goes back to n once
 * requests stop (idle VMs above the target are destroyed after `shrinkAfterMs`). With
 * `maxParallel` above 1 it runs a further refill boot beside the others only while the host
 * has an idle core for it.
 *
 * A request fits the default configuration when it asks for the same size and for no device
 * the default lacks (devicesFit, src/vm/devices: a pool VM with a NIC serves a request for
 * none; that NIC then stays down, so the container has loopback only, as `--network none`).
 * Getting a fitting VM from a warm CachedFactory never waits for a boot. When the cache is
 * empty, a request claims the boot already under way (it is the one that finishes first) or,
 * with none under way, asks `inner` directly.
 *
 * Warming: with the `warm` option, idle VMs run that step (e.g. a container rehearsal,
 * src/vm/rehearsal.ts) in the background, one at a time, but only while the pool is quiet: no
 * request for `warmWhenQuietMs` and no boot under way. A booted VM goes idle at once, and a
 * request takes a warmed idle VM first, else an unwarmed one. So during a burst of requests no
 * CPU goes to warming (each warming costs more CPU than it saves the container that gets the
 * VM: docs/performance-log.md, "Where the CPU of a start goes") and no request waits for one, while
 * after a pause the next request gets a warmed VM. A VM asked for directly (empty cache,
 * nothing booting) or claimed by a request waiting for its boot is never warmed. A VM whose
 * warming fails or takes longer than `warmTimeoutMs` is destroyed and replaced. After
 * WARM_FAILURE_LIMIT such failures in a row the step is switched off (logged), so a broken
 * warming step costs speed, never the pool. While the step runs, the VM belongs to it alone:
 * it is not in the idle list, and a request that finds no idle VM waits for the warming (or a
 * boot) to end (the trim at the step's end, Vm.trimIdleMemory, relies on nobody else talking
 * to the VM).
 *
 * Room for what comes next:
 * - A template factory (boot once, save the booted VM, start clones from the saved state) is
 *   another VmFactory that slots in as CachedFactory's `inner`. QEMU will not migrate (save) a
 *   VM with a vhost-user-fs device, so it must add the virtio-fs device after the clone starts.
 * - Handing a VM back for reuse (the seeds' idle VM, `replace`): once the agent has destroyed
 *   every container and the host has unmounted everything under shareDir, a `release(vm)`
 *   method can put the VM back into `idle` (when it has the default size and the cache is not
 *   full; otherwise destroy it). It goes through the same `addIdle` as a fresh VM, so a VM that
 *   dies while idle is discarded and replaced the same way.
 */
import type { Vm, VmConfig, VmFactory, VmSize, Hypervisor } from './types';
import { devicesFit } from './devices';
import { PoolDemand } from './pool-demand';
import { UnavailableError } from '../errors';
import { logger } from '../util/log';

const log = logger('pool');

/** Boots a new VM for every request. */
export class DirectFactory implements VmFactory {
  constructor(private readonly hypervisor: Hypervisor) {}

  /** Boot a VM of this configuration (waits for the boot). */
  getVm(config: VmConfig): Promise<Vm> {
    return this.hypervisor.createVm(config);
  }

  /** Holds nothing. */
  async close(): Promise<void> {}
}

/** Tuning of CachedFactory's background refill. */
export interface CachedFactoryOptions {
  /** First delay before retrying after a failed background boot (default 1 s; doubles). */
  retryDelayMs?: number;
  /** Longest delay between retries (default 60 s). */
  maxRetryDelayMs?: number;
  /** Run on each idle VM once the pool is quiet (see the module comment). */
  warm?: (vm: Vm) => Promise<void>;
  /** Longest a `warm` step may take (default 30 s). */
  warmTimeoutMs?: number;
  /** How long after the last request idle VMs start to be warmed (default WARM_WHEN_QUIET_MS). */
  warmWhenQuietMs?: number;
  /** Delay between handing out an idle VM and starting its refill boot (default REFILL_DELAY_MS; 0: at once). */
  refillDelayMs?: number;
  /** Most VMs kept ready or booting when demand is high (default: the capacity, no growth). */
  maxCapacity?: number;
  /** Most background boots at once (default 1); more only while a core is idle. */
  maxParallel?: number;
  /**
   * Most background boots at once while more requests wait than boots are under way, idle
   * cores or not (default 1; asked at each refill). Worth more than one only where a boot is
   * cheap: a clone of a template (~0.1 s of CPU; two at once on 2 cores brought ten
   * simultaneous `docker run -d` 1.55 -> 1.47 s, four 1.48 s against two's 1.41 s), never a
   * TCG boot (ten of those at once on 2 cores overran the boot deadline).
   */
  waiterBoots?: () => number;
  /** How long idle VMs above the demand target are kept before they are destroyed (default 30 s). */
  shrinkAfterMs?: number;
  /** Idle host cores now (default: measured from /proc/stat; tests). */
  idleCores?: () => number;
  /** The demand policy itself (tests: one with their own clock); overrides the three above. */
  demand?: PoolDemand;
}

interface Waiter {
  resolve(vm: Vm): void;
  reject(err: Error): void;
}

/** Warming failures in a row after which CachedFactory stops warming. */
export const WARM_FAILURE_LIMIT = 3;

/** How long after handing out an idle VM the cache starts its refill boot (see getVm). */
export const REFILL_DELAY_MS = 100;

/**
 * How long without a request before idle VMs are warmed: longer than the gaps inside a series
 * of starts (back to back, a script's loop: 0.1-0.3 s here), so a series never waits for a
 * warming, and short enough that a pause of a second or two leaves the pool warmed.
 */
export const WARM_WHEN_QUIET_MS = 1000;

function sameSize(a: VmSize, b: VmSize): boolean {
  return a.memoryMiB === b.memoryMiB && a.cpus === b.cpus;
}

/** Whether a VM booted as `have` serves a request for `want` (see the module comment). */
export function configFits(have: VmConfig, want: VmConfig): boolean {
  return sameSize(have.size, want.size) && devicesFit(have.devices, want.devices);
}

/** Keeps `capacity` idle VMs of `defaultConfig` ready (see the module comment). */
export class CachedFactory implements VmFactory {
  private readonly idle: Vm[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly fullListeners: Array<() => void> = [];
  /** Background boots under way. */
  private readonly booting = new Set<Promise<void>>();
  private readonly demand: PoolDemand;
  private readonly shrinkAfterMs: number;
  private shrinkTimer: NodeJS.Timeout | undefined;
  private started = false;
  private closed = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly retryDelayMs: number;
  private readonly refillDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private warm: ((vm: Vm) => Promise<void>) | undefined;
  private warmFailures = 0;
  /** The VMs the warming step runs in now (at most one), and the warmings under way. */
  private readonly warming = new Set<Vm>();
  private readonly warmings = new Set<Promise<void>>();
  /** VMs whose warming step has run. */
  private readonly warmedVms = new WeakSet<Vm>();
  private readonly warmTimeoutMs: number;
  private readonly warmWhenQuietMs: number;
  private readonly waiterBoots: () => number;
  private warmTimer: NodeJS.Timeout | undefined;
  /** When the last request for a pool VM came (ms, Date.now()). */
  private lastRequestAt = 0;

  constructor(
    private readonly capacity: number,
    private readonly inner: VmFactory,
    private readonly defaultConfig: VmConfig,
    opts: CachedFactoryOptions = {},
  ) {
    this.retryDelayMs = opts.retryDelayMs ?? 1000;
    this.maxRetryDelayMs = opts.maxRetryDelayMs ?? 60_000;
    this.warm = opts.warm;
    this.refillDelayMs = opts.refillDelayMs ?? REFILL_DELAY_MS;
    this.warmTimeoutMs = opts.warmTimeoutMs ?? 30_000;
    this.warmWhenQuietMs = opts.warmWhenQuietMs ?? WARM_WHEN_QUIET_MS;
    this.waiterBoots = opts.waiterBoots ?? (() => 1);
    this.shrinkAfterMs = opts.shrinkAfterMs ?? 30_000;
    this.demand =
      opts.demand ??
      new PoolDemand({
        base: capacity,
        max: Math.max(capacity, opts.maxCapacity ?? capacity),
        maxParallel: Math.max(1, opts.maxParallel ?? 1),
        ...(opts.idleCores ? { idleCores: opts.idleCores } : {}),
      });
  }

  /** VMs the cache aims to hold now (its capacity, more while demand is high). */
  get target(): number {
    return this.demand.target();
  }

  /** Start filling the cache in the background. */
  start(): void {
    if (this.closed) return;
    this.started = true;
    this.pump();
  }

  /** Idle VMs ready to hand out now. */
  get idleCount(): number {
    return this.idle.length;
  }

  /** Resolves once the cache holds `capacity` idle VMs, each warmed when warming is on (or is closed). */
  whenFull(): Promise<void> {
    if (this.closed || this.isFull()) return Promise.resolve();
    return new Promise((r) => this.fullListeners.push(r));
  }

  private isFull(): boolean {
    return this.idle.length >= this.capacity && (!this.warm || this.idle.every((vm) => this.warmedVms.has(vm)));
  }

  private notifyIfFull(): void {
    if (this.isFull()) for (const l of this.fullListeners.splice(0)) l();
  }

  /** A VM for `config`: from the cache when the default configuration fits it and one is idle. */
  async getVm(config: VmConfig): Promise<Vm> {
    if (this.closed) throw new UnavailableError('the VM pool is shut down');
    if (!configFits(this.defaultConfig, config)) return this.inner.getVm(config);
    this.demand.arrived();
    this.lastRequestAt = Date.now();
    // Warmed VMs are at the front of the idle list (warmOne puts them there).
    const vm = this.idle.shift();
    if (vm) {
      // The refill boot starts a moment after the caller got its VM (REFILL_DELAY_MS): spawning
      // virtiofsd and QEMU blocks the event loop for a few ms and the new QEMU's start takes a
      // core, both of which would otherwise land on the caller's first requests to its VM.
      if (this.refillDelayMs > 0) setTimeout(() => this.pump(), this.refillDelayMs).unref();
      else this.pump();
      return vm;
    }
    // With boots (or a warming) under way, wait for one rather than boot beside them: under TCG
    // a boot keeps a core busy, and ten requests that each booted at once on 2 cores overran the
    // boot deadline (bench/run.ts, 10 in parallel). pump() adds boots for the waiters while
    // cores are idle.
    if (this.booting.size > 0 || this.warming.size > 0) {
      const waiting = new Promise<Vm>((resolve, reject) => this.waiters.push({ resolve, reject }));
      this.pump();
      return waiting;
    }
    const direct = this.inner.getVm(this.defaultConfig);
    this.pump();
    return direct;
  }

  /** Destroy the idle VMs and any VM still booting for the cache; refuse further requests. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.shrinkTimer);
    clearTimeout(this.warmTimer);
    for (const w of this.waiters.splice(0)) w.reject(new UnavailableError('the VM pool is shut down'));
    for (const l of this.fullListeners.splice(0)) l();
    const idle = this.idle.splice(0);
    // A VM being warmed goes at once: its warming then fails, and ends after the destroy.
    for (const vm of this.warming) void destroyQuietly(vm);
    await Promise.all([...idle.map((vm) => destroyQuietly(vm)), ...this.booting, ...this.warmings]);
  }

  /**
   * Start background boots while the cache (or the requests waiting) needs VMs: up to the
   * demand target, one at a time unless PoolDemand allows another beside those under way.
   */
  private pump(): void {
    if (this.closed || !this.started || this.retryTimer) return;
    const target = this.demand.target();
    const mayBoot = () =>
      (this.waiters.length > this.booting.size && this.booting.size < this.waiterBoots()) ||
      this.demand.mayBoot(this.booting.size);
    // A VM under warming comes back (to a waiter or the idle list) when its step ends.
    while (this.idle.length + this.warming.size + this.booting.size < target + this.waiters.length && mayBoot())
      this.bootOne();
    if (this.idle.length > target) this.scheduleShrink();
  }

  /** Destroy idle VMs above the demand target once they stayed surplus for `shrinkAfterMs`. */
  private scheduleShrink(): void {
    if (this.shrinkTimer) return;
    this.shrinkTimer = setTimeout(() => {
      this.shrinkTimer = undefined;
      const surplus = this.idle.length - this.demand.target();
      if (this.closed || surplus <= 0) return;
      for (const vm of this.idle.splice(0, surplus)) void destroyQuietly(vm);
      log.info(`VM pool: ${surplus} idle VM(s) above the demand target destroyed (${this.idle.length} kept)`);
    }, this.shrinkAfterMs);
    this.shrinkTimer.unref();
  }

  /** One background boot for the cache or the first waiting request. */
  private bootOne(): void {
    const started = this.demand.now();
    const boot: Promise<void> = this.inner.getVm(this.defaultConfig).then(
      (vm) => {
        this.booting.delete(boot);
        this.failures = 0;
        this.demand.booted(this.demand.now() - started);
        if (this.closed) return destroyQuietly(vm);
        const waiter = this.waiters.shift();
        if (waiter) waiter.resolve(vm);
        else this.addIdle(vm);
        this.pump();
        this.scheduleWarm();
      },
      (err: Error) => {
        this.booting.delete(boot);
        this.failures++;
        // The requests no other boot under way can serve get the error.
        for (const w of this.waiters.splice(this.booting.size)) w.reject(err);
        if (this.closed) return;
        const delay = Math.min(this.retryDelayMs * 2 ** (this.failures - 1), this.maxRetryDelayMs);
        log.warn(`background VM boot failed (${this.failures} in a row), next try in ${delay} ms: ${err.message}`);
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.pump();
        }, delay);
        this.retryTimer.unref();
      },
    );
    this.booting.add(boot);
  }

  /**
   * Warm the next unwarmed idle VM once the pool is quiet: no warming and no boot under way,
   * and no request for warmWhenQuietMs (until then a timer asks again).
   */
  private scheduleWarm(): void {
    if (!this.warm || this.closed || this.warmTimer || this.warming.size > 0 || this.booting.size > 0) return;
    const vm = [...this.idle].reverse().find((v) => !this.warmedVms.has(v));
    if (!vm) return;
    const wait = this.lastRequestAt + this.warmWhenQuietMs - Date.now();
    if (wait > 0) {
      this.warmTimer = setTimeout(() => {
        this.warmTimer = undefined;
        this.scheduleWarm();
      }, wait);
      this.warmTimer.unref();
      return;
    }
    this.idle.splice(this.idle.indexOf(vm), 1);
    const w = this.warmOne(vm).finally(() => this.warmings.delete(w));
    this.warmings.add(w);
  }

  /** Run the warming step on `vm` (taken off the idle list); then hand it to a waiter or put it first in the idle list. */
  private async warmOne(vm: Vm): Promise<void> {
    const warm = this.warm!;
    let timer: NodeJS.Timeout | undefined;
    const started = Date.now();
    this.warming.add(vm);
    try {
      await Promise.race([
        warm(vm),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new UnavailableError(`took longer than ${this.warmTimeoutMs} ms`)),
            this.warmTimeoutMs,
          );
        }),
      ]);
      this.warmFailures = 0;
      this.warmedVms.add(vm);
      log.debug(`VM ${vm.id} warmed in ${Date.now() - started} ms`);
    } catch (err) {
      this.warming.delete(vm);
      await destroyQuietly(vm);
      if (this.closed) return;
      log.warn(`warming VM ${vm.id} failed: ${(err as Error).message}`);
      if (++this.warmFailures >= WARM_FAILURE_LIMIT) {
        this.warm = undefined;
        log.error(`warming pool VMs failed ${this.warmFailures} times in a row; VMs go idle unwarmed from now on`);
      }
      this.notifyIfFull();
      this.pump();
      return;
    } finally {
      clearTimeout(timer);
      this.warming.delete(vm);
    }
    if (this.closed) return destroyQuietly(vm);
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter.resolve(vm);
    } else {
      // Watched already (addIdle): a VM that died meanwhile is found by its exit watcher.
      this.idle.unshift(vm);
      this.notifyIfFull();
    }
    this.scheduleWarm();
  }

  /** Put a VM into the idle list and watch it: a VM that dies while idle is replaced. */
  private addIdle(vm: Vm): void {
    this.idle.push(vm);
    void vm.exited.then((exit) => {
      const i = this.idle.indexOf(vm);
      if (i < 0) return; // handed out already: its new owner watches it
      this.idle.splice(i, 1);
      log.warn(`idle VM ${vm.id} died (${exit.reason.split('\n')[0]}); replacing it`);
      void destroyQuietly(vm);
      this.pump();
    });
    this.notifyIfFull();
    if (this.idle.length > this.demand.target()) this.scheduleShrink();
  }
}

async function destroyQuietly(vm: Vm): Promise<void> {
  try {
    await vm.destroy();
  } catch (err) {
    log.error(`destroying VM ${vm.id}: ${(err as Error).message}`);
  }
}
