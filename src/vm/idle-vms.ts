/**
 * The VMs a user holds by id (the seeds' VM states): a VM booted without a pod (`run-vm`), or
 * kept after its pod stopped (`stop --keep-vm`, `replace`), is Idle; once a pod starts on it,
 * it is Associated with that pod. The warm pool's VMs are not in here: they are the daemon's
 * own spares, never named to a user.
 *
 * Idle VMs outlive a daemon that dies (SIGKILL, a crash) as running pods do: with a `file`,
 * the ids of the Idle VMs are written there at each change, and the next daemon re-adopts
 * them (`restore`, before it reclaims the VMs nobody claims: orphan-vms.ts), so `podvisor list
 * vms` shows them again and `run-pod --vm` still works. A daemon that stops cleanly destroys
 * them (`close`). Associated VMs are their pods' (the pod layer re-adopts those). A VM that
 * dies while listed is dropped from the list.
 */
import * as fs from 'node:fs';
import { ConflictError, NotFoundError } from '../errors';
import { writeFileAtomic } from '../util/atomic';
import { logger } from '../util/log';
import type { Hypervisor, Vm, VmConfig, VmFactory } from './types';

const log = logger('vm');

/** Idle: no pod on it. Associated: a pod runs on it. */
export type HeldVmState = 'Idle' | 'Associated';

/** One VM of the registry, as a front end may see it. */
export interface HeldVmView {
  id: string;
  state: HeldVmState;
  /** The pod it runs, when Associated. */
  podId?: string;
  memoryMiB: number;
  cpus: number;
  /** When it joined the registry (ISO 8601). */
  since: string;
}

interface Held {
  vm: Vm;
  state: HeldVmState;
  podId?: string;
  since: string;
}

/** What the registry's file holds: the Idle VMs, by id, with when they joined. */
interface HeldFile {
  idle: Array<{ id: string; since: string }>;
}

/** How long a re-adopted VM's agent has to answer before the VM is destroyed instead. */
const READOPT_PING_MS = 5000;

/** The registry of user-held VMs (see the module comment). */
export class HeldVms {
  private readonly vms = new Map<string, Held>();
  /** Writes of the file, one after the other (the last one wins). */
  private saving: Promise<void> = Promise.resolve();

  /** `file`: where the Idle VMs are persisted (none: nothing is). */
  constructor(
    private readonly factory: VmFactory,
    private readonly defaults: VmConfig,
    private readonly file?: string,
  ) {}

  /**
   * Re-adopt the Idle VMs an earlier daemon listed in the file: each that still runs and whose
   * agent answers is Idle again; one that does not is destroyed. Resolves with the ids of the
   * VMs re-adopted (the start-up reclaim leaves them alone). Never rejects.
   */
  async restore(hypervisor: Hypervisor): Promise<string[]> {
    if (!this.file) return [];
    let listed: HeldFile['idle'] = [];
    try {
      listed = (JSON.parse(await fs.promises.readFile(this.file, 'utf8')) as HeldFile).idle ?? [];
    } catch {
      return [];
    }
    const back: string[] = [];
    for (const { id, since } of listed) {
      if (typeof id !== 'string' || !/^[0-9a-f]{6,64}$/.test(id)) continue;
      let vm: Vm | undefined;
      try {
        vm = await hypervisor.adopt(id);
        if (!vm) continue;
        await within(vm.agent.ping(), READOPT_PING_MS);
        this.addIdle(vm, typeof since === 'string' ? since : undefined);
        back.push(id);
        log.info(`re-adopted idle VM ${id}`);
      } catch (err) {
        log.warn(`idle VM ${id} could not be re-adopted (destroyed): ${(err as Error).message}`);
        await vm?.destroy().catch(() => undefined);
      }
    }
    this.save();
    return back;
  }

  /**
   * Boot a VM (from the warm pool when one fits) and list it as Idle. Resolves once the file
   * lists it: a daemon killed right after the answer re-adopts it instead of reclaiming it.
   */
  async boot(size?: Partial<VmConfig['size']>): Promise<HeldVmView> {
    const vm = await this.factory.getVm({ ...this.defaults, size: { ...this.defaults.size, ...size } });
    this.addIdle(vm);
    await this.saved();
    return this.view(this.vms.get(vm.id) as Held);
  }

  /**
   * List a cleaned VM (booted elsewhere, or whose pod has gone) as Idle; `since`: when it first
   * was. The file is written in the background: a caller that answers a user awaits `saved()`.
   */
  addIdle(vm: Vm, since?: string): void {
    const held = this.vms.get(vm.id);
    if (held) {
      held.state = 'Idle';
      held.podId = undefined;
      this.save();
      return;
    }
    this.vms.set(vm.id, { vm, state: 'Idle', since: since ?? new Date().toISOString() });
    this.save();
    void vm.exited.then((x) => {
      if (this.vms.get(vm.id)?.vm !== vm) return;
      this.vms.delete(vm.id);
      this.save();
      if (!x.expected) log.warn(`held VM ${vm.id} exited: ${x.reason.split('\n')[0]}`);
    });
  }

  /** Write the Idle VMs to the file (queued after the writes before; failures logged). */
  private save(): void {
    const file = this.file;
    if (!file) return;
    const data: HeldFile = {
      idle: [...this.vms.values()].filter((h) => h.state === 'Idle').map((h) => ({ id: h.vm.id, since: h.since })),
    };
    this.saving = this.saving
      .then(() => writeFileAtomic(file, `${JSON.stringify(data)}\n`))
      .catch((err) => log.warn(`cannot record the idle VMs in ${file}: ${(err as Error).message}`));
  }

  /** Resolves once every write of the file asked so far is done. */
  saved(): Promise<void> {
    return this.saving;
  }

  /**
   * Take an Idle VM for pod `podId` (it becomes Associated). NotFoundError for an unknown id,
   * ConflictError when a pod already runs on it. `id` may be a unique prefix.
   */
  claim(id: string, podId: string): Vm {
    const held = this.lookup(id);
    if (held.state !== 'Idle')
      throw new ConflictError(
        `VM ${held.vm.id} is associated with pod ${held.podId}: stop that pod keeping its VM first, or use another VM`,
      );
    held.state = 'Associated';
    held.podId = podId;
    this.save();
    return held.vm;
  }

  /** Give back a claim whose start did not happen (the VM is Idle again, if it still runs). */
  unclaim(vm: Vm): void {
    const held = this.vms.get(vm.id);
    if (held && held.vm === vm) {
      held.state = 'Idle';
      held.podId = undefined;
      this.save();
    }
  }

  /** Whether `vmId` is listed here. */
  has(vmId: string): boolean {
    return this.vms.has(vmId);
  }

  /** Every listed VM, oldest first. */
  list(): HeldVmView[] {
    return [...this.vms.values()].map((h) => this.view(h));
  }

  /** Destroy an Idle VM. ConflictError while a pod runs on it. */
  async remove(id: string): Promise<void> {
    const held = this.lookup(id);
    if (held.state !== 'Idle')
      throw new ConflictError(`VM ${held.vm.id} is associated with pod ${held.podId}: stop or remove the pod first`);
    this.vms.delete(held.vm.id);
    this.save();
    await Promise.all([held.vm.destroy(), this.saved()]);
  }

  /** Destroy every Idle VM (daemon shutdown). Associated ones are their pods' to keep. */
  async close(): Promise<void> {
    const idle = [...this.vms.values()].filter((h) => h.state === 'Idle');
    for (const h of idle) this.vms.delete(h.vm.id);
    this.save();
    await Promise.all(idle.map((h) => h.vm.destroy().catch(() => undefined)));
    await this.saving;
  }

  private lookup(id: string): Held {
    const exact = this.vms.get(id);
    if (exact) return exact;
    const matches = id ? [...this.vms.values()].filter((h) => h.vm.id.startsWith(id)) : [];
    if (matches.length === 1) return matches[0];
    if (matches.length > 1) throw new ConflictError(`VM id prefix ${id} is ambiguous`);
    throw new NotFoundError(`no such VM: ${id}`);
  }

  private view(h: Held): HeldVmView {
    return {
      id: h.vm.id,
      state: h.state,
      ...(h.podId ? { podId: h.podId } : {}),
      memoryMiB: h.vm.size.memoryMiB,
      cpus: h.vm.size.cpus,
      since: h.since,
    };
  }
}

/** `p`, or a rejection once `ms` have passed. */
async function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}
