/**
 * The VMs a user holds by id (the seeds' VM states): a VM booted without a pod (`run-vm`), or
 * kept after its pod stopped (`stop --keep-vm`, `replace`), is Idle; once a pod starts on it,
 * it is Associated with that pod. The warm pool's VMs are not in here: they are the daemon's
 * own spares, never named to a user.
 *
 * Nothing here is persisted: a VM has no state that outlives the daemon (the seeds say so),
 * so a restarted daemon reclaims idle VMs like any VM no pod claims (orphan-vms.ts). A VM that
 * dies while listed is dropped from the list.
 */
import { ConflictError, NotFoundError } from '../errors';
import { logger } from '../util/log';
import type { Vm, VmConfig, VmFactory } from './types';

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

/** The registry of user-held VMs (see the module comment). */
export class HeldVms {
  private readonly vms = new Map<string, Held>();

  constructor(private readonly factory: VmFactory, private readonly defaults: VmConfig) {}

  /** Boot a VM (from the warm pool when one fits) and list it as Idle. */
  async boot(size?: Partial<VmConfig['size']>): Promise<HeldVmView> {
    const vm = await this.factory.getVm({ ...this.defaults, size: { ...this.defaults.size, ...size } });
    this.addIdle(vm);
    return this.view(this.vms.get(vm.id) as Held);
  }

  /** List a cleaned VM (booted elsewhere, or whose pod has gone) as Idle. */
  addIdle(vm: Vm): void {
    const held = this.vms.get(vm.id);
    if (held) {
      held.state = 'Idle';
      held.podId = undefined;
      return;
    }
    this.vms.set(vm.id, { vm, state: 'Idle', since: new Date().toISOString() });
    void vm.exited.then((x) => {
      if (this.vms.get(vm.id)?.vm !== vm) return;
      this.vms.delete(vm.id);
      if (!x.expected) log.warn(`held VM ${vm.id} exited: ${x.reason.split('\n')[0]}`);
    });
  }

  /**
   * Take an Idle VM for pod `podId` (it becomes Associated). NotFoundError for an unknown id,
   * ConflictError when a pod already runs on it. `id` may be a unique prefix.
   */
  claim(id: string, podId: string): Vm {
    const held = this.lookup(id);
    if (held.state !== 'Idle') throw new ConflictError(`VM ${held.vm.id} is associated with pod ${held.podId}: stop that pod keeping its VM first, or use another VM`);
    held.state = 'Associated';
    held.podId = podId;
    return held.vm;
  }

  /** Give back a claim whose start did not happen (the VM is Idle again, if it still runs). */
  unclaim(vm: Vm): void {
    const held = this.vms.get(vm.id);
    if (held && held.vm === vm) {
      held.state = 'Idle';
      held.podId = undefined;
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
    if (held.state !== 'Idle') throw new ConflictError(`VM ${held.vm.id} is associated with pod ${held.podId}: stop or remove the pod first`);
    this.vms.delete(held.vm.id);
    await held.vm.destroy();
  }

  /** Destroy every Idle VM (daemon shutdown). Associated ones are their pods' to keep. */
  async close(): Promise<void> {
    const idle = [...this.vms.values()].filter((h) => h.state === 'Idle');
    for (const h of idle) this.vms.delete(h.vm.id);
    await Promise.all(idle.map((h) => h.vm.destroy().catch(() => undefined)));
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
