/**
 * A start from a checkpoint (../checkpoints/checkpoints.ts): the processes of the restored VM
 * taken over instead of created, for a pod of one container (a restore, or a fork renamed as
 * the fork's) and for a native pod of several (each app container by the disks it runs on).
 * Called by ./runtime.ts startPod once the VM is on the pod's network.
 */
import { UnavailableError } from '../../errors';
import type { AgentProcess, OutputResume, Vm } from '../../vm/types';
import type { PreparedFiles } from './container-init';
import { diskNameOf, type PodSpec } from '../types';
import type { Entry } from '../records/registry';

/**
 * Where a start from saved state comes from (./lifecycle.ts startLocked): a checkpoint's
 * directory; or one with pod `joiner`, whose container keeps the disks of the container saved
 * in that checkpoint's VM (a CRI restore: ../checkpoints/cri-restore.ts); or, for a pod that
 * joins another's VM, the id the guest knows the saved container it takes over by.
 */
export type RestoreFrom = string | { dir: string; joiner: Entry } | { takeOver: string };

/** The checkpoint directory of `from`, when it has one. */
export function restoreDirOf(from: RestoreFrom | undefined): string | undefined {
  return typeof from === 'string' ? from : from && 'dir' in from ? from.dir : undefined;
}

/**
 * What a start from a checkpoint knows of it (./runtime.ts StartDeps.restoring): the container
 * saved as `saved.containerId` becomes the pod's, and its init (`initProcess`) is taken over,
 * its output going on from `resume`.
 */
export interface Restoring {
  saved?: { containerId: string; initProcess?: string };
  resume(): OutputResume | undefined;
  /** The container takes the pod's hostname in the guest (a CRI restore's: a new pod's), not the saved one's. */
  hostname?: boolean;
  /**
   * A native pod of several restored from a checkpoint (its own, or another's for a fork):
   * each container as the save knew it (its id, the name of its disks, its init's process
   * id); the pod's own containers' output goes on from `resumeOf(its id)`.
   */
  pod?: {
    saved: Array<{ containerId: string; diskName: string; initProcess?: string }>;
    resumeOf(containerId: string): OutputResume | undefined;
  };
}

/**
 * The init of the one container of a pod whose VM was restored from a checkpoint (its
 * processes run on in the restored guest), taken over with its output going on from where
 * the container's log is; its /etc files (`etcFiles`) written first.
 */
export async function takeOverRestored(
  vm: Vm,
  spec: PodSpec,
  restoring: Restoring,
  etcFiles: Array<[string, string]>,
): Promise<Map<string, AgentProcess>> {
  const [c] = spec.containers;
  const saved = restoring.saved;
  if (!c || !saved) throw new UnavailableError("the checkpoint's record of its container cannot be read");
  // A container of a checkpoint image, or of a CRI restore, has a hostname of its own; a fork
  // keeps the saved one.
  await takeOverAs(vm, saved.containerId, c.id, spec.savedState || restoring.hostname ? spec.hostname : undefined);
  await Promise.all(
    etcFiles.map(([name, content]) => vm.agent.writeFile(c.id, `/etc/${name}`, Buffer.from(content), 0o644)),
  );
  const wanted = saved.initProcess;
  // The container's own log goes on from where it is; a fork's starts with what comes now.
  const own = saved.containerId === c.id;
  const procs = await vm.agent.reattach((p) => (own && p.processId === wanted ? restoring.resume() : undefined));
  const init = procs.find((p) => p.processId === wanted);
  if (!init) throw new UnavailableError(`the restored VM has no process ${wanted ?? '(unknown)'} to take over`);
  return new Map([[c.id, init]]);
}

/**
 * The inits of the containers of a native pod of several whose VM was restored from a
 * checkpoint (`pod`: its own, or another's for a fork), taken over: a fork's containers take
 * over the saved ones whose disks they run on (PodContainerSpec.diskName), renamed in the
 * guest, their output starting now; the pod's own go on from where each one's log is. Each
 * app container's /etc files (`files`, in `spec`'s order) are written first; its init
 * containers, which ended before the save, have nothing to take over. Refused when one is not
 * there.
 */
export async function takeOverRestoredPod(
  vm: Vm,
  spec: PodSpec,
  pod: NonNullable<Restoring['pod']>,
  files: PreparedFiles[],
): Promise<Map<string, AgentProcess>> {
  const savedBy = new Map(pod.saved.map((s) => [s.diskName, s]));
  const wanted = new Map<string, string | undefined>();
  // Its init containers ended before the save (the agent let them go; their disks stay
  // plugged, and were restored with the rest): nothing of them runs to take over.
  const apps = spec.containers.filter((c) => !c.init);
  for (const c of apps) {
    const s = savedBy.get(diskNameOf(c));
    if (!s) throw new UnavailableError(`the checkpoint has no container for ${c.name ?? c.id.slice(0, 12)}`);
    await takeOverAs(vm, s.containerId, c.id);
    wanted.set(c.id, s.initProcess);
  }
  const own = new Set(pod.saved.map((s) => s.containerId));
  await Promise.all(
    spec.containers.flatMap((c, i) =>
      c.init
        ? []
        : (files[i]?.guestFiles ?? []).map(([name, content]) =>
            vm.agent.writeFile(c.id, `/etc/${name}`, Buffer.from(content), 0o644),
          ),
    ),
  );
  const procs = await vm.agent.reattach((p) =>
    own.has(p.containerId) && wanted.get(p.containerId) === p.processId ? pod.resumeOf(p.containerId) : undefined,
  );
  const inits = new Map<string, AgentProcess>();
  for (const c of apps) {
    const init = procs.find((p) => p.containerId === c.id && p.processId === wanted.get(c.id));
    if (!init)
      throw new UnavailableError(`the restored VM has no process ${wanted.get(c.id) ?? '(unknown)'} to take over`);
    inits.set(c.id, init);
  }
  return inits;
}

/**
 * A fork's container taking over saved container `savedId`: the guest knows it by the id it
 * was saved with, and is told its new one (nothing to do for the pod's own restore), and its
 * `hostname` when it has one of its own.
 */
async function takeOverAs(vm: Vm, savedId: string, id: string, hostname?: string): Promise<void> {
  if (savedId === id) return;
  if (!vm.agent.renameContainer) throw new UnavailableError('this agent cannot take a container over as another');
  await vm.agent.renameContainer(savedId, id, hostname);
}
