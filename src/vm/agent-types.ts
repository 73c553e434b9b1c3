/**
 * The contract of the guest agent (src/vm/agent is the real client, test/helpers/fake-vm the
 * in-memory one): the Agent interface each Vm carries and what its calls take and give back
 * (process specs and handles, exit statuses, container specs, network interfaces and routes,
 * mounts, cgroup limits and usage, the process table; the process and network types are in
 * ./agent-process-types.ts and ./agent-net-types.ts). Re-exported by ./types.ts with the VM
 * contracts, which is where the layers above import them from.
 */
import type {
  FileEventRequest,
  ShareSocketEvent,
  SocketAcceptRequest,
  SocketAnswerRequest,
  SocketDialRequest,
  SocketListenRequest,
} from './agent-socket-types';

export type {
  FileEventRequest,
  PeerCredentials,
  ShareSocketEvent,
  SocketAcceptRequest,
  SocketAnswerRequest,
  SocketDialRequest,
  SocketListenRequest,
} from './agent-socket-types';
import type {
  AgentProcess,
  AgentProcessInfo,
  GuestProcessTable,
  OutputResume,
  ProcessSpec,
} from './agent-process-types';
import type { InterfaceConfig, InterfaceInfo, RouteSpec } from './agent-net-types';

export type {
  AgentProcess,
  AgentProcessInfo,
  CapabilitySets,
  ExitStatus,
  GuestProcessTable,
  GuestTask,
  OutputResume,
  ProcessRlimit,
  ProcessSpec,
  ProcessUser,
} from './agent-process-types';
export type { InterfaceConfig, InterfaceInfo, RouteSpec } from './agent-net-types';
import type { SeccompFilter } from './seccomp-filter';

export type { SeccompAction, SeccompArgTest, SeccompFilter, SeccompFilterRule } from './seccomp-filter';

/** What a container's first init sets up before it runs (the agent's security.c). */
export interface GuestContainerSecurity {
  /** KEY=VALUE written to /proc/sys (keys with dots). */
  sysctls?: string[];
  /** Absolute paths hidden: /dev/null over a file, an empty read-only tmpfs over a directory. */
  maskedPaths?: string[];
  /** Absolute paths made read-only. */
  readonlyPaths?: string[];
  /** `/` read-only. */
  readonlyRootfs?: boolean;
  /** /sys and /sys/fs/cgroup writable (a privileged container). */
  writableSysfs?: boolean;
  /**
   * What the device program of the container's cgroup allows, first match wins, everything
   * else EPERM; absent: no program, every device of the VM (a privileged container, as runc).
   */
  deviceRules?: GuestDeviceRule[];
  /** Device nodes made in the container's /dev before it runs (docker --device). */
  deviceNodes?: GuestDeviceNode[];
}

/** An access to device nodes that a container's device program allows (runc's device rule). */
export interface GuestDeviceRule {
  /** 'c' character, 'b' block, 'a' either. */
  type: 'a' | 'b' | 'c';
  /** Absent: any major. */
  major?: number;
  /** Absent: any minor. */
  minor?: number;
  /** Letters of "rwm": read, write, mknod. */
  access: string;
}

/** A device node the agent makes under /dev in a container. */
export interface GuestDeviceNode {
  /** Absolute, under /dev/. */
  path: string;
  type: 'b' | 'c';
  major: number;
  minor: number;
  /** Permission bits, up to 0o777. */
  mode: number;
}

/** Limits of a container's cgroup in the guest; an absent field is left as it is. */
export interface ResourceLimits {
  /** memory.max in bytes; 0 removes the limit. */
  memoryMax?: number;
  /** cpu.max: quota (microseconds per period; 0 removes it) and period (default 100000). */
  cpuQuota?: number;
  cpuPeriod?: number;
  /** cpu.weight, 1..10000 (Docker's CPU shares, converted as runc converts them on cgroup v2). */
  cpuWeight?: number;
  /** memory.low in bytes (Docker's memory reservation); 0 removes it. */
  memoryLow?: number;
  /** cpuset.cpus, a list such as "0-1,3" (Docker's cpuset CPUs); "" gives all of the VM's. */
  cpusetCpus?: string;
  /** cpuset.mems, likewise (Docker's cpuset memory nodes). */
  cpusetMems?: string;
  /** pids.max, the most tasks the cgroup may hold (Docker's PIDs limit); 0 removes it. */
  pidsMax?: number;
}

/** Memory use of a container's cgroup in the guest. */
export interface CgroupMemory {
  /** memory.current, bytes. */
  usage: number;
  /** memory.max, bytes; 0 when unlimited. */
  limit: number;
  /** Page cache charged to it, bytes. */
  cache: number;
}

/** statfs of a block-mode container's writable layer, as its guest reports it (PV_OP_DISK_USAGE). */
export interface DiskUsage {
  /** Bytes in use: (f_blocks - f_bfree) * f_bsize. */
  used: number;
  /** Bytes of the filesystem: f_blocks * f_bsize. */
  total: number;
}

/** What the agent said about itself at the handshake. */
export interface AgentVersion {
  /** Protocol version (PROTOCOL_VERSION in guest/include/podvisor_agent.h). */
  protocol: number;
  /** Free-form agent build description. */
  agent: string;
  /**
   * The highest request opcode the agent serves (it serves every one below). Absent from an
   * agent built before PROCESS_TABLE: such an agent is sent no newer request.
   */
  lastOp?: number;
}

/** A container's description for the agent. */
export interface ContainerSpec {
  id: string;
  /**
   * Rootfs path relative to the share directory (e.g. `containers/<id>/rootfs`); the agent
   * makes it `/` of a new mount namespace with /proc, /sys, /dev, /dev/pts, /dev/shm. Absent
   * only with `podPause`, which has none.
   */
  rootfs?: string;
  /** Hostname of the container (the VM's UTS namespace is shared by the pod). */
  hostname?: string;
  /** Initial limits of the container's cgroup (docker run -m, --cpus). */
  limits?: ResourceLimits;
  /**
   * Join the pod's shared PID and UTS namespaces (the containers of a multi-container pod see
   * each other's processes; PID 1 is the agent's reaper); otherwise its own, its init PID 1.
   */
  sharePodNamespaces?: boolean;
  /**
   * Join the PID namespace of this other container's running init (docker --pid
   * container:X); its init is then not PID 1. Not with sharePodNamespaces.
   */
  pidPeer?: string;
  /** Mount this other container's /dev/shm over its own (docker --ipc container:X). */
  shmPeer?: string;
  /**
   * The guest block device holding the container's writable layer, an ext4 filesystem: by
   * its name (`vda`: Vm.attachUpperDisk put the container's disk behind it) or by its serial
   * (a disk Vm.attachJoinedDisks hot-plugged, which the agent waits a moment for). `rootfs` is
   * then the read-only image tree and the agent makes `/` an overlay of it and the disk's
   * upper/ and work/.
   */
  upperDisk?: string;
  /**
   * With `upperDisk`: the serial of the read-only block device holding the container's image
   * (an ext4 filesystem: Vm.attachImageDisk put the image's disk behind it, or
   * Vm.attachJoinedDisks hot-plugged it), which the agent
   * mounts `ro,noload` and takes as the overlay's lower layer instead of `rootfs`.
   */
  imageDisk?: string;
  /** Sysctls, masked and read-only paths, read-only root (applied by its first init). */
  security?: GuestContainerSecurity;
  /**
   * docker --init: the agent binds its own binary at Names.DOCKER_INIT_PATH in the container,
   * where it runs as a small init (reaps orphans, forwards signals, exits with the command's
   * status); the caller starts the first process as `DOCKER_INIT_PATH -- ARG...`.
   */
  dockerInit?: boolean;
  /**
   * The pod's pause (a CRI sandbox's infra container): no rootfs (nor upperDisk, nor
   * dockerInit); `/` is a small tmpfs of the agent's with /proc, /sys, /dev and the agent's
   * own binary at Names.POD_PAUSE_PATH, which the caller starts as the first process: PID 1 of
   * the PID namespace the pod's containers join (pidPeer), reaping orphans, ended by SIGTERM.
   */
  podPause?: boolean;
}

/** A file system mounted inside a container after it was created. */
export interface ContainerMount {
  containerId: string;
  /** Absolute path inside the container; created when missing. */
  path: string;
  /**
   * tmpfs (options: size=, nr_inodes=, mode=, uid=, gid=), or virtiofs: a directory of the
   * VM's volume share (`source` is its tag, VolumeShareDevice.tag; `subpath` the directory),
   * or emptydir: the pod's empty directory named `source`, in the VM's memory, shared by every
   * container that mounts that name, or diskdir: `subpath` is `volumes/<name>` on the
   * container's upper disk (beside its layer's upper/ and work/; made when missing, so the
   * volume is saved and copied with the disk), for a container created with an upper disk.
   */
  fstype: 'tmpfs' | 'virtiofs' | 'emptydir' | 'diskdir';
  source?: string;
  subpath?: string;
  options?: string;
  readOnly?: boolean;
  nosuid?: boolean;
  nodev?: boolean;
  noexec?: boolean;
}

/**
 * The host's client of the guest agent (hyperstart's role). Every request is answered ACK or
 * ERROR by the agent; an ERROR rejects with InvalidArgumentError or NotFoundError as the
 * agent classified it, a dead channel with UnavailableError.
 */
export interface Agent {
  /** Version handshake; done once by the hypervisor before the VM is handed out. */
  version(): Promise<AgentVersion>;
  /** Liveness check. */
  ping(): Promise<void>;
  /** Create a container's mount namespace on its rootfs. */
  createContainer(spec: ContainerSpec): Promise<void>;
  /**
   * Change a container's cgroup limits live (docker update). Optional: agents without
   * cgroups (fakes) leave it out, and the caller then refuses the update.
   */
  updateResources?(containerId: string, limits: ResourceLimits): Promise<void>;
  /** Memory use of a container's cgroup (optional, as updateResources). */
  cgroupMemory?(containerId: string): Promise<CgroupMemory>;
  /**
   * statfs of a block-mode container's writable layer, as the guest reports it (untrusted:
   * the caller bounds it). Rejects with NotFoundError for a container without an upper disk,
   * NotImplementedError when the agent predates the request.
   */
  diskUsage?(containerId: string): Promise<DiskUsage>;
  /**
   * The container's processes, read from the guest's /proc (docker top). Rejects with
   * NotImplementedError when the guest's agent predates the request (a VM started by an
   * older podvisor).
   */
  processTable(containerId: string): Promise<GuestProcessTable>;
  /**
   * The seccomp filter of the processes the container starts from now on (its init and execs);
   * null removes it. Rejects InvalidArgumentError for a filter the guest cannot build, and
   * NotImplementedError from an agent that predates SET_SECCOMP (a VM of an older podvisor),
   * unless `ifSupported`: then such an agent is left as it is and the answer is false (dockerd
   * runs its default profile the same way on a kernel without seccomp). After a rejection no
   * process of the container starts (the agent and the client fail closed).
   */
  setSeccomp(containerId: string, filter: SeccompFilter | null, opts?: { ifSupported?: boolean }): Promise<boolean>;
  /** Kill every process of the container and remove its namespace. The VM stays up. */
  destroyContainer(containerId: string): Promise<void>;
  /** Start a process (the container's init first, then execs). */
  startProcess(spec: ProcessSpec): Promise<AgentProcess>;
  /** Send a signal (number) to a process. Rejects NotFoundError when it is gone. */
  signalProcess(processId: string, signal: number): Promise<void>;
  /** Resize a process's terminal. */
  resizeTerminal(processId: string, rows: number, cols: number): Promise<void>;
  /** Write a small file (<= 1 MiB) inside a container, e.g. /etc/hosts. */
  writeFile(containerId: string, path: string, data: Buffer, mode: number): Promise<void>;
  /** Read a small file inside a container; rejects when larger than maxBytes. */
  readFile(containerId: string, path: string, maxBytes: number): Promise<Buffer>;
  /**
   * After a daemon restart: the processes the agent still runs, re-attached. Their streams
   * continue from what the agent still buffers; their exit status comes as usual. With
   * `resume`, a process for which it returns offsets has its output re-sent from there (what
   * the host had stored), as far as the agent still keeps it.
   */
  reattach(resume?: (p: AgentProcessInfo) => OutputResume | undefined): Promise<AgentProcess[]>;
  /** Power the guest off cleanly (the VM process then exits). */
  shutdown(): Promise<void>;
  /** Close the host side of the channels without touching the guest. */
  close(): void;
  /** Configure one of the VM's network interfaces (InterfaceConfig). */
  configureInterface(config: InterfaceConfig): Promise<void>;
  /** Add an IPv4 or IPv6 route in the VM. */
  addRoute(route: RouteSpec): Promise<void>;
  /** The VM's network interfaces (lo included). */
  listInterfaces(): Promise<InterfaceInfo[]>;
  /** Mount a file system inside a container (ContainerMount). */
  mount(m: ContainerMount): Promise<void>;
  /** Unmount what is mounted at `path` inside a container (NotFoundError: nothing there). */
  unmount(containerId: string, path: string): Promise<void>;
  /**
   * Make the VM fit for another pod once every container is destroyed: every emptyDir and its
   * contents removed (ConflictError while a container exists). Optional: agents that keep no
   * pod state of their own (fakes) leave it out.
   */
  cleanPod?(): Promise<void>;
  /**
   * A VM restored from a template: set its wall clock, reseed its kernel's random pool, and
   * mount its rootfs share (ActivateRequest). Optional: fakes have no clock or pool of their own.
   */
  activate?(a: ActivateRequest): Promise<void>;
  /**
   * Before the VM is saved (a checkpoint): unmount the guest's rootfs share, so that QEMU lets
   * the VM be saved (ConflictError while something in the guest still uses it); `activate`
   * with `mountShare` mounts it again, or the first create that reads it. Optional: agents
   * older than RELEASE_SHARE lack it.
   */
  releaseShare?(): Promise<void>;
  /**
   * A VM started from a checkpoint as another container (a fork): the container saved as
   * `containerId` is known as `newId` from now on; with `hostname`, its UTS namespace gets that
   * hostname (a container of a checkpoint image: its own). Optional: agents older than
   * RENAME_CONTAINER lack it.
   */
  renameContainer?(containerId: string, newId: string, hostname?: string): Promise<void>;
  /**
   * An idle VM whose upper disk has a fresh disk's file behind it: the guest mounts that
   * disk (`guestName`, e.g. "vda") ahead of the next createContainer over it, which then
   * skips the mount. Optional: agents older than READY_DISK lack it.
   */
  readyDisk?(guestName: string): Promise<void>;
  /**
   * The disk readyDisk mounted is let go; resolves once the device is free, so that another
   * file can go behind it. Nothing when none is mounted.
   */
  dropReadyDisk?(): Promise<void>;
  /**
   * Start an ARCHIVE process (ArchiveRequest): a tar of a container's files on its stdout, or
   * one extracted from its stdin, flow-controlled as any process's output. Its exit status
   * says how it ended (src/storage/archive/guest.ts ArchiveExit). Optional: fakes have no guest filesystem; NotImplementedError
   * when the guest's agent predates it.
   */
  archive?(req: ArchiveRequest): Promise<AgentProcess>;
  /**
   * Bind a listening stream socket of the agent's at a path in a container (SocketListenRequest),
   * for a host socket bound there as a single file. ConflictError when the listener number is
   * in use. Optional: fakes have no guest sockets; NotImplementedError when the guest's agent
   * predates it.
   */
  listenSocket?(req: SocketListenRequest): Promise<void>;
  /**
   * Wait for the next connection on a listener: resolves, when a process of the container
   * connects, with that connection as a process (its stdout: the peer's bytes; its stdin: what
   * goes to the peer; stdin's end shuts the peer's read side; any signal ends both ways).
   * NotFoundError when the container is destroyed meanwhile. Optional, with listenSocket.
   */
  acceptSocket?(req: SocketAcceptRequest): Promise<AgentProcess>;
  /**
   * The guest kernel's next event about a unix stream socket file in a 9p share
   * (ShareSocketEvent): a connect to a socket file no guest socket is bound to, which waits
   * for answerSocket or refuseSocket, or a socket bound there. One at a time. NotFoundError
   * when the guest's kernel cannot report them; rejects when the session ends. Optional, with
   * the three below: fakes have no guest kernel.
   */
  socketEvent?(): Promise<ShareSocketEvent>;
  /**
   * Answer a CONNECT event: the host has connected on its side; the guest process is
   * connected to the agent, and its connection resolves as a process (as acceptSocket's).
   * NotFoundError when the container is gone or the process never connects.
   */
  answerSocket?(req: SocketAnswerRequest): Promise<AgentProcess>;
  /** Refuse a CONNECT event: the guest process's connect fails with `errno`. */
  refuseSocket?(token: number, errno: number): Promise<void>;
  /**
   * Connect the agent to a socket file of a 9p share that a guest process listens on
   * (SocketDialRequest); the connection as a process (as acceptSocket's). NotFoundError when
   * nothing in the guest listens there.
   */
  dialSocket?(req: SocketDialRequest): Promise<AgentProcess>;
  /**
   * Deliver another writer's event on a watched file of a 9p share to the guest kernel's
   * inotify watches (FileEventRequest). Resolves once delivered, or skipped because nobody
   * in the guest watches that file any more. Optional, with socketEvent.
   */
  fileEvent?(e: FileEventRequest): Promise<void>;
}

/**
 * What an ARCHIVE process does (guest/include/podvisor_agent.h, PV_OP_ARCHIVE). `root`: the
 * container path of the mount (a volume on the container's disk) that `path` is resolved in,
 * instead of the container's root mount.
 */
export type ArchiveRequest = { containerId: string; processId: string } & (
  | { kind: 'stat'; path: string; follow: boolean; root?: string }
  | { kind: 'get'; path: string; follow: boolean; name: string; root?: string }
  | { kind: 'put'; path: string; noOverwriteDirNonDir: boolean; owner?: { uid: number; gid: number }; root?: string }
  | { kind: 'export' }
  | { kind: 'layer'; headersOnly: boolean; freeze?: boolean }
);

/** What a VM restored from a template is given before it serves a pod (Agent.activate). */
export interface ActivateRequest {
  /** The host's CLOCK_REALTIME, nanoseconds since the epoch. */
  timeNs: bigint;
  /** 16..512 random bytes for the guest kernel's pool (every clone resumes with the template's). */
  entropy: Buffer;
  /**
   * Mount the rootfs share now (a template's 9p share is never mounted before the save).
   * Without it, a share that waits for a mount (a template's, or one RELEASE_SHARE let go
   * before a checkpoint's save) is mounted by the first create that reads it.
   */
  mountShare: boolean;
}
