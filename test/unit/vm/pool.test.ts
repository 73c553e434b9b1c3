/**
 * The VM factories on a stub Hypervisor whose boots the test finishes by hand, so "does not
 * wait for a boot" is checked by leaving a boot unfinished, never by timing.
 */
import type { Agent, Hypervisor, Vm, VmConfig, VmDevices, VmExit, VmSize } from '../../../src/vm/types';
import { CachedFactory, DirectFactory, WARM_FAILURE_LIMIT } from '../../../src/vm/pool';
import { UnavailableError } from '../../../src/errors';
import { setLogSink } from '../../../src/util/log';

beforeAll(() => setLogSink(() => undefined));

class StubVm implements Vm {
  readonly shareDir = '/nonexistent';
  readonly agent = {} as Agent;
  readonly pid = 0;
  readonly exited: Promise<VmExit>;
  destroyed = 0;
  private die!: (e: VmExit) => void;
  readonly size: VmSize;
  readonly devices: VmDevices;
  constructor(
    readonly id: string,
    readonly config: VmConfig,
  ) {
    this.size = config.size;
    this.devices = {
      nics: Array.from({ length: config.devices?.nics ?? 0 }, (_, i) => ({
        tap: `pv${id}${i}`,
        mac: '02:00:00:00:00:01',
        guestName: `eth${i}`,
      })),
    };
    this.exited = new Promise((r) => (this.die = r));
  }
  crash(): void {
    this.die({ expected: false, reason: 'crashed' });
  }
  async pause(): Promise<void> {}
  async resume(): Promise<void> {}
  async destroy(): Promise<void> {
    this.destroyed++;
    this.die({ expected: true, reason: 'destroyed' });
  }
  async memoryUsage(): Promise<number> {
    return 0;
  }
  async trimIdleMemory(): Promise<void> {}
}

interface PendingBoot {
  config: VmConfig;
  finish(): StubVm;
  fail(err: Error): void;
}

/** Boots only when the test calls finish() on the pending boot. */
class StubHypervisor implements Hypervisor {
  readonly pending: PendingBoot[] = [];
  readonly booted: StubVm[] = [];
  maxConcurrent = 0;
  private n = 0;
  createVm(config: VmConfig): Promise<Vm> {
    return new Promise((resolve, reject) => {
      const boot: PendingBoot = {
        config,
        finish: () => {
          this.pending.splice(this.pending.indexOf(boot), 1);
          const vm = new StubVm(`vm${++this.n}`, config);
          this.booted.push(vm);
          resolve(vm);
          return vm;
        },
        fail: (err) => {
          this.pending.splice(this.pending.indexOf(boot), 1);
          reject(err);
        },
      };
      this.pending.push(boot);
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

const SMALL: VmConfig = { size: { memoryMiB: 256, cpus: 1 } };
const BIG: VmConfig = { size: { memoryMiB: 1024, cpus: 2 } };

/** Let promise callbacks run. */
const settle = () => new Promise((r) => setImmediate(r));

/** Finish boots one at a time until the pool reports full. */
async function fill(h: StubHypervisor, pool: CachedFactory): Promise<void> {
  const full = pool.whenFull();
  let done = false;
  void full.then(() => (done = true));
  while (!done) {
    await settle();
    if (h.pending.length) h.pending[0].finish();
  }
}

/** Close the pool, finishing the boot it may have under way (close waits for it). */
async function closePool(h: StubHypervisor, pool: CachedFactory): Promise<void> {
  let closed = false;
  const closing = pool.close().then(() => (closed = true));
  while (!closed) {
    await settle();
    for (const b of [...h.pending]) b.finish();
  }
  await closing;
}

describe('DirectFactory', () => {
  it('boots a VM of the asked size for every request', async () => {
    const h = new StubHypervisor();
    const f = new DirectFactory(h);
    const p = f.getVm(BIG);
    await settle();
    expect(h.pending.map((b) => b.config)).toEqual([BIG]);
    h.pending[0].finish();
    expect((await p).size).toEqual(BIG.size);
  });
});

describe('CachedFactory', () => {
  it('fills to its capacity one boot at a time', async () => {
    const h = new StubHypervisor();
    const pool = new CachedFactory(3, new DirectFactory(h), SMALL);
    pool.start();
    await fill(h, pool);
    expect(pool.idleCount).toBe(3);
    expect(h.maxConcurrent).toBe(1);
    expect(h.pending).toHaveLength(0);
    await closePool(h, pool);
  });

  it('hands out an idle VM while the refill boot is still unfinished', async () => {
    const h = new StubHypervisor();
    const pool = new CachedFactory(1, new DirectFactory(h), SMALL, { refillDelayMs: 0 });
    pool.start();
    await fill(h, pool);
    const cached = h.booted[0];
    const vm = await pool.getVm(SMALL);
    expect(vm).toBe(cached);
    await settle();
    // The refill has started but nobody finished it: getVm did not wait for it.
    expect(h.pending).toHaveLength(1);
    expect(pool.idleCount).toBe(0);
    h.pending[0].finish();
    await pool.whenFull();
    expect(pool.idleCount).toBe(1);
    await closePool(h, pool);
  });

  it('starts the refill boot only refillDelayMs after handing out an idle VM', async () => {
    const h = new StubHypervisor();
    const pool = new CachedFactory(1, new DirectFactory(h), SMALL, { refillDelayMs: 30 });
    pool.start();
    await fill(h, pool);
    expect(await pool.getVm(SMALL)).toBe(h.booted[0]);
    await settle();
    // The caller has its VM to itself for a moment: no boot competes with its first requests.
    expect(h.pending).toHaveLength(0);
    await new Promise((r) => setTimeout(r, 60));
    expect(h.pending).toHaveLength(1);
    h.pending[0].finish();
    await pool.whenFull();
    expect(pool.idleCount).toBe(1);
    await closePool(h, pool);
  });

  it('sends other sizes to the inner factory and keeps its cache', async () => {
    const h = new StubHypervisor();
    const pool = new CachedFactory(1, new DirectFactory(h), SMALL, { refillDelayMs: 0 });
    pool.start();
    await fill(h, pool);
    const p = pool.getVm(BIG);
    await settle();
    expect(h.pending.map((b) => b.config)).toEqual([BIG]);
    h.pending[0].finish();
    expect((await p).size).toEqual(BIG.size);
    expect(pool.idleCount).toBe(1);
    await closePool(h, pool);
  });

  it('gives a request on an empty cache the boot already under way', async () => {
    const h = new StubHypervisor();
    const pool = new CachedFactory(1, new DirectFactory(h), SMALL, { refillDelayMs: 0 });
    pool.start();
    await settle();
    expect(h.pending).toHaveLength(1);
    const p = pool.getVm(SMALL);
    await settle();
    expect(h.pending).toHaveLength(1); // no second boot for the request
    const first = h.pending[0].finish();
    expect(await p).toBe(first);
    await closePool(h, pool);
  });

  it('boots up to waiterBoots VMs at once while more requests wait than boots are under way, one at a time otherwise', async () => {
    const h = new StubHypervisor();
    const pool = new CachedFactory(1, new DirectFactory(h), SMALL, {
      refillDelayMs: 0,
      waiterBoots: () => 2,
      idleCores: () => 0,
    });
    pool.start();
    await settle();
    expect(h.pending).toHaveLength(1); // filling the cache: one boot at a time
    const reqs = [pool.getVm(SMALL), pool.getVm(SMALL), pool.getVm(SMALL)];
    await settle();
    expect(h.pending).toHaveLength(2); // three waiting: a second boot beside the first, no third
    const got: Vm[] = [];
    for (const r of reqs) void r.then((vm) => got.push(vm));
    while (got.length < 3) {
      h.pending[0].finish();
      await settle();
    }
    expect(h.maxConcurrent).toBe(2);
    await settle();
    expect(h.pending).toHaveLength(1); // the refill, alone again
    await closePool(h, pool);
  });

  it('boots directly when nothing is cached or booting (capacity 0)', async () => {
    const h = new StubHypervisor();
    const pool = new CachedFactory(0, new DirectFactory(h), SMALL);
    pool.start();
    const p = pool.getVm(SMALL);
    await settle();
    expect(h.pending).toHaveLength(1);
    h.pending[0].finish();
    expect((await p).size).toEqual(SMALL.size);
    await settle();
    expect(h.pending).toHaveLength(0);
    await closePool(h, pool);
  });

  it('discards an idle VM that died, destroys it and boots a replacement', async () => {
    const h = new StubHypervisor();
    const pool = new CachedFactory(2, new DirectFactory(h), SMALL);
    pool.start();
    await fill(h, pool);
    const [a, b] = h.booted;
    a.crash();
    await settle();
    expect(pool.idleCount).toBe(1);
    expect(a.destroyed).toBe(1);
    expect(h.pending).toHaveLength(1);
    const c = h.pending[0].finish();
    await pool.whenFull();
    expect(await pool.getVm(SMALL)).toBe(b);
    expect(await pool.getVm(SMALL)).toBe(c);
    await closePool(h, pool);
  });

  it('rejects a waiting request with the boot error and retries in the background', async () => {
    const h = new StubHypervisor();
    const pool = new CachedFactory(1, new DirectFactory(h), SMALL, { retryDelayMs: 1 });
    pool.start();
    await settle();
    const p = pool.getVm(SMALL);
    await settle();
    h.pending[0].fail(new UnavailableError('VM x failed to boot: console says no'));
    await expect(p).rejects.toThrow('console says no');
    while (h.pending.length === 0) await new Promise((r) => setTimeout(r, 2));
    h.pending[0].finish();
    await pool.whenFull();
    expect(pool.idleCount).toBe(1);
    await closePool(h, pool);
  });

  it('close destroys idle VMs and a VM whose boot finishes afterwards, then refuses requests', async () => {
    const h = new StubHypervisor();
    const pool = new CachedFactory(2, new DirectFactory(h), SMALL);
    pool.start();
    await settle();
    const first = h.pending[0].finish();
    await settle();
    expect(h.pending).toHaveLength(1); // second boot under way
    const closing = pool.close();
    const late = h.pending[0].finish();
    await closing;
    expect(first.destroyed).toBe(1);
    expect(late.destroyed).toBe(1);
    await expect(pool.getVm(SMALL)).rejects.toBeInstanceOf(UnavailableError);
    await settle();
    expect(h.pending).toHaveLength(0);
  });

  it('does not destroy VMs it already handed out when closed', async () => {
    const h = new StubHypervisor();
    const pool = new CachedFactory(1, new DirectFactory(h), SMALL, { refillDelayMs: 0 });
    pool.start();
    await fill(h, pool);
    const vm = (await pool.getVm(SMALL)) as StubVm;
    await closePool(h, pool);
    expect(vm.destroyed).toBe(0);
    // The refill VM that finished during close was destroyed.
    expect(h.booted.filter((b) => b !== vm).every((b) => b.destroyed === 1)).toBe(true);
  });

  describe('warm step', () => {
    /** A warm step the test finishes by hand, recording which VMs it saw. */
    function manualWarm() {
      const seen: Vm[] = [];
      const pending: Array<{ resolve(): void; reject(e: Error): void }> = [];
      const warm = (vm: Vm) =>
        new Promise<void>((resolve, reject) => {
          seen.push(vm);
          pending.push({ resolve, reject });
        });
      return { seen, pending, warm };
    }

    /** A pool of one warming at once, its first VM booted and now under warming. */
    async function warmingFirstVm() {
      const h = new StubHypervisor();
      const w = manualWarm();
      const pool = new CachedFactory(1, new DirectFactory(h), SMALL, {
        warm: w.warm,
        refillDelayMs: 0,
        warmWhenQuietMs: 0,
      });
      pool.start();
      await settle();
      const vm = h.pending[0].finish();
      await settle();
      expect(w.seen).toEqual([vm]);
      return { h, w, pool, vm };
    }

    it('warms an idle VM while the pool is quiet, taking it off the idle list meanwhile', async () => {
      const { h, w, pool, vm } = await warmingFirstVm();
      expect(pool.idleCount).toBe(0); // the warming step has it alone
      let full = false;
      void pool.whenFull().then(() => (full = true));
      await settle();
      expect(full).toBe(false); // full means warmed
      w.pending[0].resolve();
      await pool.whenFull();
      expect(await pool.getVm(SMALL)).toBe(vm);
      await settle();
      // The refill is warmed too; the request above did not wait for it.
      h.pending[0].finish();
      await settle();
      expect(w.seen).toHaveLength(2);
      w.pending[1].resolve();
      await closePool(h, pool);
    });

    /**
     * A pool of two warming after `warmWhenQuietMs` without requests: one request came and got
     * the first boot, then the two refills finished.
     */
    async function afterOneRequest(warmWhenQuietMs: number) {
      const h = new StubHypervisor();
      const w = manualWarm();
      const pool = new CachedFactory(2, new DirectFactory(h), SMALL, {
        warm: w.warm,
        refillDelayMs: 0,
        warmWhenQuietMs,
      });
      pool.start();
      const first = pool.getVm(SMALL);
      await settle();
      const a = h.pending[0].finish();
      expect(await first).toBe(a);
      for (let i = 0; i < 2; i++) {
        await settle();
        h.pending[0].finish();
      }
      return { h, w, pool };
    }

    it('warms nothing while requests came within warmWhenQuietMs, and hands those VMs out unwarmed', async () => {
      const { h, w, pool } = await afterOneRequest(60_000); // not quiet for the next minute
      await settle();
      expect(pool.idleCount).toBe(2);
      expect(w.seen).toEqual([]);
      const b = await pool.getVm(SMALL);
      expect(h.booted).toContain(b);
      expect(w.seen).toEqual([]);
      await closePool(h, pool);
    });

    it('warms the idle VMs once no request came for warmWhenQuietMs, one at a time, and hands out a warmed VM first', async () => {
      const { h, w, pool } = await afterOneRequest(30);
      const [, x, y] = h.booted;
      while (w.seen.length === 0) await new Promise((r) => setTimeout(r, 5));
      await settle();
      expect(w.seen).toHaveLength(1); // one at a time
      expect(pool.idleCount).toBe(1);
      w.pending[0].resolve();
      while (w.seen.length < 2) await new Promise((r) => setTimeout(r, 5));
      const warmedFirst = w.seen[0];
      expect([x, y]).toContain(warmedFirst);
      // The other one is under warming now: the warmed one is the one idle, and handed out.
      expect(await pool.getVm(SMALL)).toBe(warmedFirst);
      w.pending[1].resolve();
      await closePool(h, pool);
    });

    it('gives a request that finds no idle VM the one under warming when its step ends', async () => {
      const { h, w, pool, vm } = await warmingFirstVm();
      const p = pool.getVm(SMALL);
      await settle();
      w.pending[0].resolve();
      expect(await p).toBe(vm);
      await closePool(h, pool);
    });

    it('does not warm a VM booted for a request or claimed by a waiting request', async () => {
      const h = new StubHypervisor();
      const w = manualWarm();
      const empty = new CachedFactory(0, new DirectFactory(h), SMALL, { warm: w.warm, warmWhenQuietMs: 0 });
      empty.start();
      const direct = empty.getVm(SMALL);
      await settle();
      const d = h.pending[0].finish();
      expect(await direct).toBe(d);
      await closePool(h, empty);

      const pool = new CachedFactory(1, new DirectFactory(h), SMALL, {
        warm: w.warm,
        refillDelayMs: 0,
        warmWhenQuietMs: 0,
      });
      pool.start();
      await settle();
      const waiting = pool.getVm(SMALL);
      await settle();
      const claimed = h.pending[0].finish();
      expect(await waiting).toBe(claimed);
      expect(w.seen).toEqual([]);
      await settle();
      h.pending[0].finish(); // the refill is warmed
      await settle();
      expect(w.seen).toHaveLength(1);
      expect(w.seen[0]).not.toBe(claimed);
      w.pending[0].resolve();
      await closePool(h, pool);
    });

    it('destroys a VM whose warming failed and boots another', async () => {
      const h = new StubHypervisor();
      const w = manualWarm();
      const pool = new CachedFactory(1, new DirectFactory(h), SMALL, { warm: w.warm, retryDelayMs: 1 });
      pool.start();
      await settle();
      const bad = h.pending[0].finish();
      await settle();
      w.pending[0].reject(new Error('rehearsal exited with 1'));
      while (h.pending.length === 0) await new Promise((r) => setTimeout(r, 2));
      expect(bad.destroyed).toBe(1);
      expect(pool.idleCount).toBe(0);
      const good = h.pending[0].finish();
      await settle();
      w.pending[1].resolve();
      await pool.whenFull();
      expect(await pool.getVm(SMALL)).toBe(good);
      await closePool(h, pool);
    });

    it('stops warming after WARM_FAILURE_LIMIT failures in a row, so the pool still fills', async () => {
      const h = new StubHypervisor();
      let calls = 0;
      const pool = new CachedFactory(1, new DirectFactory(h), SMALL, {
        warm: async () => {
          calls++;
          throw new Error('always broken');
        },
        retryDelayMs: 1,
      });
      pool.start();
      const full = pool.whenFull();
      let done = false;
      void full.then(() => (done = true));
      while (!done) {
        await new Promise((r) => setTimeout(r, 2));
        if (h.pending.length) h.pending[0].finish();
      }
      expect(calls).toBe(WARM_FAILURE_LIMIT);
      expect(h.booted.filter((b) => b.destroyed === 1)).toHaveLength(WARM_FAILURE_LIMIT);
      expect(pool.idleCount).toBe(1);
      await closePool(h, pool);
    });

    it('close destroys a VM under warming at once instead of waiting for the warming', async () => {
      const h = new StubHypervisor();
      let warmed = 0;
      // A warming step that only ends when its VM dies (as a rehearsal whose VM is destroyed).
      const warm = (vm: Vm) =>
        vm.exited.then(() => {
          warmed++;
          throw new Error('VM gone');
        });
      const pool = new CachedFactory(1, new DirectFactory(h), SMALL, { warm });
      pool.start();
      await settle();
      const vm = h.pending[0].finish();
      await settle();
      await pool.close();
      expect(vm.destroyed).toBeGreaterThanOrEqual(1);
      expect(warmed).toBe(1);
      expect(pool.idleCount).toBe(0);
    });

    it('destroys a VM whose warming takes longer than warmTimeoutMs', async () => {
      const h = new StubHypervisor();
      const w = manualWarm();
      const pool = new CachedFactory(1, new DirectFactory(h), SMALL, {
        warm: w.warm,
        warmTimeoutMs: 5,
        retryDelayMs: 1,
      });
      pool.start();
      await settle();
      const slow = h.pending[0].finish();
      while (h.pending.length === 0) await new Promise((r) => setTimeout(r, 2));
      expect(slow.destroyed).toBe(1);
      h.pending[0].finish();
      await settle();
      w.pending[1].resolve();
      await pool.whenFull();
      expect(pool.idleCount).toBe(1);
      await closePool(h, pool);
    });
  });
});

describe('CachedFactory and devices', () => {
  const WITH_NIC: VmConfig = { size: SMALL.size, devices: { nics: 1 } };

  it('serves requests for no NIC and for one NIC from a pool of one-NIC VMs, without a boot', async () => {
    const h = new StubHypervisor();
    const pool = new CachedFactory(2, new DirectFactory(h), WITH_NIC, { refillDelayMs: 0 });
    pool.start();
    await fill(h, pool);
    const none = await pool.getVm({ size: SMALL.size });
    const one = await pool.getVm({ size: SMALL.size, devices: { nics: 1 } });
    expect(none.devices.nics).toHaveLength(1);
    expect(one.devices.nics).toHaveLength(1);
    expect(h.pending.every((b) => b.config === WITH_NIC)).toBe(true);
    await closePool(h, pool);
  });

  it('boots directly for a request the pool configuration does not fit (more NICs, a volume share)', async () => {
    const h = new StubHypervisor();
    const pool = new CachedFactory(1, new DirectFactory(h), WITH_NIC);
    pool.start();
    await fill(h, pool);
    for (const want of [
      { size: SMALL.size, devices: { nics: 2 } },
      { size: SMALL.size, devices: { volumes: true } },
    ]) {
      const p = pool.getVm(want);
      await settle();
      expect(h.pending.map((b) => b.config)).toEqual([want]);
      h.pending[0].finish();
      expect((await p).devices.nics).toHaveLength(want.devices.nics ?? 0);
    }
    expect(pool.idleCount).toBe(1);
    await closePool(h, pool);
  });
});
