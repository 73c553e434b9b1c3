/**
 * The Docker record of a pod made from a neutral request (./request-pod.ts), for display
 * only: `docker ps`, `docker inspect` and `podvisor list` show a CRI, native or build-step pod
 * as the `docker create` of the same container would have recorded it (Config merged with the
 * image, the full HostConfig with dockerd's defaults). Nothing reads the pod's settings back
 * from it: the PodSpec is made from the request itself.
 */
import { CRI_LOG_PATH_OPT } from '../../pod/service';
import type { PodSpec } from '../../pod/types';
import {
  dockerPortsOf,
  type ContainerRequest,
  type MountRequest,
  type NetworkRequest,
  type SecurityRequest,
} from './container-request';
import {
  normaliseHostConfig,
  orderConfig,
  type DockerConfig,
  type DockerFrontend,
  type DockerHostConfig,
} from '../docker/docker-types';
import type { DockerHealthConfig } from '../docker/health';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from '../docker/security';

/** The container as a request and its image say it together (./request-pod.ts merges them). */
export interface MergedContainer {
  hostname: string;
  user: string;
  /** null: neither the image nor the request has any. */
  env: string[] | null;
  labels: Record<string, string>;
  /** '' for none (the container's is then `/`). */
  workingDir: string;
  /** The image's. */
  stopSignal?: string;
  /** Ports exposed (`80/tcp`), the image's and the request's; absent: none from either. */
  exposedPorts?: string[];
  /** The image's healthcheck. */
  health?: DockerHealthConfig;
  /** The image's volume paths. */
  volumes: string[];
  entrypoint: string[] | null;
  cmd: string[] | null;
}

type Json = Record<string, unknown>;

/** The Docker record of the pod `spec` made from `req` (see the module comment). */
export function dockerRecordOf(req: ContainerRequest, m: MergedContainer, spec: PodSpec): DockerFrontend {
  const config: DockerConfig = {
    Hostname: m.hostname,
    Domainname: '',
    User: m.user,
    AttachStdin: req.attachStdin === true,
    AttachStdout: false,
    AttachStderr: false,
    ...(m.exposedPorts ? { ExposedPorts: Object.fromEntries(m.exposedPorts.map((p) => [p, {}])) } : {}),
    Tty: req.tty === true,
    OpenStdin: req.openStdin === true,
    StdinOnce: req.stdinOnce === true,
    Env: m.env,
    Cmd: m.cmd,
    ...(m.health ? { Healthcheck: m.health } : {}),
    Image: req.image,
    Volumes: m.volumes.length ? Object.fromEntries(m.volumes.map((v) => [v, {}])) : null,
    WorkingDir: m.workingDir,
    Entrypoint: m.entrypoint,
    OnBuild: null,
    Labels: m.labels,
    ...(m.stopSignal ? { StopSignal: m.stopSignal } : {}),
    ...(req.stopTimeout !== undefined ? { StopTimeout: req.stopTimeout } : {}),
  };
  return { config: orderConfig(config), hostConfig: hostConfigOf(req, spec), imageRef: req.image };
}

/** The HostConfig a `docker create` of the request would show. */
function hostConfigOf(req: ContainerRequest, spec: PodSpec): DockerHostConfig {
  const r = req.resources ?? {};
  const s = req.security ?? {};
  const { PortBindings } = dockerPortsOf(req.ports);
  const hc = normaliseHostConfig({
    ...networkFields(req.network),
    ...(req.extraHosts ? { ExtraHosts: [...req.extraHosts] } : {}),
    ...(req.cgroupParent ? { CgroupParent: req.cgroupParent } : {}),
    ...(PortBindings ? { PortBindings } : {}),
    ...(req.groups?.length ? { GroupAdd: [...req.groups] } : {}),
    ...(req.mounts?.length ? { Mounts: req.mounts.map(mountEntryOf) } : {}),
    ...(r.memoryBytes ? { Memory: r.memoryBytes } : {}),
    ...(r.cpuQuota && r.cpuPeriod ? { CpuQuota: r.cpuQuota, CpuPeriod: r.cpuPeriod } : {}),
    ...(r.cpuset ? { CpusetCpus: r.cpuset } : {}),
    ...(r.shmBytes ? { ShmSize: r.shmBytes } : {}),
    ...(s.privileged ? { Privileged: true } : {}),
    ...(s.capabilities && !s.privileged ? { CapDrop: ['ALL'], CapAdd: [...s.capabilities] } : {}),
    ...(s.readonlyRoot ? { ReadonlyRootfs: true } : {}),
    ...(s.sysctls && Object.keys(s.sysctls).length ? { Sysctls: { ...s.sysctls } } : {}),
  });
  const log = spec.log ?? { driver: 'json-file', opts: {} };
  const logOpts = Object.fromEntries(Object.entries(log.opts).filter(([k]) => k !== CRI_LOG_PATH_OPT));
  const paths = (given: string[] | undefined, defaults: readonly string[]) =>
    s.privileged ? null : given?.length ? [...given] : [...defaults];
  return {
    ...hc,
    LogConfig: { Type: log.driver, Config: logOpts },
    MaskedPaths: paths(s.maskedPaths, DEFAULT_MASKED_PATHS),
    ReadonlyPaths: paths(s.readonlyPaths, DEFAULT_READONLY_PATHS),
    SecurityOpt: securityOptsOf(s),
  };
}

/** NetworkMode (and PidMode) as `docker create` takes them. */
function networkFields(n: NetworkRequest | undefined): Json {
  switch (n?.mode) {
    case undefined:
      return {};
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

/** A mount as `docker create --mount type=bind` records it. */
function mountEntryOf(m: MountRequest): Json {
  return {
    Type: 'bind',
    Source: m.source,
    Target: m.target,
    ...(m.readOnly ? { ReadOnly: true } : {}),
    ...(m.propagation ? { BindOptions: { Propagation: m.propagation } } : {}),
  };
}

/** SecurityOpt as `docker create --security-opt` records the request's settings; null for none. */
function securityOptsOf(s: SecurityRequest): string[] | null {
  const seccomp =
    !s.seccomp || s.seccomp.mode === 'default'
      ? []
      : [s.seccomp.mode === 'unconfined' ? 'seccomp=unconfined' : `seccomp=${s.seccomp.json}`];
  const opts = [...(s.noNewPrivileges ? ['no-new-privileges'] : []), ...seccomp];
  return opts.length || s.seccomp ? opts : null;
}
