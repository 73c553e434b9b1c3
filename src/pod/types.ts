/**
 * The pod model (the seeds' "Life of Pod"): a PodSpec describes what to run; a PodRecord is a
 * pod that exists (state Created or Running, with its persistent data) until it is removed.
 *
 *   None --create--> Created (rootfs prepared on the host, no VM)
 *        --start---> Running (a VM from the factory, rootfs shared into it, processes started)
 *        --stop / exit--> Created again (VM destroyed, rootfs unmounted, writable layer kept;
 *                         Docker calls this "exited")
 *        --remove--> None (storage deleted)
 *
 * The pod's state is derived from its containers' (`podPhase`): Running while any of them is
 * on the VM, else Created. A pod may hold several containers (they share the VM); each has its
 * own record (spec, state, init process, restart count). The Docker API creates pods of
 * exactly one container whose id is the pod's id.
 */
export type { DiskThrottle } from '../vm/types';
import type { DiskThrottle, ResourceLimits, VmConfig } from '../vm/types';
import type { ContainerNetworkPlan } from '../net/container-config';
import type { ContainerProbes, HealthSpec, HealthState, ProbeStatus } from './health/probe-types';
import type { PodMount } from './mounts/mount-types';
import type { PodSeccomp } from './security/seccomp-types';
import type { ContainerSecurity } from './security/security-types';

export type * from './health/probe-types';
export type * from './mounts/mount-types';
export type * from './security/seccomp-types';
export type * from './security/security-types';

/** The log settings a pod is created with (PodSpec.log). */
export interface PodLogConfig {
  driver: string;
  opts: Record<string, string>;
}
import type { CniPortMapping } from '../net/cni/types';

/** The VM size a pod asks for: memory and vCPUs (the VM layer's VmConfig size; devices are the sandbox's). */
export type PodVmSize = VmConfig['size'];

/** The restart policy names (Docker's words, which pod files share). */
export type RestartPolicyName = 'no' | 'always' | 'unless-stopped' | 'on-failure';

/** When a pod is started again after its main process exits. */
export interface RestartPolicy {
  name: RestartPolicyName;
  /** on-failure only: give up after this many restarts (0 = never give up). */
  maximumRetryCount: number;
}

/** One container of a pod: its image, its rootfs and its first process. */
export interface PodContainerSpec {
  /** Container id (64 hex for Docker containers), also the agent's container id. */
  id: string;
  /**
   * Its name inside the pod (a pod file's container name), by which a front end addresses it;
   * absent for the Docker front end's containers (their pod's name is theirs).
   */
  name?: string;
  /**
   * An init container: run to completion, in spec order with the other init containers,
   * before the app containers start; a non-zero exit fails the pod's start.
   */
  init?: boolean;
  /** Image id (`sha256:...`) whose layers make the rootfs. */
  image: string;
  /** The image as the user named it (`busybox`), for listings and events. */
  imageRef: string;
  /** argv of the init process (Entrypoint + Cmd, already merged with the image). */
  args: string[];
  /** KEY=VALUE, image env merged with the caller's. */
  env: string[];
  /** Absolute working directory ('/' when unset). */
  workingDir: string;
  /**
   * The user, unresolved: '' (root), `name`, `uid`, `name:group`, `uid:gid`... It is resolved
   * against the container's /etc/passwd and /etc/group at each start.
   */
  user: string;
  tty: boolean;
  /**
   * Initial terminal size [rows, cols] of the init with a TTY (HostConfig.ConsoleSize, which
   * the docker CLI sends with create); absent or zero: 24x80 until the client's resize.
   */
  consoleSize?: [number, number];
  /** Keep stdin open (docker -i). */
  openStdin: boolean;
  /** Close the process's stdin when the first attached client's stdin ends. */
  stdinOnce: boolean;
  /** Signal number sent by stop (default SIGTERM). */
  stopSignal: number;
  /** Seconds between the stop signal and SIGKILL (default 10). */
  stopTimeout: number;
  /**
   * Size of the container's writable layer as asked (`--storage-opt size=`, go-units binary
   * units: 64M, 1.5G): only a block-mode container can have one (./mounts/disk-size.ts).
   */
  diskSize?: string;
  /** Rate limits of its upper disk (docker --device-read-bps and the like; block mode only). */
  diskThrottle?: DiskThrottle;
  /**
   * The image's files copied onto the container's own disk at its first start (`--storage-opt
   * image=disk`): its VM then reads no 9p share and can be saved (docs/checkpoint.md). Block
   * mode only (./mounts/disk-size.ts).
   */
  imageOnDisk?: boolean;
  /**
   * The id its hot-plugged disks are named by, in QEMU and in the guest (joinedDiskNames), when
   * not its own: a fork's container of a pod of several runs on the disks the saved container
   * had, named after it (../checkpoints/forks.ts). See diskNameOf.
   */
  diskName?: string;
  /** HostConfig.GroupAdd: extra supplementary groups (names or gids) of the init and execs. */
  groupAdd?: string[];
  /** Limits of the container's cgroup in the guest (memory.max, cpu.max); none when absent. */
  limits?: ResourceLimits;
  /** tmpfs and bind mounts, mounted in this order before the init starts (./mounts/mounts.ts). */
  mounts?: PodMount[];
  /** The health check run while the container runs (./health/health.ts); none when absent. */
  health?: HealthSpec;
  /**
   * What its processes may do (./security/security.ts); absent (pods recorded before it existed): every
   * capability, nothing masked or read-only, no sysctls.
   */
  security?: ContainerSecurity;
  /**
   * Its startup, liveness and readiness probes (./health/probes.ts: the kubelet's rules), run while
   * it runs; only in a pod whose containers restart in place (SandboxSpec.restartInPlace).
   */
  probes?: ContainerProbes;
  /** The seccomp filter of its processes (init and execs), resolved at each start; absent: none. */
  seccomp?: PodSeccomp;
  /**
   * docker --init: its first process runs under an init of the agent's (PID 1 of the
   * container: reaps orphans, forwards signals, exits with the command's status), and the
   * command as its child, as dockerd runs docker-init. `args` stays the command.
   */
  dockerInit?: boolean;
  /**
   * The pod's pause: a CRI sandbox's infra container, as ./lifecycle/sandbox.ts starts it (set there at
   * each start, never recorded). Its image is not used: no rootfs is mounted and no upper disk
   * made; the agent's own binary runs as the pause (PID 1 of the PID namespace the pod's
   * containers join, reaping orphans) in a root of the agent's (ContainerSpec.podPause).
   */
  podPause?: boolean;
}

/** What the pod's sandbox is: its VM, its names, and the policies of the pod as a whole. */
export interface SandboxSpec {
  /** Pod id; equal to the container's id for Docker's single-container pods. */
  id: string;
  hostname: string;
  domainname: string;
  /** User labels (image labels merged under the caller's). */
  labels: Record<string, string>;
  /** VM size asked for this pod. */
  vm: PodVmSize;
  restartPolicy: RestartPolicy;
  /** Remove the pod when it exits (docker run --rm). */
  autoRemove: boolean;
  /** Log driver and options (absent: json-file without rotation). */
  log?: PodLogConfig;
  /**
   * Run in the VM of another running pod instead of a VM of its own (docker --network,
   * --pid, --ipc container:X): network, IPC and the VM are that pod's; with `pid`, the PID
   * namespace of its main container's init too; with `ipc`, its main container's /dev/shm. `pod` is the reference as given (resolved at
   * each start).
   */
  joinPod?: { pod: string; pid: boolean; ipc?: boolean };
  /** The pod's network (src/net): absent, or mode 'none', means loopback only. */
  network?: ContainerNetworkPlan;
  /**
   * Each app container restarts in place, alone, under the pod's policy (the kubelet's way;
   * ./lifecycle/container-restart.ts), even in a pod of one: set for pods from pod files. Without it a
   * pod of one app container restarts whole, on a new VM, as dockerd restarts a container.
   */
  restartInPlace?: boolean;
  /**
   * `host`: keep the writable layer on the host even when the daemon puts new containers'
   * layers on block devices (PodManagerDeps.rootfsDisk): set for the builder's COPY/ADD and
   * config step containers, whose root the builder writes on the host.
   */
  writableLayer?: 'host';
  /**
   * The pod is a Kubernetes CRI sandbox on the node's CNI network (src/net/cni) instead of a
   * Docker network: its VM gets one NIC of its own, joined to the interface CNI makes in the
   * sandbox's network namespace, and is destroyed with the run (never kept or pooled).
   */
  cni?: CniSandboxPlan;
  /**
   * The host cgroup its VM's cgroup is put under at each start (docker --cgroup-parent, the
   * CRI's cgroup_parent), cleaned (src/translate/request/policy/cgroup-parent.ts): `/a/b` from the root of
   * each cgroup hierarchy, `a/b` from the daemon's own cgroup. Absent: podvisor's own cgroup.
   * Not for a pod that runs in another pod's VM (joinPod).
   */
  hostCgroupParent?: string;
  /** A checkpoint image's container: its first start forks the state unpacked in `dir` (docs/checkpoint-images.md). */
  savedState?: { dir: string; image: string };
}

/** What a CRI sandbox asks of the node's CNI network (SandboxSpec.cni). */
export interface CniSandboxPlan {
  /** The Kubernetes pod, for CNI_ARGS. */
  pod: { namespace: string; name: string; uid: string };
  /** Published ports (the portmap plugin's runtimeConfig). */
  portMappings: CniPortMapping[];
  /** The pod's /etc/resolv.conf from the CRI DNSConfig; absent: the host's. */
  dns?: { servers: string[]; searches: string[]; options: string[] };
}

/** What to run: the pod's sandbox and its containers (what a front end asks `create` for). */
export interface PodSpec extends SandboxSpec {
  containers: PodContainerSpec[];
}

/** Docker's container status words. */
export type PodStatusName = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

/** The observable state of one container of a pod. */
export interface PodState {
  status: PodStatusName;
  /** Guest pid of the container's init while running, else 0. */
  pid: number;
  exitCode: number;
  /** Why the last start failed or the last run ended abnormally ('' when none). */
  error: string;
  /** RFC 3339 with nanoseconds; ZERO_TIME when never. */
  startedAt: string;
  finishedAt: string;
  oomKilled: boolean;
  /**
   * The facts of `error` when the pod layer knows them (./errors.ts failureOf), for a front
   * end to word them; they hold while `error` is failureMessage(failure).
   */
  failure?: PodFailure;
}

/** A legacy link that could not be made: no such target, a target not running, or not on the default network. */
export interface LinkFailure {
  kind: 'link';
  reason: 'no-such-pod' | 'not-running' | 'not-on-default-network';
  /** The target's name as the link gave it (no-such-pod), else its record's name. */
  target: string;
  /** The linking pod's name. */
  pod: string;
  alias: string;
}

/** A failure of a start (or an exec's start), as facts (PodState.failure; ./errors.ts). */
export type PodFailure =
  /**
   * The guest could not start a process: `detail` is the guest's account; `guestExec` when it
   * is the guest's own exec failure (`exec: "x": ...`); `exec` for an extra process.
   */
  | { kind: 'process-start'; detail: string; exec: boolean; guestExec: boolean }
  /** The log settings cannot be used: `detail` says which and why. */
  | { kind: 'log-config'; detail: string }
  | LinkFailure
  /**
   * A bind mount's host source does not exist; or, with `changed`, the path resolved at create
   * no longer leads to it without a symlink (`changed` says what is there now).
   */
  | { kind: 'bind-source'; source: string; mountType: string; changed?: string }
  /**
   * The guest refused or failed the container's settings (sysctls) before its command ran:
   * `detail` is its account; `duringInit` when the container's init met it (else the
   * settings were refused before anything ran).
   */
  | { kind: 'container-setup'; detail: string; duringInit: boolean };

/** Go's zero time, as Docker prints it for "never". */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** A container of a pod: its spec, its state, its init process and its restarts. */
export interface ContainerRecord {
  spec: PodContainerSpec;
  state: PodState;
  /** While on a VM: the agent's process id of the container's init. */
  process?: string;
  /** Restarts done by the restart policy since the last manual start. */
  restartCount: number;
  /** Its health, once its health check ran or was started (./health/health.ts). */
  health?: HealthState;
  /** What its probes say of its current run (./health/probes.ts); absent when it has none. */
  probeStatus?: ProbeStatus;
}

/** The sandbox of a pod: its spec and, while running, its VM. */
export interface SandboxRecord {
  spec: SandboxSpec;
  /** While running: the VM it runs in. */
  vmId?: string;
  /** The variables its legacy links gave it at its last start (execs get them too). */
  linkEnv?: string[];
}

/** Version of the record layout written now (see ./records/record.ts for the older one). */
export const RECORD_VERSION = 2;

/** A pod that exists: what is persisted per pod (see src/storage/state.ts). */
export interface PodRecord {
  version: typeof RECORD_VERSION;
  id: string;
  /** Unique name without the leading '/'. */
  name: string;
  /** RFC 3339 creation time. */
  created: string;
  sandbox: SandboxRecord;
  /** Its containers by id, in the order of the spec they were created from. */
  containers: Record<string, ContainerRecord>;
  /** Set by stop/kill; keeps `always`/`unless-stopped` from restarting it. */
  manuallyStopped: boolean;
  /**
   * Data of the API that created the pod, opaque to the pod layer (the Docker API keeps
   * Config and HostConfig here, as the client sent them, merged with the image's).
   */
  frontend: unknown;
}

/** A pod's own state: Running while any container is on the VM, else Created (None: no record). */
export type PodPhase = 'created' | 'running';

/**
 * The phase of a pod, derived from its containers' states: Running while any of them is on
 * the VM, or waits there for its restart in place (the VM is still the pod's then).
 */
export function podPhase(r: PodRecord): PodPhase {
  const on = containersOf(r).some((c) => c.state.status === 'running' || c.state.status === 'paused');
  return on || (r.sandbox.vmId !== undefined && containersOf(r).some((c) => c.state.status === 'restarting'))
    ? 'running'
    : 'created';
}

/** Whether a pod is paused (its VM frozen: every container of it that ran is `paused`). */
export function isPaused(r: PodRecord): boolean {
  return containersOf(r).some((c) => c.state.status === 'paused');
}

/**
 * Whether each app container of a pod restarts in place, alone, under the pod's policy (the
 * kubelet's way): a pod of several app containers, or one from a pod file
 * (SandboxSpec.restartInPlace). Another pod of one (every Docker container) is restarted
 * whole, on a new VM, as dockerd restarts a container.
 */
export function restartsInPlace(r: PodRecord): boolean {
  return appContainersOf(r).length > 1 || r.sandbox.spec.restartInPlace === true;
}

/** Whether a container of a pod is started (Kubernetes' `started`): it runs, and its startup probe succeeded (or it has none). */
export function containerStarted(c: ContainerRecord): boolean {
  if (c.state.status !== 'running' || c.spec.init) return false;
  return c.probeStatus ? c.probeStatus.started : !c.spec.probes?.startup;
}

/**
 * Whether a container of a pod is ready (Kubernetes' container `ready`): it runs, and its
 * probes say so (started, and its readiness probe's last settled result a success).
 */
export function containerReady(c: ContainerRecord): boolean {
  if (c.state.status !== 'running' || c.spec.init) return false;
  return c.probeStatus ? c.probeStatus.ready : !c.spec.probes?.readiness && !c.spec.probes?.startup;
}

/** A pod's containers, in spec order. */
export function containersOf(r: PodRecord): ContainerRecord[] {
  return Object.values(r.containers);
}

/** A pod's app containers (not init containers), in spec order. */
export function appContainersOf(r: PodRecord): ContainerRecord[] {
  return containersOf(r).filter((c) => !c.spec.init);
}

/**
 * Whether a pod's containers share PID and UTS namespaces (a pod of several containers, init
 * containers counted): the Docker front end's single-container pods keep their own, with
 * their init as PID 1, as runc gives them.
 */
export function sharesNamespaces(spec: Pick<PodSpec, 'containers'>): boolean {
  return spec.containers.length > 1;
}

/** A container of a pod by id, name, or unique id prefix; undefined when none matches. */
export function findContainer(r: PodRecord, ref: string): ContainerRecord | undefined {
  const byId = r.containers[ref];
  if (byId) return byId;
  const all = containersOf(r);
  const named = all.find((c) => c.spec.name === ref);
  if (named) return named;
  const prefixed = ref.length > 0 ? all.filter((c) => c.spec.id.startsWith(ref)) : [];
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/**
 * The main container of a pod: the one whose id is the pod's (the only one of the pods the
 * Docker front end makes), else the first app container. Its exit code is the pod's; its
 * output is the pod's log and attach stream.
 */
export function mainContainer(r: PodRecord): ContainerRecord {
  const c = r.containers[r.id] ?? containersOf(r).find((x) => !x.spec.init) ?? containersOf(r)[0];
  if (!c) throw new Error(`pod ${r.id} has no container`);
  return c;
}

/** The label naming a container of a pod of several (its name in the pod file). */
export const CONTAINER_LABEL = 'io.podvisor.container';

/**
 * The name of a container of a pod as the front ends show it: the pod's own for its main
 * container, `POD.CONTAINER` (its name in the pod file, else its short id) for the others.
 */
export function containerName(r: PodRecord, c: ContainerRecord): string {
  return c === mainContainer(r) ? r.name : `${r.name}.${c.spec.name ?? c.spec.id.slice(0, 12)}`;
}

/** The id of a container of a pod as the front ends show it: the pod's for its main one. */
export function containerRef(r: PodRecord, c: ContainerRecord): string {
  return c === mainContainer(r) ? r.id : c.spec.id;
}

/** Set the status word of every container of a pod (a step of the pod as a whole). */
export function setStatus(r: PodRecord, status: PodStatusName): void {
  for (const c of containersOf(r)) c.state.status = status;
}

/** The spec a pod was created from, rebuilt from its sandbox and containers. */
export function podSpecOf(r: PodRecord): PodSpec {
  return { ...r.sandbox.spec, containers: containersOf(r).map((c) => c.spec) };
}

/** A fresh state for a container that was never started. */
export function createdState(): PodState {
  return {
    status: 'created',
    pid: 0,
    exitCode: 0,
    error: '',
    startedAt: ZERO_TIME,
    finishedAt: ZERO_TIME,
    oomKilled: false,
  };
}

/** IDs of the containers (of `pods`) that mount volume `name`. */
export function volumeUsers(pods: Iterable<{ id: string; spec: PodSpec }>, name: string): string[] {
  const out: string[] = [];
  for (const p of pods) {
    for (const c of p.spec.containers)
      if ((c.mounts ?? []).some((m) => m.type === 'volume' && m.name === name)) out.push(c.id);
  }
  return out;
}

/** The id container `c`'s hot-plugged disks are named by (PodContainerSpec.diskName, else its own). */
export function diskNameOf(c: Pick<PodContainerSpec, 'id' | 'diskName'>): string {
  return c.diskName ?? c.id;
}
