/**
 * The creation service's Kubernetes CRI entry: a sandbox config (RunPodSandbox) or a container
 * config (CreateContainer), already decoded by the CRI front, -> a CreationPlan.
 *
 * Both are made as the Docker create body a user would have sent for the same pod, and go
 * through the Docker entry's checks and translation (./docker.ts), so that `docker ps`,
 * `docker inspect` and `podvisor list` show them as any other container:
 *
 *   sandbox    its infra container (the sandbox image, stdin held open so that a shell image
 *              stays up too), hostname, no Docker network (NetworkMode none), and the CNI plan
 *              (SandboxSpec.cni): the pod's VM goes on the node's CNI network;
 *   container  a pod of its own that joins the sandbox's VM (NetworkMode container:SANDBOX,
 *              SandboxSpec.joinPod), with the config's command, env, mounts, user, TTY and
 *              resources; its output also goes, in the CRI log format, to the kubelet's path.
 *              PID namespace mode POD (the CRI's default; the kubelet's for
 *              shareProcessNamespace) joins the sandbox's PID namespace too (PidMode
 *              container:SANDBOX), whose PID 1 is the infra container, as with containerd;
 *              CONTAINER keeps a namespace of its own.
 *
 * The user is containerd's: run_as_username or run_as_user, then `:run_as_group`; a group
 * without a user is refused. Supplementary groups are the user's groups in the image's
 * /etc/group (resolved in the guest at start, ../pod/user.ts) plus SupplementalGroups
 * (GroupAdd).
 *
 * The CRI front's own data (metadata, annotations, log paths) is kept in labels under
 * CRI_LABEL_PREFIX, beside the user's labels, so it survives a daemon restart with the record.
 */
import { InvalidArgumentError } from '../errors';
import { CRI_LOG_PATH_OPT } from '../pod/service';
import type { CreateBody } from '../translate/docker-schema';
import { criSecurityHostConfig } from './cri-security';
import { planDockerCreate } from './docker';
import { criSeccompOpts } from './cri-seccomp';
import type { CreationPlan, EngineDeps } from './plan';
import type { CriContainerRequest, CriSandboxRequest } from './service';

/** Labels that carry the CRI front's data (stripped from what the kubelet is shown). */
export const CRI_LABEL_PREFIX = 'io.podvisor.cri.';
/** The label naming the API that made a pod ("cri"). */
export const CRI_API_LABEL = 'io.podvisor.api';

/** Plan a CRI sandbox's pod (see the module comment). */
export async function planCriSandbox(deps: EngineDeps, req: CriSandboxRequest): Promise<CreationPlan> {
  const body: CreateBody = {
    Image: req.image,
    OpenStdin: true,
    ...(req.hostname ? { Hostname: req.hostname } : {}),
    Labels: { ...req.labels, ...req.criLabels, [CRI_API_LABEL]: 'cri' },
    HostConfig: {
      NetworkMode: 'none',
      ...(req.sysctls && Object.keys(req.sysctls).length ? { Sysctls: req.sysctls } : {}),
      SecurityOpt: await criSeccompOpts(req.seccomp ?? {}),
    },
  } as CreateBody;
  // containerd 1.x adds no sysctls of its own to a sandbox: only the kubelet's.
  const plan = await planDockerCreate(deps, body, req.name, false);
  plan.spec.cni = {
    pod: req.pod,
    portMappings: req.portMappings,
    ...(req.dns ? { dns: req.dns } : {}),
  };
  return plan;
}

/** Plan a CRI container's pod, in the VM of sandbox pod `req.sandboxId` (see the module comment). */
export async function planCriContainer(deps: EngineDeps, req: CriContainerRequest): Promise<CreationPlan> {
  for (const m of req.mounts) {
    if (!m.containerPath.startsWith('/'))
      throw new InvalidArgumentError(`mount container path ${JSON.stringify(m.containerPath)} is not absolute`);
  }
  const user = criUser(req);
  for (const g of req.supplementalGroups) {
    if (!Number.isInteger(g) || g < 0 || g > 0xffffffff)
      throw new InvalidArgumentError(`supplemental group ${g} is not a group id`);
  }
  const security = criSecurityHostConfig(req.security);
  const seccompOpts = await criSeccompOpts(req.seccomp ?? {});
  const body = {
    Image: req.image,
    ...(req.command.length ? { Entrypoint: req.command } : {}),
    ...(req.args.length ? { Cmd: req.args } : {}),
    ...(req.workingDir ? { WorkingDir: req.workingDir } : {}),
    Env: req.env,
    Tty: req.tty,
    OpenStdin: req.stdin,
    StdinOnce: req.stdinOnce,
    AttachStdin: req.stdin,
    ...(user ? { User: user } : {}),
    Labels: { ...req.labels, ...req.criLabels, [CRI_API_LABEL]: 'cri' },
    HostConfig: {
      NetworkMode: `container:${req.sandboxId}`,
      ...(req.podPid ? { PidMode: `container:${req.sandboxId}` } : {}),
      ...(req.supplementalGroups.length ? { GroupAdd: req.supplementalGroups.map(String) } : {}),
      Binds: req.mounts.map((m) => `${m.hostPath}:${m.containerPath}${m.readonly ? ':ro' : ''}`),
      ...(req.memoryBytes ? { Memory: req.memoryBytes } : {}),
      ...(req.cpuQuota && req.cpuPeriod ? { CpuQuota: req.cpuQuota, CpuPeriod: req.cpuPeriod } : {}),
      ...security,
      SecurityOpt: [...((security.SecurityOpt as string[] | undefined) ?? []), ...seccompOpts],
    },
  } as CreateBody;
  const plan = await planDockerCreate(deps, body, req.name);
  if (req.logPath) plan.spec.log = { driver: 'json-file', opts: { [CRI_LOG_PATH_OPT]: req.logPath } };
  return plan;
}

/**
 * The container's User as containerd makes it from the security context: the user name, else
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
