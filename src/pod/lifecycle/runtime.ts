/**
 * Starting a pod on a VM, in explicit phases; a failure in any phase undoes what the earlier
 * ones did (hyperstart's sandbox / resources / containers / processes order):
 *
 *   1. vm        a VM from the sandbox (warm pool)          undo: vm.destroy()
 *   2. rootfs    each container's overlay mounted under     undo: rootfs.unmount()
 *                vm.shareDir/containers/<id>/rootfs; in block mode the image layers alone
 *                (read-only) there, and the container's disk file put behind the VM's upper
 *                disk (undo: detached); the guest makes the overlay
 *   3. files     /etc/hostname, /etc/hosts, /etc/resolv.conf written and /etc/passwd,
 *                /etc/group read on the host through the rootfs mount (../mounts/etc-files.ts; copies
 *                of the hosts files kept in the container's host directory, where inspect's
 *                *Path fields point)
 *   4. sandbox   init containers first, each created, run to its end and destroyed, in
 *                order (./init-containers.ts); then agent.createContainer for every app
 *                container at once (undone by destroying the VM; in a borrowed VM, by
 *                destroying the containers); the agent writes or reads what the host left
 *                to it (symlinks). A pod of several shares PID and UTS namespaces.
 *   5. process   user resolved from the container's own /etc/passwd and /etc/group, then the
 *                init process started with Docker's runtime environment
 *
 * Phases 4 and 5 of one container are ./container-init.ts. A CRI sandbox's infra container
 * (PodContainerSpec.podPause) skips phase 2 and the guest's part of phase 3: it is the agent's
 * own pause in a root of the agent's, not its image; without sysctls its phases 4 and 5 run
 * beside the network's join (measured: ~30 ms less per sandbox, docs/performance-log.md). An
 * app container's CREATE_CONTAINER waits for the join: sent before it, the guest's overlay mount failed now and then with EINVAL over the rootfs
 * share's tree, the layers share's mount having failed (a CRI sandbox, a build's RUN step);
 * not understood yet (docs/performance-log.md, "What the upper disk costs inside the guest").
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AgentProcess, Vm } from '../../vm/types';
import { attachContainerDisks, guestDisks } from './container-disks';
import type { RootfsManager } from '../../storage/types';
import { sharesNamespaces, type PodContainerSpec, type PodSpec } from '../types';
import { runInitContainers, type InitRun } from './init-containers';
import { takeOverRestored, takeOverRestoredPod, type Restoring } from './restore-takeover';
import type { LogWriter } from '../io/logs';
import { UnavailableError } from '../../errors';
import { FALLBACK, readEtcFile, writeEtcFile } from '../mounts/etc-files';
import { logger } from '../../util/log';
import { mountHostSources } from '../mounts/mounts';
import type { BeneathPath } from '../../util/beneath';
import { guestContainerSecurity } from '../security/security';
import { MAX_ACCOUNT_FILE, startContainer, withSeccomp, type PreparedFiles } from './container-init';

const log = logger('pod');

/** What a started pod holds on to. */
export interface StartedPod {
  vm: Vm;
  /** Init process of each app container, by container id. */
  inits: Map<string, AgentProcess>;
  /** How each init container ran (every one exited 0), by container id. */
  initRuns: Map<string, InitRun>;
  /** Variables of legacy links (../network/links.ts), before each container's own; execs get them too. */
  linkEnv?: string[];
}

/** What startPod needs. */
export interface StartDeps {
  /**
   * The VM for this pod (phase 1). The sandbox module (./sandbox.ts) supplies it: it is the
   * one place of the pod layer that asks for a VM.
   */
  acquireVm(): Promise<Vm>;
  rootfs: RootfsManager;
  /** Host directory of a container (hosts files are copied there). */
  containerDir(id: string): string;
  /** Host resolv.conf to give containers (default /etc/resolv.conf). */
  resolvConf?: string;
  /** The log of an init container's output (none: not logged). */
  logFor?(containerId: string): LogWriter | undefined;
  /** The VM is another pod's: a failed start destroys the containers it made, not the VM. */
  borrowedVm?: boolean;
  /**
   * Its containers' disks are hot-plugged on the VM's SCSI controller, not the VM's own upper
   * and image disks (./joined-disks.ts hotPlugsDisks: a joined pod, a pod of several).
   */
  hotPluggedDisks?: boolean;
  /**
   * The VM is one the user holds: a failed start cleans it (./vm-reuse.ts HeldVmRollback:
   * `guest` before the rootfs unmounts, `shares` after) instead of destroying it.
   */
  heldVm?: { guest(): Promise<void>; shares(): Promise<void> };
  /** Its containers join the PID namespace of this container's init (docker --pid container:X). */
  pidPeer?: string;
  /** Its containers mount this container's /dev/shm over their own (docker --ipc container:X). */
  shmPeer?: string;
  /**
   * The VM (acquireVm's) is restored from a checkpoint of a pod of one container (this pod's,
   * or another's for a fork), or of this pod of several (`pod`): its disks are behind it
   * already, and its containers run. The
   * container saved as `saved.containerId` becomes this pod's, and its init (`initProcess`) is
   * taken over, its output going on from `resume`, instead of phases 3 to 5.
   */
  restoring?: Restoring;
  /**
   * Put the VM on the pod's network (../network/network.ts), given the host's filtered resolv.conf;
   * returns the hosts files that go with the address, and the undo of the join.
   */
  joinNetwork?(vm: Vm, hostResolv: string): Promise<JoinedNetwork | undefined>;
}

/** A pod's VM on its network (StartDeps.joinNetwork). */
export interface JoinedNetwork {
  /** The container's /etc/hosts. */
  hosts: string;
  /** The container's /etc/resolv.conf. */
  resolv: string;
  /** Variables of legacy links (../network/links.ts). */
  env?: string[];
  /** Leave the network. */
  undo(): Promise<void>;
}

/** The rootfs path of a container relative to the VM's share directory. */
export function rootfsInShare(containerId: string): string {
  return `containers/${containerId}/rootfs`;
}

/** Where a container's rootfs is mounted in `vm`: below its share directory, which the guest writes. */
export function rootfsTarget(vm: Vm, containerId: string): BeneathPath {
  return { root: vm.shareDir, rel: rootfsInShare(containerId) };
}

/** The lines Docker's /etc/hosts always starts with (loopback and the IPv6 names). */
export const FIXED_HOSTS_LINES: readonly string[] = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'ff00::0\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
];

/** Docker's /etc/hosts for a container without a network. */
export function hostsFile(hostname: string): string {
  return [...FIXED_HOSTS_LINES, `127.0.1.1\t${hostname}`, ''].join('\n');
}

/** The host's resolv.conf without loopback resolvers (unreachable from a VM), as Docker filters it. */
export function resolvConfFor(hostText: string): string {
  const lines = hostText.split('\n').filter((l) => !/^\s*nameserver\s+(127\.|::1\b)/.test(l));
  const text = lines.join('\n').trim();
  return text ? `${text}\n` : '';
}

/** Run `fn` phases with rollback: each `undo` pushed is run (in reverse) if a later step throws. */
async function withRollback<T>(fn: (undo: Array<() => Promise<void>>) => Promise<T>): Promise<T> {
  const undo: Array<() => Promise<void>> = [];
  try {
    return await fn(undo);
  } catch (e) {
    for (const u of undo.reverse()) {
      try {
        await u();
      } catch (ue) {
        log.warn(`rollback step failed: ${(ue as Error).message}`);
      }
    }
    throw e;
  }
}

/** Undo steps of a start, run in reverse when a later phase fails (withRollback). */
type Undo = Array<() => Promise<void>>;

/** Phase 1: the pod's VM, and how a failed start gives it back. */
async function acquireVm(deps: StartDeps, spec: PodSpec, undo: Undo): Promise<Vm> {
  const vm = await deps.acquireVm();
  if (deps.borrowedVm) {
    // Another pod's VM: only what this start made in it is undone.
    undo.push(async () => {
      for (const c of spec.containers) await vm.agent.destroyContainer(c.id).catch(() => undefined);
    });
  } else if (deps.heldVm) {
    const held = deps.heldVm;
    undo.push(() => held.shares());
  } else {
    undo.push(() => vm.destroy());
  }
  // The pod's own VM goes under the host cgroup the pod asks for (or back under podvisor's
  // own: a held VM may come from a pod that asked for another); another pod's VM stays where it is.
  if (!deps.borrowedVm) {
    if (vm.placeCgroup) await vm.placeCgroup(spec.hostCgroupParent);
    else if (spec.hostCgroupParent !== undefined)
      throw new UnavailableError(`VM ${vm.id} has no host cgroup to put under "${spec.hostCgroupParent}"`);
  }
  return vm;
}

/** Phase 2: each container's rootfs (and upper disk) and the host sources of its mounts. */
async function mountRootfs(deps: StartDeps, spec: PodSpec, vm: Vm, undo: Undo): Promise<void> {
  for (const c of spec.containers) {
    if (c.podPause) continue; // the agent's own root: no image, no disk, no mounts
    // A disk still to be made takes the one the pool VM holds mounted ahead, when it fits (not
    // a hot-plugged one: the ready disk is the VM's own upper disk's).
    const ready = deps.hotPluggedDisks ? undefined : vm.takeReadyDisk?.bind(vm);
    await deps.rootfs.mount(c.id, rootfsTarget(vm, c.id), ready ? { readyDisk: { take: ready } } : {});
    undo.push(() => deps.rootfs.unmount(c.id));
    const disk = deps.rootfs.diskOf?.(c.id);
    if (disk) await attachContainerDisks(deps, vm, c, disk, undo);
    if (c.mounts?.some((m) => m.type === 'bind' || m.type === 'volume')) undo.push(await mountHostSources(vm, c));
  }
  // A held VM's guest is cleaned before its rootfs are unmounted (after the network is left).
  if (deps.heldVm) undo.push(deps.heldVm.guest.bind(deps.heldVm));
}

/** The host's resolv.conf, filtered; the VM put on the pod's network when it has one. */
async function joinPodNetwork(
  deps: StartDeps,
  vm: Vm,
  undo: Undo,
): Promise<{ resolv: string; net: JoinedNetwork | undefined }> {
  let resolv = '';
  try {
    resolv = resolvConfFor(await fs.promises.readFile(deps.resolvConf ?? '/etc/resolv.conf', 'utf8'));
  } catch {
    // No resolv.conf on the host: the container gets an empty one.
  }
  const net = await deps.joinNetwork?.(vm, resolv);
  if (net) {
    undo.push(net.undo);
    resolv = net.resolv;
  }
  return { resolv, net };
}

/**
 * Phase 3: the hosts files and the user lookup, on the host through the rootfs mount while the
 * guest has not looked at them yet (../mounts/etc-files.ts); what needs the agent is left over.
 */
async function prepareFiles(
  deps: StartDeps,
  spec: PodSpec,
  vm: Vm,
  resolv: string,
  net: JoinedNetwork | undefined,
): Promise<PreparedFiles[]> {
  return Promise.all(
    spec.containers.map(async (c): Promise<PreparedFiles> => {
      const root = rootfsTarget(vm, c.id);
      const files: Array<[string, string]> = [
        ['hostname', `${spec.hostname}\n`],
        ['hosts', net?.hosts ?? hostsFile(spec.hostname)],
        ['resolv.conf', resolv],
      ];
      const dir = deps.containerDir(c.id);
      await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
      if (c.podPause) {
        // The pod's pause reads none of them: the host's copies are for the pod's containers.
        await Promise.all(
          files.map(([name, content]) => fs.promises.writeFile(path.join(dir, name), content, { mode: 0o644 })),
        );
        return NO_FILES;
      }
      if (deps.rootfs.diskOf?.(c.id)) {
        // Block mode: the host sees the image layers only; the agent writes and reads them.
        await Promise.all(
          files.map(([name, content]) => fs.promises.writeFile(path.join(dir, name), content, { mode: 0o644 })),
        );
        return { guestFiles: files, passwd: FALLBACK, group: FALLBACK, linkEnv: net?.env ?? [] };
      }
      const [written, passwd, group] = await Promise.all([
        Promise.all(
          files.map(async ([name, content]) => {
            await fs.promises.writeFile(path.join(dir, name), content, { mode: 0o644 });
            return (await writeEtcFile(root, name, Buffer.from(content), 0o644)) === FALLBACK;
          }),
        ),
        readEtcFile(root, 'passwd', MAX_ACCOUNT_FILE),
        readEtcFile(root, 'group', MAX_ACCOUNT_FILE),
      ]);
      return { guestFiles: files.filter((_, i) => written[i]), passwd, group, linkEnv: net?.env ?? [] };
    }),
  );
}

/** The agent's CREATE_CONTAINER of one container of the pod (its seccomp profile with it). */
function createIn(deps: StartDeps, spec: PodSpec, vm: Vm): (c: PodContainerSpec) => Promise<void> {
  const share = sharesNamespaces(spec);
  return (c: PodContainerSpec) =>
    withSeccomp(
      vm,
      c,
      vm.agent.createContainer({
        id: c.id,
        ...(c.podPause ? { podPause: true } : { rootfs: rootfsInShare(c.id) }),
        hostname: spec.hostname,
        ...(c.limits ? { limits: c.limits } : {}),
        ...(share ? { sharePodNamespaces: true } : {}),
        ...(deps.pidPeer ? { pidPeer: deps.pidPeer } : {}),
        ...(deps.shmPeer ? { shmPeer: deps.shmPeer } : {}),
        ...guestDisks(deps, vm, c),
        ...(c.security ? { security: guestContainerSecurity(c.security) } : {}),
        ...(c.dockerInit && !c.podPause ? { dockerInit: true } : {}),
      }),
    );
}

/**
 * Phases 4 and 5 of the app containers: every app container's CREATE_CONTAINER goes out at
 * once (they start in parallel); a container whose files and accounts the host handled has its
 * init sent right behind it, without waiting for the answer (the agent serves requests in
 * order), which saves a round trip to the guest per start. Their init processes, by id.
 */
async function startApps(
  vm: Vm,
  spec: PodSpec,
  create: (c: PodContainerSpec) => Promise<void>,
  preparedOf: (c: PodContainerSpec) => PreparedFiles,
): Promise<Map<string, AgentProcess>> {
  const apps = spec.containers.filter((c) => !c.init);
  const created = apps.map(create);
  for (const p of created) p.catch(() => undefined); // each is awaited below
  const started = await Promise.allSettled(apps.map((c, i) => startContainer(vm, spec, c, preparedOf(c), created[i])));
  const failed = started.find((x) => x.status === 'rejected');
  if (failed) throw failed.reason;
  const inits = new Map<string, AgentProcess>();
  apps.forEach((c, i) => inits.set(c.id, (started[i] as PromiseFulfilledResult<AgentProcess>).value));
  return inits;
}

/** What a pod's pause is started with (it reads no files). */
const NO_FILES: PreparedFiles = { guestFiles: [], passwd: undefined, group: undefined, linkEnv: [] };

/** Whether `spec` is pauses alone, without sysctls: a CRI sandbox's pod, started beside its join. */
function pausesOnly(spec: PodSpec): boolean {
  return spec.containers.every((c) => c.podPause && !c.init && Object.keys(c.security?.sysctls ?? {}).length === 0);
}

/** Start a pod: phases 1-5 above. Rejects (with everything undone) when a phase fails. */
export async function startPod(deps: StartDeps, spec: PodSpec): Promise<StartedPod> {
  return withRollback(async (undo) => {
    const t0 = Date.now();
    const lap = (what: string) => log.debug(`pod ${spec.id.slice(0, 12)}: ${what} at +${Date.now() - t0} ms`);
    const vm = await acquireVm(deps, spec, undo);
    lap(`got VM ${vm.id}`);
    await mountRootfs(deps, spec, vm, undo);
    lap('rootfs and bind sources mounted');
    const create = createIn(deps, spec, vm);
    // A pod of pauses alone (a CRI sandbox, ./sandbox.ts) needs nothing of phases 2 and 3 in the
    // guest: its pause starts beside the network's join (the agent serves it while the host
    // runs the CNI plugins). Sysctls are written after the join, as in a namespace that CNI has
    // set up (an interface's own keys then name the configured one).
    const beside = !deps.restoring && pausesOnly(spec) ? startApps(vm, spec, create, () => NO_FILES) : undefined;
    beside?.catch(() => undefined); // awaited below; a failed join destroys the VM first
    const { resolv, net } = await joinPodNetwork(deps, vm, undo);
    if (net) lap('on its network');
    if (deps.restoring?.pod) {
      // Its hosts files say its address now.
      const files = await prepareFiles(deps, spec, vm, resolv, net);
      const inits = await takeOverRestoredPod(vm, spec, deps.restoring.pod, files);
      lap('its restored inits taken over');
      return { vm, inits, initRuns: new Map(), ...(net?.env?.length ? { linkEnv: net.env } : {}) };
    }
    if (deps.restoring) {
      // Its hosts files say its address now (a fork's, or a new one of the same container).
      const [files] = await prepareFiles(deps, spec, vm, resolv, net);
      const inits = await takeOverRestored(vm, spec, deps.restoring, files?.guestFiles ?? []);
      lap('its restored init taken over');
      return { vm, inits, initRuns: new Map(), ...(net?.env?.length ? { linkEnv: net.env } : {}) };
    }
    const prepared = await prepareFiles(deps, spec, vm, resolv, net);
    lap('files written, accounts read on the host');
    if (beside) {
      const inits = await beside;
      lap('containers created, inits started');
      return { vm, inits, initRuns: new Map() };
    }
    const index = new Map(spec.containers.map((c, i) => [c.id, i]));
    const preparedOf = (c: PodContainerSpec) => prepared[index.get(c.id) as number];
    // Init containers first, one after the other, each to its end (./init-containers.ts).
    const initRuns = await runInitContainers(
      {
        start: (c) => {
          const created = create(c);
          created.catch(() => undefined); // awaited in startContainer
          return startContainer(vm, spec, c, preparedOf(c), created);
        },
        destroy: (c) => vm.agent.destroyContainer(c.id),
        logFor: deps.logFor,
      },
      spec.containers,
    );
    if (initRuns.size > 0) lap('init containers done');
    const inits = await startApps(vm, spec, create, preparedOf);
    lap('containers created, inits started');
    return { vm, inits, initRuns, ...(net?.env?.length ? { linkEnv: net.env } : {}) };
  });
}
