/**
 * The CRI front's side of creation: a sandbox config (RunPodSandbox) or a container config
 * (CreateContainer), decoded by ./runtime.ts, -> the creation service's neutral request
 * (src/translate/request/container-request.ts, through src/engine/service.ts). CRI words end here.
 *
 * Both are checked as containerd and dockerd check the same settings, and shown by
 * `docker ps`, `docker inspect` and `podvisor list` as any other container:
 *
 *   sandbox    its infra container (the sandbox image, stdin held open so that a shell image
 *              stays up too), hostname, no Docker network (network none), and the CNI plan:
 *              the pod's VM goes on the node's CNI network; the kubelet's sysctls only
 *              (containerd 1.x adds none of its own to a sandbox);
 *   container  a pod of its own that joins the sandbox's VM (network join), with the config's
 *              command, env, mounts, user, TTY and resources; its output also goes, in the CRI
 *              log format, to the kubelet's path. PID namespace mode POD (the CRI's default;
 *              the kubelet's for shareProcessNamespace) joins the sandbox's PID namespace too,
 *              whose PID 1 is the infra container, as with containerd; CONTAINER keeps a
 *              namespace of its own.
 *
 * The user is containerd's: run_as_username or run_as_user, then `:run_as_group`; a group
 * without a user is refused. Supplementary groups are the user's groups in the image's
 * /etc/group (resolved in the guest at start, src/pod/security/user.ts) plus SupplementalGroups.
 * Security contexts: ./security.ts; seccomp profiles: ./seccomp.ts.
 *
 * The pod carries the config's labels (shown as Docker labels) and the API label; the CRI
 * front's own data (metadata, annotations, log paths) is in its records (./record-store.ts).
 */
import { InvalidArgumentError } from '../../errors';
import type { BindMountRequest, ContainerRequest, CreationService } from '../../engine/service';
import type { CniSandboxPlan, PodRecord } from '../../pod/types';
import { criSeccomp, type CriSeccompRequest } from './seccomp';
import { criSecurity, type CriContainerSecurity } from './security';

/** The label naming the API that made a pod ("cri"). */
export const CRI_API_LABEL = 'io.podvisor.api';

/** A RunPodSandbox as the CRI front decoded it. */
export interface CriSandboxRequest {
  /** The pod's unique name (the front makes it from the metadata). */
  name: string;
  /** The sandbox (infra) image, local already. */
  image: string;
  hostname: string;
  /** The Kubernetes pod, for CNI. */
  pod: { namespace: string; name: string; uid: string };
  portMappings: CniSandboxPlan['portMappings'];
  dns?: { servers: string[]; searches: string[]; options: string[] };
  /** The config's labels. */
  labels: Record<string, string>;
  /** linux.sysctls: set in the sandbox's VM before its infra container runs. */
  sysctls?: Record<string, string>;
  /** The sandbox's seccomp settings (./seccomp.ts); absent: unconfined. */
  seccomp?: CriSeccompRequest;
  /** linux.cgroup_parent: the host cgroup the sandbox's VM goes under (the kubelet's pod cgroup); '' or absent: none. */
  cgroupParent?: string;
}

/**
 * A mount of a CreateContainer. `propagation` is the CRI's enum name (PROPAGATION_PRIVATE,
 * PROPAGATION_HOST_TO_CONTAINER, PROPAGATION_BIDIRECTIONAL); absent: private.
 */
export interface CriMount {
  containerPath: string;
  hostPath: string;
  readonly: boolean;
  propagation?: string;
}

/** A CreateContainer as the CRI front decoded it. */
export interface CriContainerRequest {
  /** The sandbox pod's id. */
  sandboxId: string;
  /** The container pod's unique name (the front makes it from the metadata). */
  name: string;
  image: string;
  command: string[];
  args: string[];
  workingDir: string;
  /** KEY=VALUE. */
  env: string[];
  mounts: CriMount[];
  /** The config's labels. */
  labels: Record<string, string>;
  /** The CRI log file (log_directory + log_path); '' for none. */
  logPath: string;
  tty: boolean;
  stdin: boolean;
  stdinOnce: boolean;
  /** Namespace mode POD for PID: the container joins the sandbox's PID namespace (its infra is PID 1). */
  podPid: boolean;
  /** Extra supplementary group ids of the container's processes (SupplementalGroups). */
  supplementalGroups: number[];
  runAsUser?: number;
  runAsGroup?: number;
  runAsUsername: string;
  /** Its security context (absent: the defaults). */
  security?: CriContainerSecurity;
  memoryBytes?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  /** The container's seccomp settings (./seccomp.ts); absent: unconfined. */
  seccomp?: CriSeccompRequest;
}

/** The creation service's part the CRI front calls. */
export type CriEngine = Pick<CreationService, 'create'>;

/** Create a CRI sandbox's pod (created, not started). Fails like a Docker create. */
export async function createCriSandbox(engine: CriEngine, req: CriSandboxRequest): Promise<PodRecord> {
  return engine.create(await sandboxRequestOf(req), { name: req.name });
}

/** Create a CRI container's pod, joining the sandbox's VM when started. Fails like a Docker create. */
export async function createCriContainer(engine: CriEngine, req: CriContainerRequest): Promise<PodRecord> {
  return engine.create(await containerRequestOf(req), { name: req.name });
}

/** The neutral request of a CRI sandbox's pod (see the module comment); its name is `req.name`. */
export async function sandboxRequestOf(req: CriSandboxRequest): Promise<ContainerRequest> {
  return {
    image: req.image,
    openStdin: true,
    ...(req.hostname ? { hostname: req.hostname } : {}),
    labels: { ...req.labels, [CRI_API_LABEL]: 'cri' },
    network: { mode: 'none' },
    security: {
      ...(req.sysctls && Object.keys(req.sysctls).length ? { sysctls: req.sysctls } : {}),
      seccomp: await criSeccomp(req.seccomp ?? {}),
      defaultSysctls: false,
    },
    cni: { pod: req.pod, portMappings: req.portMappings, ...(req.dns ? { dns: req.dns } : {}) },
    ...(req.cgroupParent ? { cgroupParent: req.cgroupParent } : {}),
  };
}

/**
 * The neutral request of a CRI container's pod, in the VM of sandbox pod `req.sandboxId` (see
 * the module comment); its name is `req.name`.
 */
export async function containerRequestOf(req: CriContainerRequest): Promise<ContainerRequest> {
  for (const m of req.mounts) {
    if (!m.containerPath.startsWith('/'))
      throw new InvalidArgumentError(`mount container path ${JSON.stringify(m.containerPath)} is not absolute`);
  }
  const user = criUser(req);
  for (const g of req.supplementalGroups) {
    if (!Number.isInteger(g) || g < 0 || g > 0xffffffff)
      throw new InvalidArgumentError(`supplemental group ${g} is not a group id`);
  }
  const security = criSecurity(req.security);
  const seccomp = await criSeccomp(req.seccomp ?? {});
  return {
    image: req.image,
    ...(req.command.length ? { entrypoint: req.command } : {}),
    ...(req.args.length ? { args: req.args } : {}),
    ...(req.workingDir ? { workingDir: req.workingDir } : {}),
    env: req.env,
    tty: req.tty,
    openStdin: req.stdin,
    stdinOnce: req.stdinOnce,
    attachStdin: req.stdin,
    ...(user ? { user } : {}),
    labels: { ...req.labels, [CRI_API_LABEL]: 'cri' },
    network: { mode: 'join', pod: req.sandboxId, pid: req.podPid },
    ...(req.supplementalGroups.length ? { groups: req.supplementalGroups.map(String) } : {}),
    mounts: req.mounts.map(mountRequestOf),
    resources: {
      ...(req.memoryBytes ? { memoryBytes: req.memoryBytes } : {}),
      ...(req.cpuQuota && req.cpuPeriod ? { cpuQuota: req.cpuQuota, cpuPeriod: req.cpuPeriod } : {}),
    },
    security: { ...security, seccomp },
    ...(req.logPath ? { log: { kind: 'cri', path: req.logPath } } : {}),
  };
}

/** The CRI's propagation modes as containerd mounts them; any other is containerd's default, rprivate. */
const PROPAGATION: Record<string, BindMountRequest['propagation']> = {
  PROPAGATION_PRIVATE: 'rprivate',
  PROPAGATION_HOST_TO_CONTAINER: 'rslave',
  PROPAGATION_BIDIRECTIONAL: 'rshared',
};

/**
 * A CRI mount as the neutral request's: both paths as given (either may hold ':'), and a
 * missing host path made as a directory at start, as containerd makes it.
 */
function mountRequestOf(m: CriMount): BindMountRequest {
  return {
    source: m.hostPath,
    target: m.containerPath,
    readOnly: m.readonly,
    propagation: PROPAGATION[m.propagation ?? ''] ?? 'rprivate',
    createSource: true,
  };
}

/**
 * The container's user as containerd makes it from the security context: the user name, else
 * the uid, then `:gid` when run_as_group is set; '' for the image's. A group without a user is
 * INVALID_ARGUMENT (containerd: "user group is specified without user").
 */
export function criUser(req: Pick<CriContainerRequest, 'runAsUser' | 'runAsGroup' | 'runAsUsername'>): string {
  const user = req.runAsUsername || (req.runAsUser !== undefined ? String(req.runAsUser) : '');
  if (!user && req.runAsGroup !== undefined)
    throw new InvalidArgumentError(
      `user group "${req.runAsGroup}" is specified without user (run_as_user or run_as_username)`,
    );
  return req.runAsGroup !== undefined ? `${user}:${req.runAsGroup}` : user;
}
