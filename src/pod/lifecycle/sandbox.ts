/**
 * The sandbox of a pod: its VM (with the devices and shares the VM brings), booted for a
 * start, re-adopted after a daemon restart, and torn down after a run. This module is the one
 * place of the pod layer that asks the VM layer for a VM (`acquire`), so that what a pod asks
 * of its VM is decided here alone.
 */
import type { Vm } from '../../vm/types';
import { imageDiskFits } from '../../vm/devices';
import { hotPlugsDisks } from './joined-disks';
import { endJoiners } from './joiners';
import { logger } from '../../util/log';
import type { PodContext } from '../context';
import type { Entry, Run } from '../records/registry';
import { hostsFile, startPod, type StartedPod } from './runtime';
import { extraHostLines, resolvWith, withExtraHosts } from '../../net/etc-config';
import { withDockerd26Comments } from '../../net/resolv-comments';
import type { ContainerNetworkPlan } from '../../net/container-config';
import { joinNetwork, leaveNetworks, nicsFor } from '../network/network';
import { resolveLinks } from '../network/links';
import { containersOf, diskNameOf, mainContainer, podSpecOf, type PodRecord, type PodSpec } from '../types';
import { InvalidArgumentError } from '../../errors';
import { JoinTargetNotRunningError } from '../errors';
import { needsVolumeShare } from '../mounts/mounts';
import { HeldVmRollback, keepSandbox } from './vm-reuse';
import { podGuestAlteringReason } from './guest-altering';
import { AGENT_CALL_MS, bounded } from '../async';
import { CNI_VM_NICS, joinCni, sandboxFiles } from '../network/cni-network';
import { restoredVm, savedInits, savedMain } from '../checkpoints/checkpoints';
import { restoreDirOf, type Restoring, type RestoreFrom } from './restore-takeover';
import { initProcessId } from './container-init';

const log = logger('pod');

/** Longest a run's teardown waits for archive requests reading through its VM. */
const ARCHIVE_WAIT_MS = 60_000;

/**
 * A VM fitting `spec` from the factory (warm pool), or the signal's reason as soon as
 * `giveUp` is aborted: a boot cannot be cut short, so a VM that arrives after the abort is
 * destroyed in the background.
 */
function acquire(
  ctx: PodContext,
  spec: PodSpec,
  giveUp: AbortSignal,
  nics: number,
  volumes = needsVolumeShare(spec),
): Promise<Vm> {
  const disk = spec.containers.some((c) => !c.podPause && ctx.deps.rootfs.usesDisk?.(c.id));
  // Its image read from a disk (image=disk, the default): the image's read-only disk goes
  // behind the VM's image disk, when the VM has a transport left for one.
  const imageDisk =
    disk &&
    spec.containers.some((c) => c.imageOnDisk && !c.podPause) &&
    imageDiskFits({ nics, volumes, upperDisk: true });
  const devices = {
    ...(nics > 0 ? { nics } : {}),
    ...(volumes ? { volumes: true } : {}),
    ...(disk ? { upperDisk: true } : {}),
    ...(imageDisk ? { imageDisk: true } : {}),
  };
  const pending = ctx.deps.factory.getVm({ size: spec.vm, ...(Object.keys(devices).length ? { devices } : {}) });
  const discard = () =>
    void pending.then(
      (vm) => ctx.track(vm.destroy()),
      () => undefined,
    );
  if (giveUp.aborted) {
    discard();
    return Promise.reject(giveUp.reason);
  }
  return new Promise<Vm>((resolve, reject) => {
    const onAbort = () => {
      discard();
      reject(giveUp.reason);
    };
    giveUp.addEventListener('abort', onAbort, { once: true });
    pending.then(
      (vm) => {
        giveUp.removeEventListener('abort', onAbort);
        if (giveUp.aborted) return; // onAbort already handed it on
        resolve(vm);
      },
      (err) => {
        giveUp.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/**
 * Boot a pod: a VM, each container's rootfs and files, its init containers run to their end,
 * and each app container's init (./runtime.ts). `giveUp` aborted (kill, rm -f) ends the wait
 * for the VM at once. With the pod's entry, init containers' output goes to their logs.
 * `from` (its entry given): the saved state it starts from, its processes taken over
 * (./restore-takeover.ts RestoreFrom; ../checkpoints/checkpoints.ts).
 */
export async function bootSandbox(
  ctx: PodContext,
  r: PodRecord,
  giveUp: AbortSignal,
  e?: Entry,
  from?: RestoreFrom,
): Promise<StartedPod> {
  const restoreFrom = restoreDirOf(from);
  const host = r.sandbox.spec.joinPod ? joinTarget(ctx, r) : undefined;
  // A joined pod is on the network of the pod whose VM it shares: no network of its own.
  const cni = !host && r.sandbox.spec.cni !== undefined;
  // A container in another pod's VM has that pod's hostname (its UTS namespace is its own);
  // a CRI sandbox's infra container is the agent's pause, not its image (pausePod).
  const spec = host ? { ...podSpecOf(r), hostname: host.hostname } : cni ? pausePod(podSpecOf(r)) : podSpecOf(r);
  const plan = host ? undefined : spec.network;
  const nets = nicsFor(plan) > 0 ? await ctx.deps.networks : undefined;
  if (nicsFor(plan) > 0 && !nets && (plan!.ports.length > 0 || plan!.networks.some((n) => n.ref !== 'bridge'))) {
    throw new Error(
      'this host has no container networks (bridges or iptables unavailable): the container cannot join a network',
    );
  }
  // A pod pinned to a VM the user holds (start --vm, replace) boots on that one, and a failed
  // start gives it back cleaned; a joined pod starts in the VM of the pod it joined.
  const pinned = host ? undefined : ctx.reuse.takePinned(r.id);
  return startPod(
    {
      acquireVm: () => {
        if (restoreFrom && e) return restoredVm(ctx, e, restoreFrom, joinerOf(from));
        if (host) return Promise.resolve(host.vm);
        // A CRI sandbox's VM takes the host mounts of the containers that join it later.
        if (cni) return acquire(ctx, spec, giveUp, CNI_VM_NICS, true);
        return pinned ? Promise.resolve(pinned) : acquire(ctx, spec, giveUp, nets ? nicsFor(plan) : 0);
      },
      ...(host
        ? {
            borrowedVm: true,
            ...(host.pidPeer ? { pidPeer: host.pidPeer } : {}),
            ...(host.shmPeer ? { shmPeer: host.shmPeer } : {}),
          }
        : {}),
      ...(pinned
        ? {
            heldVm: new HeldVmRollback(
              pinned,
              spec.containers.map((c) => c.id),
              podGuestAlteringReason(spec),
            ),
          }
        : {}),
      ...(e ? restoringOf(ctx, e, from) : {}),
      rootfs: ctx.deps.rootfs,
      ...(hotPlugsDisks(spec) ? { hotPluggedDisks: true } : {}),
      containerDir: (id) => ctx.dir(id),
      resolvConf: ctx.deps.resolvConf,
      ...(e ? { logFor: (id: string) => ctx.containerLog(e, id) } : {}),
      ...(cni ? { joinNetwork: (vm: Vm, hostResolv: string) => joinCni(ctx, spec, vm, hostResolv) } : {}),
      ...(host?.cniFilesOf ? { joinNetwork: () => sandboxFiles(ctx.dir(host.cniFilesOf!)) } : {}),
      ...(plan && !cni
        ? {
            joinNetwork: async (vm: Vm, hostResolv: string) => {
              // Links first: a linked container that does not run fails the start before any join.
              const linked = plan.links?.length ? resolveLinks(ctx, r, plan.links, nets) : undefined;
              const joined = nets
                ? await joinNetwork(
                    nets,
                    plan,
                    vm,
                    { id: r.id, name: r.name, hostname: spec.hostname, domainname: spec.domainname },
                    hostResolv,
                    // Its NICs as the save left them: only at the start from the checkpoint.
                    restoreFrom ? vm.restoredNics : undefined,
                  )
                : undefined;
              if (!joined && !plan.etc && !linked && !plan.resolvComments) return undefined;
              const gateway = joined?.endpoints[0]?.gateway;
              const extra = extraHostLines(plan.etc?.extraHosts ?? [], gateway);
              const onUserNetwork =
                !!nets && !!joined && joined.endpoints.some((ep) => !nets.get(ep.networkId).isDefault);
              return {
                // dockerd's order: --add-host's lines, then the links', then the container's own.
                hosts: withExtraHosts(joined?.files.hosts ?? hostsFile(spec.hostname), [
                  ...extra,
                  ...(linked?.hosts ?? []),
                ]),
                resolv: resolvOf(plan, resolvWith(joined?.files.resolv ?? hostResolv, plan.etc, onUserNetwork), {
                  sourcePath: ctx.deps.resolvConf ?? '/etc/resolv.conf',
                  hostResolv,
                  onUserNetwork,
                }),
                ...(linked?.env.length ? { env: linked.env } : {}),
                undo: () => (joined ? leaveNetworks(nets, r.id) : Promise.resolve()),
              };
            },
          }
        : {}),
    },
    spec,
  );
}

/**
 * The container's resolv.conf: `made`, with dockerd 26's comments where its plan asks for them
 * (../../net/resolv-comments.ts): on a user network the network's DNS server relays to the
 * host's nameservers.
 */
function resolvOf(
  plan: ContainerNetworkPlan,
  made: string,
  how: { sourcePath: string; hostResolv: string; onUserNetwork: boolean },
): string {
  if (!plan.resolvComments) return made;
  const hostServers = how.hostResolv
    .split('\n')
    .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
    .filter((x): x is string => !!x);
  return withDockerd26Comments(made, {
    sourcePath: how.sourcePath,
    ...(plan.etc ? { asked: plan.etc } : {}),
    ...(how.onUserNetwork ? { relaysTo: hostServers } : {}),
  });
}

/**
 * A CRI sandbox's pod as it starts: its infra container is the pod's pause of the agent
 * (PodContainerSpec.podPause), not a process of the sandbox image. In a VM per pod the VM is
 * the sandbox: the network, IPC and the hostname are the VM's or set by the agent, and what
 * the pod's containers need of the infra container is its PID namespace (shareProcessNamespace
 * joins it) and a process that runs while the sandbox is ready; reading, mounting and running
 * the image for that cost a fresh VM ~130 ms under TCG (docs/performance-log.md). The image is
 * still pulled and recorded, as the Docker API shows the sandbox as a container of it.
 */
function pausePod(spec: PodSpec): PodSpec {
  return { ...spec, containers: spec.containers.map((c) => ({ ...c, podPause: true })) };
}

/**
 * The running pod whose VM a joining pod starts in (docker --network/--pid/--ipc container:X):
 * its VM, and its main container's id when the PID namespace is joined too.
 */
function joinTarget(
  ctx: PodContext,
  r: PodRecord,
): { vm: Vm; hostname: string; pidPeer?: string; shmPeer?: string; cniFilesOf?: string } {
  const join = r.sandbox.spec.joinPod as NonNullable<PodSpec['joinPod']>;
  const host = ctx.registry.lookup(join.pod);
  if (host.record.id === r.id) throw new InvalidArgumentError('a container cannot join its own namespaces');
  const run = host.run;
  if (!run || mainContainer(host.record).state.status !== 'running')
    throw new JoinTargetNotRunningError(r.id, host.record.id);
  return {
    vm: run.vm,
    hostname: host.record.sandbox.spec.hostname,
    // A CRI sandbox's containers take its hosts and resolv.conf (the pod's DNS config).
    ...(host.record.sandbox.spec.cni ? { cniFilesOf: mainContainer(host.record).spec.id } : {}),
    ...(join.pid ? { pidPeer: mainContainer(host.record).spec.id } : {}),
    ...(join.ipc ? { shmPeer: mainContainer(host.record).spec.id } : {}),
  };
}

/** The VM `vmId` that outlived the previous daemon, if it still runs and can be adopted. */
export async function adoptSandbox(ctx: PodContext, podId: string, vmId: string): Promise<Vm | undefined> {
  if (!ctx.deps.hypervisor) return undefined;
  try {
    return await ctx.deps.hypervisor.adopt(vmId);
  } catch (err) {
    log.warn(`adopting VM ${vmId} of ${podId}: ${(err as Error).message}`);
    return undefined;
  }
}

/** Destroy a finished run's VM (or keep it, cleaned), then unmount its containers' rootfs (never rejects). */
export async function tearDownSandbox(ctx: PodContext, e: Entry, run: Run): Promise<void> {
  // Archive requests that began while it ran read through its VM: they end first (bounded).
  if (run.archives?.size)
    await bounded(Promise.all(run.archives), ARCHIVE_WAIT_MS, 'archive requests in its VM').catch((err) =>
      log.warn(`container ${e.record.id.slice(0, 12)}: ${(err as Error).message}`),
    );
  // stop --keep-vm and replace keep the VM, cleaned, instead (./vm-reuse.ts).
  const keep = ctx.reuse.takeKeep(e.record.id);
  if (keep) return keepSandbox({ ...ctx.deps, hotPluggedDisks: hotPlugsDisks(podSpecOf(e.record)) }, e, run, keep);
  const t0 = Date.now();
  if (run.borrowed) {
    // Another pod's VM: only this pod's containers go (their processes are gone already), and
    // the disks hot-plugged for them once the agent let go of them (its release syncs them).
    for (const c of containersOf(e.record)) {
      const id = c.spec.id;
      await run.vm.agent
        .destroyContainer(id)
        .catch((err) => log.debug(`destroying container ${id} in VM ${run.vm.id}: ${(err as Error).message}`));
      if (ctx.deps.rootfs.diskOf?.(id))
        await run.vm
          .detachJoinedDisks?.(diskNameOf(c.spec))
          .catch((err) =>
            log.warn(`unplugging the disks of container ${id} in VM ${run.vm.id}: ${(err as Error).message}`),
          );
    }
  } else {
    // Ports, names and the address go first, so that nothing is answered by a dying VM; and
    // at once (never rejects), beside the disk's sync below: a `docker rm` answers before the
    // teardown ends, and a `docker network rm` right after it (compose down) must find the
    // endpoint gone.
    const left = Promise.resolve(ctx.deps.networks).then((nets) => leaveNetworks(nets, e.record.id));
    // A writable layer on the VM's upper disk is synced to its file (the agent's release of
    // the container) before the VM goes; a guest that does not answer loses at most what its
    // ext4 journal had not committed. Not for a pod that goes next (AutoRemove, `docker run
    // --rm`, or removed already): nobody reads its layer again.
    const discarded = e.record.sandbox.spec.autoRemove || e.removed;
    // The containers that joined this VM go down with it: their layers synced first.
    await endJoiners(ctx, e, run.vm);
    for (const id of Object.keys(e.record.containers)) {
      if (discarded || !ctx.deps.rootfs.diskOf?.(id)) continue;
      await bounded(run.vm.agent.destroyContainer(id), AGENT_CALL_MS, 'syncing the upper disk').catch((err) =>
        log.warn(`destroying container ${id} in VM ${run.vm.id}: ${(err as Error).message}`),
      );
    }
    await left;
    await run.vm.destroy().catch((err) => log.warn(`destroying VM ${run.vm.id}: ${(err as Error).message}`));
    // A CRI sandbox's CNI network goes with its VM (the tap was in its namespace).
    if (e.record.sandbox.spec.cni && ctx.deps.cni)
      await ctx.deps.cni
        .tearDown(e.record.id)
        .catch((err) => log.warn(`tearing down the CNI network of ${e.record.id}: ${(err as Error).message}`));
  }
  const t1 = Date.now();
  for (const id of Object.keys(e.record.containers)) {
    await ctx.deps.rootfs.unmount(id).catch((err) => log.warn(`unmounting rootfs of ${id}: ${(err as Error).message}`));
  }
  log.debug(
    `container ${e.record.id.slice(0, 12)}: VM destroyed in ${t1 - t0} ms, rootfs unmounted in ${Date.now() - t1} ms`,
  );
}

/** The pod whose container keeps a CRI restore's saved disks (RestoreFrom), if any. */
function joinerOf(from: RestoreFrom | undefined): Entry | undefined {
  return typeof from === 'object' && 'joiner' in from ? from.joiner : undefined;
}

/**
 * What startPod takes over of saved state `from` for pod `e` (StartDeps.restoring): the saved
 * container of a checkpoint's VM (each one of a pod of several), or the one a joining pod
 * takes over in its host's restored VM (its init by its saved id: initProcessId).
 */
function restoringOf(ctx: PodContext, e: Entry, from: RestoreFrom | undefined): { restoring?: Restoring } {
  const r = e.record;
  if (typeof from === 'object' && 'takeOver' in from) {
    const saved = { containerId: from.takeOver, initProcess: initProcessId(from.takeOver) };
    return { restoring: { saved, resume: () => undefined, hostname: true } };
  }
  const dir = restoreDirOf(from);
  if (!dir) return {};
  return {
    restoring: {
      saved: savedMain(dir),
      resume: () => e.log.resumePoint(),
      ...(typeof from === 'object' ? { hostname: true } : {}),
      ...(containersOf(r).length > 1
        ? {
            pod: {
              saved: savedInits(dir),
              resumeOf: (id: string) =>
                id === mainContainer(r).spec.id ? e.log.resumePoint() : ctx.containerLog(e, id).resumePoint(),
            },
          }
        : {}),
    },
  };
}
