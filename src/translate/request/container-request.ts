/**
 * The neutral creation request: what every front but Docker's asks the creation service
 * (src/engine) for, in plain words of its own (no HostConfig, no CRI message).
 *
 *   CRI front (src/api/cri)      RunPodSandbox, CreateContainer   -> ContainerRequest
 *   native front (src/engine)    pod file's main container, spec  -> ContainerRequest
 *   builder (src/engine)         a step's container               -> ContainerRequest
 *   Docker front (src/api/v1.41) the create body                  -> parseCreateBody
 *
 * A request is checked before its image is looked up (./request-check.ts) and made into the
 * pod layer's PodSpec directly (./request-pod.ts), with dockerd's rules for what Docker has
 * too (merging with the image, capabilities, masked paths, resources, ports) and none of
 * Docker's syntax on the way. Such a pod keeps no Docker record (Config and HostConfig):
 * `docker ps` and `docker inspect` show a CRI or native pod as any other container by rendering
 * its view from the PodSpec (../docker/pod-view.ts).
 *
 * Mounts are structured all the way, so that a path holding ':' reaches the pod as it was
 * asked (a `-v` string is split on ':').
 */
import type { CniSandboxPlan } from '../../pod/types';

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
export interface MountRequest {
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

/**
 * A port of the container: exposed, and published on the host when `host` is given (its
 * port '' for any free one, or 'N' or 'N-M'; its address '' for every one).
 */
export interface PortRequest {
  containerPort: number;
  protocol: string;
  host?: { ip: string; port: string };
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
  /** Paths hidden in the container; absent or empty: the defaults. */
  maskedPaths?: string[];
  /** Paths made read-only; absent or empty: the defaults. */
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
  /** false: none of the runtime's own default sysctls (a CRI sandbox: only the kubelet's). */
  defaultSysctls?: boolean;
}

/** Resource limits of the container (and its VM's size). */
export interface ResourcesRequest {
  memoryBytes?: number;
  /** CPU quota and period (microseconds), both or neither. */
  cpuQuota?: number;
  cpuPeriod?: number;
  /** CPUs it may run on ("0-2,4"). */
  cpuset?: string;
  /** Size of /dev/shm in bytes. */
  shmBytes?: number;
}

/**
 * Where a container's output goes besides what `docker logs` reads: `json-file`, a readable
 * log whatever the daemon's default driver (a build step's, which the builder reads); `cri`,
 * also the CRI log file at `path` on the host (the kubelet's).
 */
export type LogRequest = { kind: 'json-file' } | { kind: 'cri'; path: string };

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
  workingDir?: string;
  /** user[:group], names or ids. */
  user?: string;
  /** Supplementary groups (names or ids) besides the user's own. */
  groups?: string[];
  hostname?: string;
  tty?: boolean;
  /** Keep stdin open; `stdinOnce`: close it after the first attach ends; `attachStdin`: a client attaches it. */
  openStdin?: boolean;
  stdinOnce?: boolean;
  attachStdin?: boolean;
  labels?: Record<string, string>;
  /** Seconds a stop waits before killing. */
  stopTimeout?: number;
  /** Absent: the default bridge. */
  network?: NetworkRequest;
  /** Extra /etc/hosts entries, `name:ip`. */
  extraHosts?: string[];
  /** Ports to expose and publish. */
  ports?: PortRequest[];
  mounts?: MountRequest[];
  resources?: ResourcesRequest;
  security?: SecurityRequest;
  log?: LogRequest;
  /** The pod goes on the node's CNI network with this plan (a CRI sandbox) instead of a Docker network. */
  cni?: CniSandboxPlan;
  /**
   * The host cgroup its VM goes under, as docker --cgroup-parent takes it (../docker/cgroup-parent.ts):
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

/** The create body's port fields: `Config.ExposedPorts` and `HostConfig.PortBindings`. */
export interface DockerPorts {
  ExposedPorts?: Record<string, Record<string, never>>;
  PortBindings?: Record<string, Array<{ HostIp: string; HostPort: string }>>;
}

/** The create body's port fields for `ports` (absent when empty): every port exposed, those with a host bound. */
export function dockerPortsOf(ports: PortRequest[] | undefined): DockerPorts {
  const exposed: Record<string, Record<string, never>> = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const p of ports ?? []) {
    const key = `${p.containerPort}/${p.protocol}`;
    exposed[key] = {};
    if (p.host) (bindings[key] ??= []).push({ HostIp: p.host.ip, HostPort: p.host.port });
  }
  return {
    ...(Object.keys(exposed).length ? { ExposedPorts: exposed } : {}),
    ...(Object.keys(bindings).length ? { PortBindings: bindings } : {}),
  };
}
