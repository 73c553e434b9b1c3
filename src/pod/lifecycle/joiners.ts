/**
 * The pods that joined another pod's VM (`docker run --network container:X`, Compose's
 * `network_mode: service:X`: PodSpec.joinPod), seen from the pod whose VM it is, and their end
 * when that VM goes while they run (X's stop, or X's checkpoint without --leave-running).
 *
 * Such a container's writable layer is on a disk of its own, hot-plugged on X's VM
 * (./joined-disks.ts), and what it wrote lies in the guest's page cache until the guest writes
 * it back. A VM destroyed with the container still in it would lose that (a power cut for its
 * filesystem, where dockerd's SIGKILL of a container loses no written byte): so each one is
 * destroyed by the agent first, which kills its processes (exit 137, as a kill's) and syncs its
 * layer to its disk, as X's own container is at X's teardown.
 */
import { logger } from '../../util/log';
import type { Vm } from '../../vm/types';
import { AGENT_CALL_MS, KILL_GRACE_MS, bounded } from '../async';
import type { PodContext } from '../context';
import { waitFor } from '../op-queue';
import type { Entry } from '../records/registry';

const log = logger('pod');

/** The running pods, other than `host`, that joined VM `vm` (pod `host`'s own). */
export function joinersOf(ctx: PodContext, host: Entry, vm: Vm): Entry[] {
  return [...ctx.registry.all()].filter((o) => o !== host && o.run?.borrowed === true && o.run.vm === vm);
}

/**
 * End each pod that joined VM `vm` (pod `host`'s) with its layers synced to their disks: the
 * agent destroys its containers (a guest that does not answer in time loses, for that one, what
 * it had not written back). With `settled` (a save, whose VM must then hold none of their
 * devices), also waits for each one's run to be torn down, its hot-plugged disks unplugged, and
 * keeps a restart policy from starting it again meanwhile; resolves false if one did not end in
 * time. Never rejects.
 */
export async function endJoiners(
  ctx: PodContext,
  host: Entry,
  vm: Vm,
  opts: { settled?: boolean } = {},
): Promise<boolean> {
  const joiners = joinersOf(ctx, host, vm);
  const ended = await Promise.all(
    joiners.map(async (o) => {
      const run = o.run;
      if (!run) return true;
      // Its VM's owner ended it, as at X's stop: 137 whatever its init reports, and with a
      // save, no restart by policy into the VM being saved (the checkpoint's own container
      // gets the same).
      run.forcedExitCode = 137;
      if (opts.settled) o.record.manuallyStopped = true;
      for (const id of Object.keys(o.record.containers))
        await bounded(vm.agent.destroyContainer(id), AGENT_CALL_MS, 'syncing a joined container').catch((err) =>
          log.warn(`destroying joined container ${id} in VM ${vm.id}: ${(err as Error).message}`),
        );
      if (!opts.settled) return true;
      if (!(await waitFor(run.ended, AGENT_CALL_MS + KILL_GRACE_MS))) return false;
      await o.teardown;
      return true;
    }),
  );
  return ended.every(Boolean);
}
