/**
 * Changes to an existing pod that are not lifecycle steps: its name, and its restart policy,
 * resources and front-end data (one update, checked first and persisted once under the pod's
 * lock, so that a crash or a concurrent operation never sees half of it).
 */
import type { ResourceLimits } from '../../vm/types';
import type { PodVmSize } from '../types';
import type { LegacyLink } from '../../net/legacy-links';
import type { PodContext } from '../context';
import { checkFitsVm } from './limits';
import { AutoRemoveRestartPolicyError, NameInUseError, PodUpdateRefusedError, RenameToSameNameError } from '../errors';
import type { Entry } from './registry';
import { containerName, mainContainer, type RestartPolicy } from '../types';

/** What one update changes; absent fields are left as they are. */
export interface PodUpdate {
  /** New restart policy (refused, other than `no`, for a pod removed when it exits). */
  restartPolicy?: RestartPolicy;
  /**
   * New resources: the VM size used from the next start, and the limits of the container's
   * cgroup (applied live when the pod runs, as far as its VM allows; undefined: none).
   */
  resources?: { size: PodVmSize; limits: ResourceLimits | undefined };
  /** New front-end data (opaque to the pod layer), stored with the rest. */
  frontend?: unknown;
  /** New links on the default bridge (`docker rm --link`): they apply from the next start. */
  links?: LegacyLink[];
  /**
   * Volumes that were kept on the main container's own disk and whose data has moved to their
   * host directory (another container claimed them): from the next start the container mounts
   * them over the volume share, as any volume. Refused while the pod runs.
   */
  volumesOffDisk?: string[];
}

/** Give a pod a new name (lock held by the caller's queue). */
export async function rename(ctx: PodContext, e: Entry, newName: string): Promise<void> {
  const r = e.record;
  const names = ctx.registry.names;
  const n = newName.replace(/^\//, '');
  if (n === r.name) throw new RenameToSameNameError(r.id, n);
  try {
    names.reserve(n, r.id);
  } catch (err) {
    if (err instanceof NameInUseError) throw new NameInUseError(err.podName, err.holderId, true);
    throw err;
  }
  const old = r.name;
  r.name = n;
  try {
    await ctx.persist(e);
  } catch (err) {
    r.name = old;
    names.release(n, r.id);
    throw err;
  }
  names.release(old, r.id);
  const before = { ...r, name: old };
  ctx.emitEach(
    r,
    'rename',
    () => true,
    (c) => ({ oldName: `/${containerName(before, c)}` }),
  );
}

/**
 * Apply an update (lock held). Everything is checked before anything changes; a running pod
 * gets its new limits live in its guest cgroup, as far as its VM allows (a VM is not resized
 * while it runs: a limit beyond it is refused, saying so). Persisted once, at the end.
 */
export async function update(ctx: PodContext, e: Entry, u: PodUpdate): Promise<void> {
  const r = e.record;
  const sandbox = r.sandbox.spec;
  if (u.restartPolicy && sandbox.autoRemove && u.restartPolicy.name !== 'no') {
    throw new AutoRemoveRestartPolicyError(r.id);
  }
  // Resources apply to the pod's main container: the only one of the pods that the Docker
  // front end creates, and the only one whose limits an update names.
  const main = mainContainer(r).spec;
  const run = e.run;
  if (u.volumesOffDisk?.length && run)
    throw new PodUpdateRefusedError(r.id, 'its volumes cannot leave its disk while it runs (stop it first)');
  if (u.resources) {
    const { size, limits } = u.resources;
    if (run) checkFitsVm(r.id, run.vm.size, size, limits);
    if (run && (limits || main.limits)) {
      const agent = run.vm.agent;
      if (!agent.updateResources)
        throw new PodUpdateRefusedError(r.id, 'its VM cannot change limits live (stop it first)');
      // A limit that was set and is now gone is lifted ("max").
      const apply: ResourceLimits = { ...(limits ?? {}) };
      if (apply.memoryMax === undefined && main.limits?.memoryMax !== undefined) apply.memoryMax = 0;
      if (apply.cpuQuota === undefined && main.limits?.cpuQuota !== undefined) apply.cpuQuota = 0;
      if (apply.cpuWeight === undefined && main.limits?.cpuWeight !== undefined) apply.cpuWeight = 100;
      if (apply.memoryLow === undefined && main.limits?.memoryLow !== undefined) apply.memoryLow = 0;
      if (apply.pidsMax === undefined && main.limits?.pidsMax !== undefined) apply.pidsMax = 0;
      await agent.updateResources(main.id, apply);
    }
  }
  if (u.restartPolicy) sandbox.restartPolicy = u.restartPolicy;
  if (u.resources) {
    if (u.resources.limits) main.limits = { ...u.resources.limits };
    else delete main.limits;
    // The VM keeps its size while it runs; the next start sizes it for the new limits.
    sandbox.vm = { ...u.resources.size };
  }
  for (const m of main.mounts ?? [])
    if (m.type === 'volume' && m.diskDir && u.volumesOffDisk?.includes(m.name)) delete m.diskDir;
  if (u.frontend !== undefined) r.frontend = u.frontend;
  if (u.links && sandbox.network) {
    if (u.links.length) sandbox.network.links = u.links;
    else delete sandbox.network.links;
  }
  await ctx.persist(e);
}
