/**
 * A pod's VM used again: started on a VM the user holds (`start --vm`), kept when the pod
 * stops (`stop --keep-vm`), and both at once (`replace`). The sandbox (./sandbox.ts) asks
 * this module, at each boot, whether the pod is pinned to a VM, and at each teardown, whether
 * the VM is to be kept; everything else of the lifecycle is unchanged.
 *
 * A kept VM is cleaned before anyone gets it (src/vm/clean.ts): the pod leaves its networks
 * (ports, address, names; its taps come off the bridges) while the guest half is done
 * (containers destroyed, interfaces reset), before the pod's rootfs is unmounted on the host,
 * the share directories emptied after. A VM that cannot be cleaned is destroyed, and the
 * keep fails. So is a VM that a container of the pod could have changed beyond what cleaning
 * undoes (./guest-altering.ts: a privileged one, say): it is never kept for another pod. A start on a held VM that fails gives the VM back the same way
 * (`HeldVmRollback`), so a refused start (a host port in use) does not cost the user the VM.
 */
import { ConflictError } from '../../errors';
import { logger } from '../../util/log';
import { cleanGuest, cleanShares } from '../../vm/clean';
import type { Vm } from '../../vm/types';
import type { RootfsManager } from '../../storage/types';
import { leaveNetworks, type PodNetworks } from '../network/network';
import type { Entry, Run } from '../records/registry';
import { podGuestAlteringReason } from './guest-altering';
import { containersOf, diskNameOf, podSpecOf } from '../types';

const log = logger('pod');

/**
 * Why the VM of pod `e`'s run (its current one unless given) must not be kept for another pod (./guest-altering.ts:
 * a container of the pod, or something run in it, could change the VM itself); undefined
 * when it may be kept.
 */
export function keepRefusal(e: Entry, run: Run | undefined = e.run): string | undefined {
  return podGuestAlteringReason(podSpecOf(e.record)) ?? run?.guestAltered;
}

interface Keep {
  resolve(vm: Vm): void;
  reject(err: Error): void;
}

/** Which pods are pinned to a VM for their next boot, and whose VM is to be kept. */
export class VmReuse {
  private readonly pinned = new Map<string, Vm>();
  private readonly keeping = new Map<string, Keep>();

  /** Make the next boot of pod `podId` use `vm` instead of the factory's. */
  pin(podId: string, vm: Vm): void {
    this.pinned.set(podId, vm);
  }

  /** The VM pod `podId` is pinned to, taken (a boot uses it once); undefined when none. */
  takePinned(podId: string): Vm | undefined {
    const vm = this.pinned.get(podId);
    this.pinned.delete(podId);
    return vm;
  }

  /** Ask for the VM of pod `podId`'s current run to be kept: resolves with it once cleaned. */
  keepNext(podId: string): Promise<Vm> {
    return new Promise<Vm>((resolve, reject) => this.keeping.set(podId, { resolve, reject }));
  }

  /** Withdraw a keep request (the stop failed before the run ended). */
  cancelKeep(podId: string, why: Error): void {
    this.keeping.get(podId)?.reject(why);
    this.keeping.delete(podId);
  }

  /** The keep request of pod `podId`, taken; undefined when its VM is to be destroyed. */
  takeKeep(podId: string): Keep | undefined {
    const k = this.keeping.get(podId);
    this.keeping.delete(podId);
    return k;
  }
}

/**
 * The teardown of a run whose VM is kept: the VM cleaned and handed to `keep`, the pod's
 * rootfs unmounted. When the VM cannot be cleaned it is destroyed and `keep` rejected.
 * Never rejects. `deps`: the pod context's networks and rootfs (PodManagerDeps).
 */
export async function keepSandbox(
  deps: { networks?: Promise<PodNetworks | undefined>; rootfs: RootfsManager; hotPluggedDisks?: boolean },
  e: Entry,
  run: Run,
  keep: Keep,
): Promise<void> {
  const ids = Object.keys(e.record.containers);
  const t0 = Date.now();
  // Checked before the stop too (./vms.ts); a privileged exec may have started since.
  const unfit = keepRefusal(e, run);
  if (unfit) {
    const left = deps.networks ? deps.networks.then((nets) => leaveNetworks(nets, e.record.id)) : Promise.resolve();
    await run.vm.destroy().catch((err) => log.warn(`destroying VM ${run.vm.id}: ${(err as Error).message}`));
    await left;
    for (const id of ids) {
      await deps.rootfs.unmount(id).catch((err) => log.warn(`unmounting rootfs of ${id}: ${(err as Error).message}`));
    }
    log.warn(`VM ${run.vm.id} of pod ${e.record.id.slice(0, 12)} destroyed, not kept: ${unfit}`);
    keep.reject(new ConflictError(notKeptMessage(run.vm.id, unfit)));
    return;
  }
  // The pod leaves its networks on the host (ports, names, address, the taps off the bridges:
  // never rejects) while the guest is cleaned: its processes are gone already, so nothing of
  // it answers meanwhile, and the two are independent.
  const left = deps.networks ? deps.networks.then((nets) => leaveNetworks(nets, e.record.id)) : Promise.resolve();
  let failure: Error | undefined;
  try {
    await cleanGuest(run.vm, ids);
    // Disks hot-plugged for its containers (a pod of several: ./joined-disks.ts) go once the
    // agent has let go of them: the next pod on the VM gets a controller with nothing of this one.
    if (deps.hotPluggedDisks)
      for (const c of containersOf(e.record))
        if (deps.rootfs.diskOf?.(c.spec.id)) await run.vm.detachJoinedDisks?.(diskNameOf(c.spec));
  } catch (err) {
    failure = err as Error;
    await run.vm.destroy().catch(() => undefined);
  }
  await left;
  for (const id of ids) {
    await deps.rootfs.unmount(id).catch((err) => log.warn(`unmounting rootfs of ${id}: ${(err as Error).message}`));
  }
  if (!failure) {
    try {
      await cleanShares(run.vm);
    } catch (err) {
      failure = err as Error;
      await run.vm.destroy().catch(() => undefined);
    }
  }
  if (failure) {
    log.warn(
      `VM ${run.vm.id} of pod ${e.record.id.slice(0, 12)} could not be cleaned for reuse (destroyed): ${failure.message}`,
    );
    keep.reject(new Error(`the VM ${run.vm.id} could not be cleaned for reuse and was destroyed: ${failure.message}`));
    return;
  }
  log.debug(`pod ${e.record.id.slice(0, 12)}: VM ${run.vm.id} cleaned for reuse in ${Date.now() - t0} ms`);
  keep.resolve(run.vm);
}

/** What the user is told when a VM that was to be kept is destroyed instead (see keepRefusal). */
export function notKeptMessage(vmId: string, why: string): string {
  return (
    `the VM ${vmId} was destroyed, not kept: ${why}, and root in it may have changed the VM ` +
    `(its kernel settings, its own files) for any pod after it`
  );
}

/**
 * The undo of a start on a held VM that failed (./runtime.ts runs it in its rollback): the VM
 * cleaned as for a keep instead of destroyed. `guest` runs before the containers' rootfs are
 * unmounted (their network already left), `shares` after; a VM that cannot be cleaned is
 * destroyed (the held VMs drop it when it exits), otherwise the caller lists it Idle again.
 */
export class HeldVmRollback {
  private unfit = false;

  constructor(
    private readonly vm: Vm,
    private readonly containerIds: string[],
    /** Why the pod's containers may have changed the VM (./guest-altering.ts): it is destroyed, not given back. */
    private readonly altering?: string,
  ) {}

  /** The guest half: the containers the start made destroyed, interfaces reset. Never rejects. */
  async guest(): Promise<void> {
    if (this.unfit) return;
    // A container of the pod may have run before the start failed.
    if (this.altering) return this.giveUp(new Error(this.altering));
    await cleanGuest(this.vm, this.containerIds).catch((err) => this.giveUp(err as Error));
  }

  /** The host half, after the rootfs unmounts: the share directories emptied. Never rejects. */
  async shares(): Promise<void> {
    if (this.unfit) return;
    await cleanShares(this.vm).catch((err) => this.giveUp(err as Error));
  }

  private async giveUp(err: Error): Promise<void> {
    this.unfit = true;
    log.warn(`VM ${this.vm.id} could not be cleaned after a failed start (destroyed): ${err.message}`);
    await this.vm.destroy().catch(() => undefined);
  }
}
