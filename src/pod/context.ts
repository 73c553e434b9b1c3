/**
 * What the pod layer's modules share: the dependencies the manager was built from, the
 * registry of pods, the exec store, the background work, and the small helpers every
 * operation uses (persist a record, publish an event). One PodContext per manager; the
 * modules (lifecycle, stop, removal, monitor, exec, attach, restore) are functions of it.
 *
 * The start of a pod is called from a module that the lifecycle module itself depends on (the
 * exit monitor restarts a pod by policy): it is reached through `hooks`, set once by the
 * manager, so that the modules do not import each other in a circle.
 */
import * as path from 'node:path';
import type { Hypervisor, VmFactory } from '../vm/types';
import type { ImageLookup, RootfsManager } from '../storage/types';
import type { StateStore } from '../storage/state';
import { logger } from '../util/log';
import type { EventBus } from './events';
import type { PodNetworks } from './network/network';
import { ExecStore } from './io/exec';
import { LogWriter } from './io/logs';
import { PodRegistry, tryLogPolicy, type Entry } from './records/registry';
import {
  CONTAINER_LABEL,
  containerName,
  containerRef,
  containersOf,
  mainContainer,
  type ContainerRecord,
  type PodRecord,
} from './types';
import { VmReuse } from './lifecycle/vm-reuse';
import type { CniNetworks } from '../net/cni/sandbox-networks';

const log = logger('pod');

/** What the manager is built from. */
export interface PodManagerDeps {
  factory: VmFactory;
  /** For restore: re-adopting VMs that outlived the previous daemon. */
  hypervisor?: Pick<
    Hypervisor,
    'adopt' | 'saveVm' | 'restoreVm' | 'prepareForkTemplate' | 'forkTemplatesSettled' | 'checkSavedVm'
  >;
  images: ImageLookup;
  rootfs: RootfsManager;
  state: StateStore;
  events: EventBus;
  /** `<data-root>/containers`: per-pod directories (state, logs, hosts files, rootfs). */
  containersRoot: string;
  /** Host resolv.conf handed to containers (default /etc/resolv.conf). */
  resolvConf?: string;
  /** The host's networks once open (undefined: the host has none; pods get loopback only). */
  networks?: Promise<PodNetworks | undefined>;
  /** The node's CNI network of CRI sandboxes (SandboxSpec.cni); absent: such a pod cannot start. */
  cni?: Pick<CniNetworks, 'setUp' | 'tearDown'>;
  /** Limit of an agent request on the stop/kill path, ms (default 5000). */
  agentTimeoutMs?: number;
  /** How long a SIGKILLed process may take to die before its VM is destroyed, ms (default 5000). */
  killGraceMs?: number;
  /** The agent watchdog's timing (./lifecycle/watchdog.ts; default: a ping every 5 s, unresponsive after 20 s). */
  watchdog?: WatchdogTiming;
  /**
   * Checks the front end's data of a loaded record and resets fields of a wrong type in
   * place (a record written by an older version); returns the names of the fields it reset.
   * The front end that owns the data supplies it (the pod layer cannot read it).
   */
  repairFrontend?(frontend: unknown): string[];
  /**
   * Block mode (the daemon's --rootfs-disk): a new pod of one container, in a VM of its own,
   * gets its writable layer on a disk file of this size (RootfsManager.prepare), which its VM's
   * upper disk serves to the guest. Absent: every writable layer is on the host.
   */
  rootfsDisk?: { bytes: number };
}

/** The watchdog's timing (./lifecycle/watchdog.ts; tests shorten it). */
export interface WatchdogTiming {
  /** Between two pings, ms (also each ping's deadline). */
  intervalMs: number;
  /** Silence after which the VM is unresponsive, ms; 0 turns the watchdog off. */
  unresponsiveMs: number;
}

/** Operations reached through the context to keep the modules free of import cycles. */
export interface PodHooks {
  /** Boot a pod whose lock is held (lifecycle.ts `startLocked`). */
  startLocked(e: Entry, signal?: AbortSignal): Promise<void>;
}

/** The state shared by the pod layer's modules (see the module comment). */
export class PodContext {
  readonly registry: PodRegistry;
  readonly execs = new ExecStore();
  /** Pods pinned to a held VM for their next boot, and runs whose VM is to be kept. */
  readonly reuse = new VmReuse();
  /** Set by shutdown: exits seen afterwards are left for the next daemon. */
  closing = false;
  /** Work started but not waited for by the operation that started it (manager.ts). */
  private readonly background = new Set<Promise<void>>();
  hooks!: PodHooks;

  constructor(readonly deps: PodManagerDeps) {
    this.registry = new PodRegistry((id) => this.logFile(id));
  }

  /** Directory of a pod's files on the host. */
  dir(id: string): string {
    return path.join(this.deps.containersRoot, id);
  }

  /** Path of a pod's json-file log. */
  logFile(id: string): string {
    return path.join(this.dir(id), `${id}-json.log`);
  }

  /**
   * Path of the log of a pod's container: the pod's log for its main container, else a
   * json-file of its own beside it.
   */
  containerLogFile(r: PodRecord, containerId: string): string {
    if (containerId === mainContainer(r).spec.id) return this.logFile(r.id);
    return path.join(this.dir(r.id), `${containerId}-json.log`);
  }

  /** The log writer of a pod's container (made on first use; the main container's is `e.log`). */
  containerLog(e: Entry, containerId: string): LogWriter {
    if (containerId === mainContainer(e.record).spec.id) return e.log;
    let w = e.containerLogs.get(containerId);
    if (!w) {
      w = new LogWriter(this.containerLogFile(e.record, containerId), tryLogPolicy(e.record));
      e.containerLogs.set(containerId, w);
    }
    return w;
  }

  /** Persist a pod's record (nothing once it is removed). */
  persist(e: Entry): Promise<void> {
    if (e.removed) return Promise.resolve();
    return this.deps.state.save(e.record);
  }

  /** Publish a container event of a pod's main container (the pod's id and name). */
  emit(r: PodRecord, action: string, extra: Record<string, string> = {}): void {
    this.emitFor(r, mainContainer(r), action, extra);
  }

  /**
   * Publish a container event of container `c` of a pod, under the id and name the front ends
   * show it by (./types.ts containerRef, containerName), with its image and the pod's labels
   * (and, in a pod of several, io.podvisor.container) as attributes, as dockerd's.
   */
  emitFor(r: PodRecord, c: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
    const named: Record<string, string> =
      c.spec.name !== undefined && containersOf(r).length > 1 ? { [CONTAINER_LABEL]: c.spec.name } : {};
    const attrs = { ...r.sandbox.spec.labels, ...named, image: c.spec.imageRef, name: containerName(r, c), ...extra };
    this.deps.events.emit('container', action, containerRef(r, c), attrs);
  }

  /**
   * Publish the event of a step of the pod as a whole: a pod of one container's (every
   * Docker container's) as always; in a pod of several, each container's that `which`
   * keeps (the containers that took part in the step), with `extraOf` its attributes.
   */
  emitEach(
    r: PodRecord,
    action: string,
    which: (c: ContainerRecord) => boolean,
    extraOf: (c: ContainerRecord) => Record<string, string> = () => ({}),
  ): void {
    if (containersOf(r).length === 1) {
      this.emit(r, action, extraOf(mainContainer(r)));
      return;
    }
    for (const c of containersOf(r)) if (which(c)) this.emitFor(r, c, action, extraOf(c));
  }

  /**
   * Publish dockerd's `volume mount` (just before `start`) or `volume unmount` (just after
   * `die`) event for every volume that the pod's app containers mount; binds and tmpfs have
   * none, as in dockerd.
   */
  emitVolumes(r: PodRecord, action: 'mount' | 'unmount'): void {
    for (const c of containersOf(r)) {
      if (c.spec.init) continue;
      for (const m of c.spec.mounts ?? []) {
        if (m.type !== 'volume' || !m.name) continue;
        const attrs: Record<string, string> =
          action === 'mount'
            ? {
                container: c.spec.id,
                destination: m.target,
                driver: m.driver ?? 'local',
                propagation: '',
                'read/write': String(!m.readOnly),
              }
            : { container: c.spec.id, driver: m.driver ?? 'local' };
        this.deps.events.emit('volume', action, m.name, attrs);
      }
    }
  }

  /** Keep `p` in the background set until it settles; its failure is logged, never thrown. */
  track(p: Promise<void>): Promise<void> {
    const q: Promise<void> = p
      .catch((err) => log.error(`background work: ${(err as Error).message}`))
      .finally(() => this.background.delete(q));
    this.background.add(q);
    return q;
  }

  /** Resolves once no background work (teardowns, deferred storage deletion) is left. */
  async settled(): Promise<void> {
    while (this.background.size > 0) await Promise.all([...this.background]);
  }

  /** Cancel a pod's pending policy restart. */
  cancelRestart(e: Entry): void {
    if (e.restartTimer) clearTimeout(e.restartTimer);
    e.restartTimer = undefined;
  }
}
