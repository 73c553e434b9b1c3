/**
 * The neutral creation request: what every front but Docker's asks the creation service
 * (src/engine) for, in plain words of its own (no HostConfig, no CRI message), and the one
 * function that turns it into translate's parsed create (./create-body.ts CreateRequest).
 *
 *   CRI front (src/api/cri)      RunPodSandbox, CreateContainer   -> ContainerRequest
 *   native front (src/engine)    pod file's main container, spec  -> ContainerRequest
 *   builder (src/engine)         a step's container               -> ContainerRequest
 *   Docker front (src/api/v1.41) the create body                  -> parseCreateBody
 *
 * The neutral request is the hub the fronts speak; translate's internal form below it is
 * still Docker-shaped, on purpose: every pod carries a Docker record (Config and HostConfig,
 * ../translate/docker-types.ts DockerFrontend) so that `docker ps`, `docker inspect`, `logs`
 * and `exec` show a CRI or native pod as any other container. So createRequestOf writes the
 * request as the Docker create body that states it (module-internal, never seen by a front)
 * and runs it through the same decoding and checks dockerd's body gets (Go's decoding rules,
 * parseCreateBody: capabilities, resources, mounts, working dir, env, ...), and the same
 * translation (translateContainerRequest, ./create.ts translateCreate). A request that
 * dockerd would refuse is refused with dockerd's words, whatever the front.
 *
 * What has no Docker twin is applied by translateContainerRequest: a json-file log whatever the
 * daemon's default (as the default the translation starts from), the CNI plan of a CRI
 * sandbox, the CRI log file, a pod without a seccomp filter, a sandbox without dockerd's
 * default sysctls, a bind whose missing source is made at start.
 *
 * Mounts are written as `HostConfig.Mounts` entries, structured, so that a path holding ':'
 * reaches the pod as it was asked (a `-v` string is split on ':').
 */
import type { CniSandboxPlan } from '../pod/types';
import { CRI_LOG_PATH_OPT } from '../pod/service';
import type { ImageRecord } from '../storage/types';
import { parseCreateBody, type CreateRequest } from './create-body';
import { translateCreate, type TranslateOptions, type Translated } from './create';
import { CreateBodySchema, type CreateBody } from './docker-schema';
import { decodeBody } from './go-decode';
import { mountTarget } from './mounts';

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
 * (the Docker body states it as a `HostConfig.Mounts` bind entry, never as a `-v` string).
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
   * No seccomp filter, and none recorded in the pod's Docker view (as `docker create` of the
   * same container records it): a native pod, which runs as Kubernetes' pods run.
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
   * The host cgroup its VM goes under, as docker --cgroup-parent takes it (./cgroup-parent.ts):
   * `/a/b` from the cgroup root, `a/b` from the daemon's own cgroup; absent: podvisor's own.
   */
  cgroupParent?: string;
}

type Body = Record<string, unknown>;

/** The network of a native spec or build (`default`, `none`, `host`, `container:X`, a network name or id). */
export function networkRequestOf(name: string): NetworkRequest {
  if (name === 'default' || name === 'none' || name === 'host') return { mode: name };
  if (name.startsWith('container:')) return { mode: 'join', pod: name.slice('container:'.length) };
  return { mode: 'named', name };
}

function networkFields(n: NetworkRequest | undefined): Body {
  if (!n) return {};
  switch (n.mode) {
    case 'default':
    case 'none':
    case 'host':
      return { NetworkMode: n.mode };
    case 'named':
      return { NetworkMode: n.name };
    case 'join':
      return { NetworkMode: `container:${n.pod}`, ...(n.pid ? { PidMode: `container:${n.pod}` } : {}) };
  }
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

function resourceFields(r: ResourcesRequest | undefined): Body {
  if (!r) return {};
  return {
    ...(r.memoryBytes ? { Memory: r.memoryBytes } : {}),
    ...(r.cpuQuota && r.cpuPeriod ? { CpuQuota: r.cpuQuota, CpuPeriod: r.cpuPeriod } : {}),
    ...(r.cpuset ? { CpusetCpus: r.cpuset } : {}),
    ...(r.shmBytes ? { ShmSize: r.shmBytes } : {}),
  };
}

function seccompOpts(s: SeccompRequest | undefined): string[] {
  if (!s || s.mode === 'default') return [];
  return s.mode === 'unconfined' ? ['seccomp=unconfined'] : [`seccomp=${s.json}`];
}

function securityFields(s: SecurityRequest | undefined): Body {
  if (!s) return {};
  const opts = [...(s.noNewPrivileges ? ['no-new-privileges'] : []), ...seccompOpts(s.seccomp)];
  return {
    ...(s.privileged ? { Privileged: true } : {}),
    ...(s.capabilities && !s.privileged ? { CapDrop: ['ALL'], CapAdd: [...s.capabilities] } : {}),
    ...(s.readonlyRoot ? { ReadonlyRootfs: true } : {}),
    ...(s.maskedPaths?.length ? { MaskedPaths: [...s.maskedPaths] } : {}),
    ...(s.readonlyPaths?.length ? { ReadonlyPaths: [...s.readonlyPaths] } : {}),
    ...(s.sysctls && Object.keys(s.sysctls).length ? { Sysctls: { ...s.sysctls } } : {}),
    ...(opts.length || s.seccomp ? { SecurityOpt: opts } : {}),
  };
}

/**
 * The `HostConfig.Mounts` bind entry that states `m`. Whether a missing source is made has no
 * twin at API 1.41: translateContainerRequest applies it.
 */
function dockerMountOf(m: MountRequest): Body {
  return {
    Type: 'bind',
    Source: m.source,
    Target: m.target,
    ...(m.readOnly ? { ReadOnly: true } : {}),
    ...(m.propagation ? { BindOptions: { Propagation: m.propagation } } : {}),
  };
}

/** The Docker create body that states `req` (module-internal: the record every pod carries). */
function bodyOf(req: ContainerRequest): Body {
  const { ExposedPorts, PortBindings } = dockerPortsOf(req.ports);
  const given = <K extends keyof ContainerRequest>(k: K, field: string): Body =>
    req[k] === undefined ? {} : { [field]: req[k] };
  return {
    Image: req.image,
    ...given('entrypoint', 'Entrypoint'),
    ...given('args', 'Cmd'),
    ...given('env', 'Env'),
    ...given('workingDir', 'WorkingDir'),
    ...given('user', 'User'),
    ...given('hostname', 'Hostname'),
    ...given('tty', 'Tty'),
    ...given('openStdin', 'OpenStdin'),
    ...given('stdinOnce', 'StdinOnce'),
    ...given('attachStdin', 'AttachStdin'),
    ...given('labels', 'Labels'),
    ...given('stopTimeout', 'StopTimeout'),
    ...(ExposedPorts ? { ExposedPorts } : {}),
    HostConfig: {
      ...networkFields(req.network),
      ...(req.extraHosts ? { ExtraHosts: [...req.extraHosts] } : {}),
      ...(req.cgroupParent ? { CgroupParent: req.cgroupParent } : {}),
      ...(PortBindings ? { PortBindings } : {}),
      ...(req.groups?.length ? { GroupAdd: [...req.groups] } : {}),
      ...(req.mounts?.length ? { Mounts: req.mounts.map(dockerMountOf) } : {}),
      ...resourceFields(req.resources),
      ...securityFields(req.security),
    },
  };
}

/**
 * Check a neutral request as dockerd checks the create body that states it (Go's decoding
 * rules, then parseCreateBody's checks) and give the parsed create; throws dockerd's errors.
 */
export function createRequestOf(req: ContainerRequest, hostCpus: number): CreateRequest {
  return parseCreateBody(decodeBody<CreateBody>(CreateBodySchema, bodyOf(req)), hostCpus);
}

/**
 * translateCreate of a neutral request's parsed create (createRequestOf), with what has no
 * Docker twin applied to the pod: the CNI plan, the CRI log file, no seccomp filter, the binds
 * whose missing source is made at start.
 */
export function translateContainerRequest(
  req: ContainerRequest,
  parsed: CreateRequest,
  image: ImageRecord,
  id: string,
  opts: TranslateOptions,
): Translated {
  const t = translateCreate(parsed, image, id, {
    ...opts,
    ...(req.log?.kind === 'json-file' ? { logDefaults: { Type: 'json-file', Config: {} } } : {}),
    ...(req.security?.defaultSysctls === false ? { dockerdSysctls: false } : {}),
  });
  if (req.cni) t.spec.cni = req.cni;
  if (req.log?.kind === 'cri') t.spec.log = { driver: 'json-file', opts: { [CRI_LOG_PATH_OPT]: req.log.path } };
  if (req.security?.noSeccompFilter) for (const c of t.spec.containers) delete c.seccomp;
  const made = new Set((req.mounts ?? []).filter((m) => m.createSource).map((m) => mountTarget(m.target)));
  for (const c of t.spec.containers)
    for (const m of c.mounts ?? []) if (m.type === 'bind' && made.has(m.target)) m.createSource = true;
  return t;
}
