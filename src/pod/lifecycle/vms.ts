/**
 * VMs as the seeds name them, for front ends: every VM is Idle or Associated with a pod.
 * Idle VMs are the ones a user holds (src/vm/idle-vms.ts: booted by `run-vm`, or kept by
 * `stop --keep-vm` and `replace`); a running pod's VM is Associated, whether it came from the
 * warm pool or from the held ones. The operations that move a VM between the two states live
 * here: start a pod on a held VM, stop a pod keeping its VM, replace a pod by another on the
 * same VM.
 */
import { ConflictError, InvalidArgumentError, NotModifiedError } from '../../errors';
import type { HeldVms } from '../../vm/idle-vms';
import type { Vm } from '../../vm/types';
import type { PodContext } from '../context';
import { PodNotRunningError } from '../errors';
import * as lifecycle from './lifecycle';
import { needsVolumeShare } from '../mounts/mounts';
import { stopLocked } from './stop';
import { podSpecOf } from '../types';
import { keepRefusal } from './vm-reuse';

/** A VM as front ends show it (the native API's wire type NativeVmView is this shape: api/native/views.ts checks it). */
export interface PodVmView {
  id: string;
  state: 'Idle' | 'Associated';
  /** The pod running on it (Associated). */
  podId?: string;
  memoryMiB: number;
  cpus: number;
  /** Whether the user holds it (run-vm, stop --keep-vm): it outlives its pods. */
  held: boolean;
}

/** What a front end can do with VMs (see the module comment). */
export interface PodVmService {
  /** Every VM: the held ones, and those of running pods. */
  listVms(): PodVmView[];
  /** Boot an Idle VM (of the daemon's default size unless given). */
  bootVm(size?: { memoryMiB?: number; cpus?: number }): Promise<PodVmView>;
  /** Destroy an Idle VM; ConflictError while a pod runs on it, NotFoundError for an unknown id. */
  removeVm(id: string): Promise<void>;
  /** Start a created pod on the Idle VM `vmId`. */
  startOnVm(podRef: string, vmId: string): Promise<void>;
  /** Stop a running pod and keep its VM, cleaned and Idle; resolves with that VM. */
  stopKeepingVm(podRef: string, timeoutSec?: number): Promise<PodVmView>;
  /** Stop running pod `oldRef` keeping its VM, then start created pod `newRef` on it. */
  replace(oldRef: string, newRef: string, timeoutSec?: number): Promise<PodVmView>;
}

/** The PodVmService of a pod manager. */
export class PodVms implements PodVmService {
  constructor(
    private readonly ctx: PodContext,
    private readonly held: HeldVms,
  ) {}

  listVms(): PodVmView[] {
    const out: PodVmView[] = this.held.list().map((v) => ({
      id: v.id,
      state: v.state,
      ...(v.podId ? { podId: v.podId } : {}),
      memoryMiB: v.memoryMiB,
      cpus: v.cpus,
      held: true,
    }));
    for (const r of this.ctx.registry.list()) {
      const vmId = r.sandbox.vmId;
      if (!vmId || this.held.has(vmId)) continue;
      out.push({
        id: vmId,
        state: 'Associated',
        podId: r.id,
        memoryMiB: r.sandbox.spec.vm.memoryMiB,
        cpus: r.sandbox.spec.vm.cpus,
        held: false,
      });
    }
    return out;
  }

  async bootVm(size?: { memoryMiB?: number; cpus?: number }): Promise<PodVmView> {
    if (size?.memoryMiB !== undefined && (!Number.isInteger(size.memoryMiB) || size.memoryMiB < 64))
      throw new InvalidArgumentError('memoryMiB must be an integer of at least 64');
    if (size?.cpus !== undefined && (!Number.isInteger(size.cpus) || size.cpus < 1))
      throw new InvalidArgumentError('cpus must be a positive integer');
    const v = await this.held.boot(size);
    return { ...v, held: true };
  }

  removeVm(id: string): Promise<void> {
    return this.held.remove(id);
  }

  async startOnVm(podRef: string, vmId: string): Promise<void> {
    const e = this.ctx.registry.lookup(podRef);
    if (e.run) throw new NotModifiedError('pod already running');
    const vm = this.held.claim(vmId, e.record.id);
    let pinned = false;
    try {
      if (needsVolumeShare(podSpecOf(e.record)) && !vm.devices.volumes) {
        throw new ConflictError(
          `VM ${vm.id} has no volume share and pod ${e.record.name} mounts host directories or volumes: start it without --vm`,
        );
      }
      this.ctx.reuse.pin(e.record.id, vm);
      pinned = true;
      await lifecycle.start(this.ctx, e, podRef);
    } catch (err) {
      // Not taken by a boot: the VM is still clean. Taken, the start's rollback cleaned it
      // (./vm-reuse.ts HeldVmRollback), or destroyed it when it could not (the registry drops
      // it when it exits). Either way it is Idle again while it runs.
      if (pinned) this.ctx.reuse.takePinned(e.record.id);
      this.held.unclaim(vm);
      throw err;
    }
  }

  async stopKeepingVm(podRef: string, timeoutSec?: number): Promise<PodVmView> {
    const vm = await this.stopKeeping(podRef, timeoutSec);
    this.held.addIdle(vm);
    // Answered once the file lists it, so a daemon killed right after re-adopts it.
    await this.held.saved();
    return this.viewOf(vm);
  }

  async replace(oldRef: string, newRef: string, timeoutSec?: number): Promise<PodVmView> {
    const oldE = this.ctx.registry.lookup(oldRef);
    const newE = this.ctx.registry.lookup(newRef);
    if (oldE === newE) throw new InvalidArgumentError('a pod cannot replace itself');
    if (!oldE.run) throw new PodNotRunningError(oldE.record.id);
    if (newE.run) throw new ConflictError(`pod ${newE.record.name} is already running: replace starts a created pod`);
    const vm = await this.stopKeeping(oldRef, timeoutSec);
    this.held.addIdle(vm);
    await this.startOnVm(newE.record.id, vm.id);
    return this.viewOf(vm);
  }

  /**
   * Stop a running pod with its VM kept; resolves with the cleaned VM. ConflictError, the pod
   * left running, when the VM must not be kept (./vm-reuse.ts keepRefusal).
   */
  private async stopKeeping(podRef: string, timeoutSec?: number): Promise<Vm> {
    const e = this.ctx.registry.lookup(podRef);
    const id = e.record.id;
    const refusal = e.run ? keepRefusal(e) : undefined;
    if (refusal)
      throw new ConflictError(
        `pod ${e.record.name} cannot keep its VM for another pod: ${refusal}, and root in it may have ` +
          `changed the VM (its kernel settings, its own files); stop it without --keep-vm (its VM is destroyed then)`,
      );
    const kept = this.ctx.reuse.keepNext(id);
    kept.catch(() => undefined);
    try {
      await e.ops.run(async (signal) => {
        if (!e.run) throw new PodNotRunningError(id);
        await stopLocked(this.ctx, e, timeoutSec, signal);
      });
    } catch (err) {
      this.ctx.reuse.cancelKeep(id, err as Error);
      throw err;
    }
    return kept;
  }

  private viewOf(vm: Vm): PodVmView {
    return (
      this.listVms().find((v) => v.id === vm.id) ?? {
        id: vm.id,
        state: 'Idle',
        memoryMiB: vm.size.memoryMiB,
        cpus: vm.size.cpus,
        held: true,
      }
    );
  }
}
