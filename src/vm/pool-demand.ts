/**
 * How many VMs CachedFactory (pool.ts) keeps ready and how many it boots at once, from what it
 * has seen: the rate at which requests arrived, how long its boots took, and how busy the
 * host's cores are.
 *
 * - Target: with requests arriving at rate r (per second, over the last DEMAND_WINDOW_MS) and a
 *   boot taking T seconds, r*T VMs are handed out while one refill boots, so the pool aims at
 *   ceil(r*T) + 1 ready or booting VMs: never fewer than its base size, never more than its
 *   maximum (the memory budget). With no request for the window, it is back at the base size.
 * - Parallel boots: one boot is always allowed; each further one only while the host has a
 *   whole idle core for it (measured from /proc/stat between two calls), up to `maxParallel`.
 *   A boot under TCG keeps one core busy, so a second boot on a busy host only slows both.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';

/** Requests older than this no longer count towards the arrival rate. */
export const DEMAND_WINDOW_MS = 10_000;

/** Tuning of PoolDemand. */
export interface PoolDemandOptions {
  /** Base size: VMs kept ready with no demand. */
  base: number;
  /** Most VMs kept ready or booting (the memory budget). */
  max: number;
  /** Most boots at once. */
  maxParallel: number;
  /** Idle cores now (default: IdleCores over /proc/stat). */
  idleCores?: () => number;
  /** Clock in ms (tests). */
  now?: () => number;
}

/** Arrival rate, boot time and core use of one pool; see the module comment. */
export class PoolDemand {
  private readonly arrivals: number[] = [];
  /** Mean boot time in ms (exponentially weighted); undefined before the first boot. */
  private bootMs: number | undefined;
  /** The clock, ms. */
  readonly now: () => number;
  private readonly idleCores: () => number;

  constructor(private readonly o: PoolDemandOptions) {
    this.now = o.now ?? (() => Date.now());
    this.idleCores = o.idleCores ?? idleCoresSampler();
  }

  /** A request for a pool VM arrived. */
  arrived(): void {
    this.arrivals.push(this.now());
    this.forget();
  }

  /** A background boot (with its warming) took `ms`. */
  booted(ms: number): void {
    this.bootMs = this.bootMs === undefined ? ms : 0.7 * this.bootMs + 0.3 * ms;
  }

  /** Requests per second over the window. */
  rate(): number {
    this.forget();
    return this.arrivals.length / (DEMAND_WINDOW_MS / 1000);
  }

  /** VMs to keep ready or booting now. */
  target(): number {
    const r = this.rate();
    if (r === 0 || this.bootMs === undefined) return this.o.base;
    const want = Math.ceil((r * this.bootMs) / 1000) + 1;
    return Math.max(this.o.base, Math.min(this.o.max, want));
  }

  /** Whether one more boot may start beside `booting` under way. */
  mayBoot(booting: number): boolean {
    if (booting === 0) return true;
    if (booting >= this.o.maxParallel) return false;
    return this.idleCores() >= 1;
  }

  private forget(): void {
    const cut = this.now() - DEMAND_WINDOW_MS;
    while (this.arrivals.length && this.arrivals[0] < cut) this.arrivals.shift();
  }
}

/**
 * Idle cores of the host since the previous call, from /proc/stat's first line (idle + iowait
 * over total jiffies, times the core count). Calls closer than 100 ms apart get the previous
 * answer; the first call (no interval yet) answers 0, so parallel boots wait for a measurement.
 */
export function idleCoresSampler(statPath = '/proc/stat', cores = os.cpus().length): () => number {
  let last: { at: number; idle: number; total: number } | undefined;
  let answer = 0;
  return () => {
    const at = Date.now();
    if (last && at - last.at < 100) return answer;
    let fields: number[];
    try {
      fields = fs.readFileSync(statPath, 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number); // guest time is counted in user already
    } catch {
      return 0;
    }
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    const total = fields.reduce((s, x) => s + (Number.isFinite(x) ? x : 0), 0);
    if (last && total > last.total) answer = ((idle - last.idle) / (total - last.total)) * cores;
    last = { at, idle, total };
    return answer;
  };
}

/** Most pool VMs the host's memory allows: a quarter of the available memory, counted at each VM's full guest size. */
export function poolMemoryBudget(vmMemoryMiB: number, base: number, memAvailableBytes = os.freemem()): number {
  return Math.max(base, Math.floor(memAvailableBytes / 4 / (vmMemoryMiB * 1048576)));
}

/** The daemon's pool growth (--vm-pool-max): up to `max` VMs within the memory budget, a refill boot per core. */
export function poolGrowth(
  vmMemoryMiB: number,
  base: number,
  max: number,
): { maxCapacity: number; maxParallel: number } {
  return {
    maxCapacity: Math.max(base, Math.min(max, poolMemoryBudget(vmMemoryMiB, base))),
    maxParallel: os.cpus().length,
  };
}
