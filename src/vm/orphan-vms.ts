/**
 * At daemon start: VMs left in the runtime directory by an earlier daemon that no container
 * claims (its idle pool VMs, half-booted VMs) are destroyed. VMs of running containers are
 * passed in `keep` and left to the pod layer, which adopts them.
 */
import type { Hypervisor } from './types';
import { logger } from '../util/log';

const log = logger('vm');

/** Destroy every runtime VM whose id is not in `keep`; returns how many went. */
export async function reclaimOrphanVms(hypervisor: Hypervisor, keep: ReadonlySet<string>): Promise<number> {
  let n = 0;
  for (const id of await hypervisor.listRuntimeVms()) {
    if (keep.has(id) || hypervisor.ownsVm?.(id)) continue;
    try {
      // adopt() cleans up a VM that is already gone; a live one is destroyed here.
      const vm = await hypervisor.adopt(id);
      if (vm) await vm.destroy();
      n++;
    } catch (err) {
      log.error(`cannot reclaim VM ${id}: ${(err as Error).message}`);
    }
  }
  if (n) log.info(`reclaimed ${n} VM(s) left by an earlier daemon`);
  return n;
}
