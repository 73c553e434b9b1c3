/**
 * The pool's demand policy (pool-demand.ts) and CachedFactory growing, shrinking and booting in
 * parallel with it, on a stub hypervisor whose boots the test finishes by hand and a clock the
 * test moves (no timing).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Agent, Hypervisor, Vm, VmConfig, VmExit } from '../../../src/vm/types';
import { CachedFactory, DirectFactory } from '../../../src/vm/pool';
import { DEMAND_WINDOW_MS, idleCoresSampler, PoolDemand, poolMemoryBudget } from '../../../src/vm/pool-demand';
import { setLogSink } from '../../../src/util/log';

beforeAll(() => setLogSink(() => undefined));

const SMALL: VmConfig = { size: { memoryMiB: 256, cpus: 1 } };

class StubVm implements Vm {
  readonly shareDir = '/nonexistent';
  readonly agent = {} as Agent;
  readonly pid = 0;
  readonly size = SMALL.size;
  readonly devices = { nics: [] };
  readonly exited: Promise<VmExit>;
  destroyed = false;
  private die!: (e: VmExit) => void;
  constructor(readonly id: string) {
    this.exited = new Promise((r) => (this.die = r));
  }
  async pause(): Promise<void> {}
  async resume(): Promise<void> {}
  async destroy(): Promise<void> {
    this.destroyed = true;
    this.die({ expected: true, reason: 'destroyed' });
  }
  async memoryUsage(): Promise<number> {
    return 0;
  }
  async trimIdleMemory(): Promise<void> {}
}

/** Boots only when the test finishes them. */
class StubHypervisor implements Hypervisor {
  readonly pending: Array<() => StubVm> = [];
  readonly booted: StubVm[] = [];
  maxConcurrent = 0;
  createVm(): Promise<Vm> {
    return new Promise((resolve) => {
      const finish = (): StubVm => {
        this.pending.splice(this.pending.indexOf(finish), 1);
        const vm = new StubVm(`vm${this.booted.length + 1}`);
        this.booted.push(vm);
        resolve(vm);
        return vm;
      };
      this.pending.push(finish);
      this.maxConcurrent = Math.max(this.maxConcurrent, this.pending.length);
    });
  }
  async adopt(): Promise<Vm | undefined> {
    return undefined;
  }
  async listRuntimeVms(): Promise<string[]> {
    return [];
  }
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

describe('PoolDemand', () => {
  it('aims at its base size without demand, and at the VMs handed out during one boot with it', () => {
    let t = 0;
    const d = new PoolDemand({ base: 2, max: 6, maxParallel: 1, now: () => t, idleCores: () => 0 });
    expect(d.target()).toBe(2);
    d.booted(2000);
    for (let i = 0; i < 10; i++) d.arrived(); // 1 request/s over the window
    expect(d.rate()).toBe(1);
    expect(d.target()).toBe(3); // ceil(1/s * 2 s) + 1
    for (let i = 0; i < 40; i++) d.arrived(); // 5/s: 11 wanted, capped at 6
    expect(d.target()).toBe(6);
    t += DEMAND_WINDOW_MS + 1;
    expect(d.target()).toBe(2);
  });

  it('allows one boot always and more only while a core is idle, up to maxParallel', () => {
    let idle = 0;
    const d = new PoolDemand({ base: 1, max: 4, maxParallel: 2, idleCores: () => idle });
    expect(d.mayBoot(0)).toBe(true);
    expect(d.mayBoot(1)).toBe(false);
    idle = 1.4;
    expect(d.mayBoot(1)).toBe(true);
    expect(d.mayBoot(2)).toBe(false);
  });

  it('reads idle cores from /proc/stat between two calls', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-stat-'));
    const stat = path.join(dir, 'stat');
    try {
      // user nice system idle iowait irq softirq steal guest guest_nice
      fs.writeFileSync(stat, 'cpu  100 0 100 800 0 0 0 0 50 0\ncpu0 1 2 3\n');
      const idle = idleCoresSampler(stat, 2);
      expect(idle()).toBe(0);
      await new Promise((r) => setTimeout(r, 110));
      fs.writeFileSync(stat, 'cpu  200 0 100 1100 0 0 0 0 90 0\n');
      // 100 busy and 300 idle jiffies since: 3/4 of 2 cores (guest time is inside user already)
      expect(idle()).toBeCloseTo(1.5);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("budgets a quarter of the available memory at each VM's full size, never below the base", () => {
    expect(poolMemoryBudget(256, 2, 8 * 1024 * 1048576)).toBe(8);
    expect(poolMemoryBudget(256, 2, 512 * 1048576)).toBe(2);
  });
});

describe('CachedFactory with demand', () => {
  it('runs a second refill beside the first only while a core is idle', async () => {
    let idle = 0;
    const h = new StubHypervisor();
    const pool = new CachedFactory(3, new DirectFactory(h), SMALL, { maxParallel: 2, idleCores: () => idle });
    pool.start();
    await settle();
    expect(h.pending).toHaveLength(1);
    h.pending[0]();
    idle = 1.5;
    await settle();
    expect(h.pending).toHaveLength(2);
    h.pending[0]();
    h.pending[0]();
    await pool.whenFull();
    expect(pool.idleCount).toBe(3);
    expect(h.maxConcurrent).toBe(2);
    await pool.close();
  });

  it('grows while requests arrive, up to maxCapacity, and shrinks back once they stop', async () => {
    let t = 0;
    const h = new StubHypervisor();
    const starts = new Map<() => StubVm, number>();
    const demand = new PoolDemand({ base: 1, max: 4, maxParallel: 4, now: () => t, idleCores: () => 4 });
    const pool = new CachedFactory(1, new DirectFactory(h), SMALL, { demand, refillDelayMs: 0, shrinkAfterMs: 20 });
    /** Move the clock to `to`, finishing every boot 2 s old by then. */
    const advance = async (to: number): Promise<void> => {
      t = to;
      for (const b of h.pending) if (!starts.has(b)) starts.set(b, t);
      for (const b of [...h.pending]) if (t - starts.get(b)! >= 2000) b();
      await settle();
      for (const b of h.pending) if (!starts.has(b)) starts.set(b, t);
    };
    pool.start();
    await advance(0);
    await advance(2000);
    expect(pool.idleCount).toBe(1);
    expect(pool.target).toBe(1);
    // Two requests a second, each holding its VM: with 2 s boots, 1 + 2/s * 2 s = 5 wanted, capped at 4.
    const got: Vm[] = [];
    for (let i = 1; i <= 16; i++) {
      void pool.getVm(SMALL).then((vm) => got.push(vm));
      await advance(2000 + i * 500);
    }
    expect(pool.target).toBe(4);
    for (let i = 1; i <= 20 && got.length < 16; i++) await advance(t + 500);
    expect(h.maxConcurrent).toBeGreaterThan(1);
    expect(got).toHaveLength(16);
    expect(new Set(got).size).toBe(16); // never a VM twice
    // Requests stop: the pool fills up to the target, then after the window it is back at 1.
    const t0 = t;
    for (let i = 1; i <= 8; i++) await advance(t0 + i * 500);
    expect(pool.idleCount).toBeGreaterThan(2); // grew past its base of 1
    await advance(t + DEMAND_WINDOW_MS);
    expect(pool.target).toBe(1);
    await pool.getVm(SMALL); // a request after the quiet spell: the surplus check runs
    await new Promise((r) => setTimeout(r, 50));
    // That one request is demand again (0.1/s * 2 s + 1 = 2): the idle VMs above it are gone.
    expect(pool.target).toBe(2);
    expect(pool.idleCount).toBe(2);
    expect(h.booted.filter((vm) => vm.destroyed).length).toBeGreaterThan(0);
    while (h.pending.length) h.pending[0]();
    await pool.close();
  });
});
