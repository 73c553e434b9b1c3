/**
 * The neutral creation request: what every front asks the creation service (src/engine) for,
 * in plain words of its own (no HostConfig, no CRI message, no `-v` or `-p` string).
 *
 *   CRI front (src/api/cri)      RunPodSandbox, CreateContainer   -> ContainerRequest
 *   native front (src/api/native) a pod file -> PodRequest (./pod-request.ts), one
 *                                ContainerRequest a container; the single-container spec
 *                                (src/engine/native.ts)  -> ContainerRequest
 *   builder (src/engine)         a step's container               -> ContainerRequest
 *   Docker front (src/api/v1.41) the create's body, parsed  -> ContainerRequest (its container's
 *                                settings, completed at the creation door from the merge with the
 *                                image: src/api/v1.41/docker/docker-request.ts, with the Docker record)
 *
 * Every request is checked before its image is looked up (./request-check.ts, at the creation
 * door: src/engine/door.ts); a Docker create's body was checked by the Docker front before,
 * with dockerd's messages, through the same rules. Every request is made into the pod layer's PodSpec by one translation
 * (./request-pod.ts), with dockerd's rules for what Docker has too (merging with the image,
 * capabilities, masked paths, resources, ports) and none of Docker's syntax on the way. Only
 * a Docker create keeps a Docker record (Config and HostConfig, made from its body); `docker
 * ps` and `docker inspect` show a CRI or native pod as any other container by rendering its
 * view from the PodSpec (src/api/v1.41/docker/pod-view.ts).
 *
 * Mounts are structured all the way, so that a path holding ':' reaches the pod as it was
 * asked (a `-v` string is split on ':').
 */
import type { ResourceAmounts } from './policy/resource-amounts';
import type { CniSandboxPlan, ContainerDevice, DiskThrottle, RestartPolicy } from '../../pod/types';
import type { GuestDeviceRule, ProcessRlimit } from '../../vm/types';

/**
 * Where a container's network comes from: the default bridge; loopback only (`none`); the
 * host's (refused as Docker's host mode is); a network by name or id; or the network (and,
 * with `pid`, the PID namespace) of another pod's VM, which it then runs in.
 */
export type NetworkRequest =
  | { mode: 'default' }
  | { mode: 'none' }
  | { mode: 'host' }
  | { mode: 'named'; name: string }
  | { mode: 'join'; pod: string; pid?: boolean };

/**
 * A host path mounted in the container, kept structured all the way: either path may hold ':'
 * (never joined into a `-v` string).
 */
export interface BindMountRequest {
  kind?: 'bind';
  /** The absolute host path. */
  source: string;
  /** The absolute path in the container. */
  target: string;
  readOnly?: boolean;
  /**
   * Mount propagation as the record states it (`rprivate`, `rslave`, `rshared`); the mount in
   * the VM is the same whatever it says (docs/limitations.md). Absent: `rprivate`.
   */
  propagation?: 'rprivate' | 'rslave' | 'rshared';
  /**
   * A missing source is made, an empty directory, at start (as `-v` and containerd do); absent
   * or false: a missing source refuses the create (as `--mount` does).
   */
  createSource?: boolean;
}

/** A volume of the daemon's volume store mounted in the container (made at create when missing). */
export interface VolumeMountRequest {
  kind: 'volume';
  /** The volume's name; '' for a new anonymous one. */
  name: string;
  /** The absolute path in the container (normalised). */
  target: string;
  readOnly?: boolean;
  /** A new volume is not filled from the image's content at `target`. */
  noCopy?: boolean;
  /** The driver, its options and the labels of a volume this create makes. */
  driver?: string;
  driverOptions?: Record<string, string>;
  labels?: Record<string, string>;
}

/** A tmpfs in the container. */
export interface TmpfsMountRequest {
  kind: 'tmpfs';
  /** The absolute path in the container (normalised). */
  target: string;
  /** The tmpfs's own options: size=, nr_inodes=, mode=, uid=, gid= (comma-separated). */
  options?: string;
  readOnly?: boolean;
  /** Allow executables, set-user-ID bits, device nodes on it (each absent: not allowed). */
  exec?: boolean;
  suid?: boolean;
  dev?: boolean;
}

/**
 * A directory made empty for a pod of several containers (./pod-request.ts), shared by those
 * that mount it, gone with the pod (Kubernetes' emptyDir).
 */
export interface EmptyDirMountRequest {
  kind: 'emptyDir';
  /** Its name in the pod, the same for every container that mounts it (the guest's rule: [A-Za-z0-9_.-]{1,36}). */
  name: string;
  /** The absolute path in the container. */
  target: string;
  readOnly?: boolean;
}

/** A mount of the container: a host path (the default kind), a volume, a tmpfs or a pod's empty directory. */
export type MountRequest = BindMountRequest | VolumeMountRequest | TmpfsMountRequest | EmptyDirMountRequest;

/**
 * A port of the container: exposed, and published on the host when `host` is given (its
 * port '' for any free one, or 'N' or 'N-M'; its address '' for every one).
 */
export interface PortRequest {
  containerPort: number;
  protocol: string;
  host?: { ip: string; port: string };
  /**
   * false: published without being exposed (a port the container's config does not expose,
   * which `docker inspect` then does not list); absent: exposed too.
   */
  exposed?: false;
}

/**
 * The container's settings on one network it joins, besides the request's `network` (whose
 * settings these are when it names the same network, or when this is the only entry).
 */
export interface EndpointRequest {
  /** The network, by name or id (`bridge` for the default one). */
  network: string;
  /** Other names of the container on a user network. */
  aliases?: string[];
  /** Static addresses on the network (a user network with a subnet of that family). */
  ipv4Address?: string;
  ipv6Address?: string;
  /** Link-local addresses besides. */
  linkLocalAddresses?: string[];
  /** Its MAC address there (over the request's `macAddress`). */
  macAddress?: string;
  /** Other containers it reaches by another name on a user network, `name[:alias]`. */
  links?: string[];
}

/** The health check, each field left out taken from the image's (durations in nanoseconds, 0: the default). */
export interface HealthRequest {
  /**
   * The probe: `args` run as they are (exec) or given to the shell (shell); `none` turns off
   * the image's check. Absent: the image's probe.
   */
  probe?: { kind: 'exec' | 'shell'; args: string[] } | { kind: 'none' };
  intervalNs?: number;
  timeoutNs?: number;
  startPeriodNs?: number;
  /** Between probes during the start period. */
  startIntervalNs?: number;
  retries?: number;
}

/** The seccomp filter: the runtime's default profile, none, or a profile (JSON). */
export type SeccompRequest = { mode: 'default' } | { mode: 'unconfined' } | { mode: 'profile'; json: string };

/** The container's privileges. */
export interface SecurityRequest {
  /** Every capability, no masked or read-only paths, /sys writable. */
  privileged?: boolean;
  /** The exact capability set (CAP_ names); absent: the runtime's default set. */
  capabilities?: string[];
  readonlyRoot?: boolean;
  noNewPrivileges?: boolean;
  /** Paths hidden in the container; absent: the defaults (given empty: none). */
  maskedPaths?: string[];
  /** Paths made read-only; absent: the defaults (given empty: none). */
  readonlyPaths?: string[];
  /** Absent: the runtime's default profile. */
  seccomp?: SeccompRequest;
  /**
   * No seccomp filter, and none recorded in the pod's Docker view: a native pod, which runs as
   * Kubernetes' pods run.
   */
  noSeccompFilter?: boolean;
  /** Kernel parameters set in the pod's VM before its container runs. */
  sysctls?: Record<string, string>;
  /**
   * false: none of the runtime's own default sysctls (a CRI sandbox: only the kubelet's; a
   * container that shares another one's network).
   */
  defaultSysctls?: boolean;
  /** Resource limits of its processes (RLIMIT_ numbers; -1 unlimited); absent: the guest's. */
  rlimits?: ProcessRlimit[];
  /** oom_score_adj of its processes (-1000..1000); absent or 0: the guest's. */
  oomScoreAdj?: number;
  /** Devices of the VM's own kernel made in its /dev and allowed. */
  devices?: ContainerDevice[];
  /** Device accesses allowed beyond the defaults. */
  deviceRules?: GuestDeviceRule[];
}

/**
 * Resource limits of the container (and its VM's size: ./policy/vm-size.ts vmSizeOf): its
 * amounts (./policy/resource-amounts.ts; a field left out, or 0, is no limit), its /dev/shm and
 * its disk's rates.
 */
export interface ResourcesRequest extends ResourceAmounts {
  /** Size of /dev/shm in bytes. */
  shmBytes?: number;
  /** Rates of its own disk (bytes and operations per second). */
  diskThrottle?: DiskThrottle;
}

/**
 * Where a container's output goes besides what `docker logs` reads: `json-file`, a readable
 * log whatever the daemon's default driver (a build step's, which the builder reads); `cri`,
 * also the CRI log file at `path` on the host (the kubelet's); `driver`, a log driver by name
 * ('' for the daemon's default) with its options, checked as dockerd checks them
 * (./policy/log-config.ts). Absent: the daemon's default driver and options.
 */
export type LogRequest =
  | { kind: 'json-file' }
  | { kind: 'cri'; path: string }
  | { kind: 'driver'; driver: string; options: Record<string, string> };

/**
 * A container to create, in the words of no front (see the module comment). A field left out
 * is the image's or the runtime's default; a list given empty differs from one left out where
 * the image has its own (entrypoint, args) or the record shows it (env, labels).
 */
export interface ContainerRequest {
  /** The image reference or id. */
  image: string;
  /** The entrypoint; given (even empty), the image's entrypoint and command are not used. */
  entrypoint?: string[];
  /** The arguments after the entrypoint (the whole command when there is none). */
  args?: string[];
  /** KEY=VALUE. */
  env?: string[];
  /**
   * How `env` merges with the image's: `request-first` as dockerd merges them (`env` as given,
   * then the image's entries of other keys); absent: as containerd does (the image's order, an
   * entry of `env` replacing the image's of its key, the others after them).
   */
  envOrder?: 'request-first';
  workingDir?: string;
  /** user[:group], names or ids. */
  user?: string;
  /** The shell of a shell-form health check; absent: the image's, else `/bin/sh -c`. */
  shell?: string[];
  /** Supplementary groups (names or ids) besides the user's own. */
  groups?: string[];
  hostname?: string;
  /** The NIS domain name of its VM (kernel.domainname). */
  domainname?: string;
  tty?: boolean;
  /** The terminal's size at start (rows, columns), with `tty`; each 1..65535, else none. */
  consoleSize?: [number, number];
  /** Keep stdin open; `stdinOnce`: close it after the first attach ends; `attachStdin`: a client attaches it. */
  openStdin?: boolean;
  stdinOnce?: boolean;
  attachStdin?: boolean;
  labels?: Record<string, string>;
  /** Seconds a stop waits before killing (negative: for ever). */
  stopTimeout?: number;
  /** The signal a stop sends (a name or number); absent: the image's, else SIGTERM. */
  stopSignal?: string;
  /** When its pod is started again after its process exits; absent: never. */
  restartPolicy?: RestartPolicy;
  /** Remove the container once it exits. */
  autoRemove?: boolean;
  /** Run its command under an init of the agent's (reaps orphans, forwards signals). */
  init?: boolean;
  /** The health check, merged with the image's. */
  health?: HealthRequest;
  /** Absent: the default bridge. */
  network?: NetworkRequest;
  /**
   * Its settings on the networks it joins, in order: the entry of `network`'s network (or the
   * only entry) is that one's; with several, the others are joined besides it.
   */
  endpoints?: EndpointRequest[];
  /** Its MAC address on the networks whose endpoint names none. */
  macAddress?: string;
  /** Other containers it reaches by another name, `name[:alias]`. */
  links?: string[];
  /**
   * How the endpoints' settings are checked: `every-problem` names every problem of an
   * endpoint at once (dockerd 26), absent: the first (dockerd 20.10).
   */
  endpointChecks?: 'every-problem';
  /** Extra /etc/hosts entries, `name:ip`. */
  extraHosts?: string[];
  /** Name servers, search domains and resolver options of its /etc/resolv.conf. */
  dns?: { servers?: string[]; search?: string[]; options?: string[] };
  /** Its /etc/resolv.conf with dockerd 26's comments (../../net/resolv-comments.ts); absent: as dockerd 20.10 writes it. */
  resolvComments?: true;
  /** Ports to expose and publish. */
  ports?: PortRequest[];
  /** Ports exposed only, `port[/protocol]`, besides the image's and those of `ports`. */
  exposedPorts?: string[];
  mounts?: MountRequest[];
  /** Paths that get an anonymous volume, besides the image's. */
  volumes?: string[];
  /**
   * Options of the container's own disk, keys in any case: `size` (e.g. `10G`), `image`
   * (`disk`: the image's files copied onto it; `layers`: read from the host's layers).
   */
  diskOptions?: Record<string, string>;
  resources?: ResourcesRequest;
  security?: SecurityRequest;
  log?: LogRequest;
  /** The pod goes on the node's CNI network with this plan (a CRI sandbox) instead of a Docker network. */
  cni?: CniSandboxPlan;
  /**
   * The host cgroup its VM goes under, as docker --cgroup-parent takes it (./policy/cgroup-parent.ts):
   * `/a/b` from the cgroup root, `a/b` from the daemon's own cgroup; absent: podvisor's own.
   */
  cgroupParent?: string;
}

/** The network of a native spec or build (`default`, `none`, `host`, `container:X`, a network name or id). */
export function networkRequestOf(name: string): NetworkRequest {
  if (name === 'default' || name === 'none' || name === 'host') return { mode: name };
  if (name.startsWith('container:')) return { mode: 'join', pod: name.slice('container:'.length) };
  return { mode: 'named', name };
}
