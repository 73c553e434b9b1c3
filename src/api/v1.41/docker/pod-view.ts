/**
 * A pod as the Docker front shows it: the Config and HostConfig that `docker ps`, `inspect`,
 * `update` and `commit` read.
 *
 *   a Docker create's pod   keeps what that create recorded (PodRecord.frontend: Config merged
 *                           with the image, HostConfig as sent with dockerd's defaults);
 *   any other pod           (a CRI sandbox or container, a native pod, a build step) has no
 *                           Docker record: its view is rendered here from its PodSpec, as a
 *                           `docker create` of what the pod runs would show it.
 *
 * Rendered from the PodSpec, a field shows what the pod runs, not how its front asked for it:
 * the command is split as for a pod's other containers (Entrypoint its first word, Cmd the
 * rest), the sysctls and capabilities shown are those beside the runtime's defaults, and a
 * front's seccomp choice shows only as `no-new-privileges`.
 */
import { CRI_LOG_PATH_OPT, DEFAULT_NETWORK_SYSCTLS } from '../../../pod/service';
import {
  mainContainer,
  type PodBindMount,
  type PodContainerSpec,
  type PodRecord,
  type SandboxSpec,
} from '../../../pod/types';
import { DEFAULT_CAPABILITIES } from '../../../util/capabilities';
import { signalName, SIGTERM } from '../../../translate/signals';
import { DEFAULT_STOP_TIMEOUT } from '../../../translate/translation';
import {
  normaliseHostConfig,
  orderConfig,
  type DockerConfig,
  type DockerFrontend,
  type DockerHostConfig,
} from './docker-types';

type Json = Record<string, unknown>;

/** The Docker view of pod `r` (see the module comment). */
export function dockerViewOf(r: Pick<PodRecord, 'frontend' | 'sandbox' | 'containers' | 'id'>): DockerFrontend {
  if (isDockerRecord(r.frontend)) return r.frontend;
  const s = r.sandbox.spec;
  const c = mainContainer(r as PodRecord).spec;
  return { config: configOf(s, c), hostConfig: hostConfigOf(s, c), imageRef: c.imageRef };
}

/** Whether a pod record's `frontend` is what a Docker create recorded. */
function isDockerRecord(f: unknown): f is DockerFrontend {
  return typeof f === 'object' && f !== null && 'config' in f && 'hostConfig' in f;
}

/** Config as a `docker create` of what the pod's main container runs would show it. */
function configOf(s: SandboxSpec, c: PodContainerSpec): DockerConfig {
  const exposed = [
    ...(s.network?.exposed ?? []),
    ...(s.network?.ports ?? []).map((p) => `${p.containerPort}/${p.proto}`),
  ];
  const config: DockerConfig = {
    Hostname: s.hostname,
    Domainname: s.domainname,
    User: c.user,
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    ...(exposed.length ? { ExposedPorts: Object.fromEntries(exposed.map((p) => [p, {}])) } : {}),
    Tty: c.tty,
    OpenStdin: c.openStdin,
    StdinOnce: c.stdinOnce,
    Env: c.env.length ? [...c.env] : null,
    Cmd: c.args.slice(1),
    Image: c.imageRef,
    Volumes: null,
    WorkingDir: c.workingDir,
    Entrypoint: c.args.slice(0, 1),
    OnBuild: null,
    Labels: { ...s.labels },
    ...(c.stopSignal !== SIGTERM ? { StopSignal: signalName(c.stopSignal) } : {}),
    ...(c.stopTimeout !== DEFAULT_STOP_TIMEOUT ? { StopTimeout: c.stopTimeout } : {}),
  };
  return orderConfig(config);
}

/** HostConfig as a `docker create` of what the pod runs would show it, dockerd's defaults for the rest. */
function hostConfigOf(s: SandboxSpec, c: PodContainerSpec): DockerHostConfig {
  const sec = c.security;
  const l = c.limits ?? {};
  const binds = (c.mounts ?? []).filter((m): m is PodBindMount => m.type === 'bind');
  const shm = (c.mounts ?? []).find((m) => m.type === 'tmpfs' && m.target === '/dev/shm');
  const shmBytes = shm && shm.type === 'tmpfs' ? /(?:^|,)size=(\d+)/.exec(shm.options ?? '')?.[1] : undefined;
  const caps = sec && !sec.privileged ? sec.capabilities : undefined;
  const defaultCaps = new Set<string>(DEFAULT_CAPABILITIES);
  const ownCaps = caps && (caps.length !== defaultCaps.size || caps.some((x) => !defaultCaps.has(x)));
  const sysctls = Object.fromEntries(
    Object.entries(sec?.sysctls ?? {}).filter(([k, v]) => (DEFAULT_NETWORK_SYSCTLS as Record<string, string>)[k] !== v),
  );
  const log = s.log ?? { driver: 'json-file', opts: {} };
  const hc = normaliseHostConfig({
    ...networkFields(s),
    ...(s.network?.etc?.extraHosts.length ? { ExtraHosts: [...s.network.etc.extraHosts] } : {}),
    ...(s.hostCgroupParent ? { CgroupParent: s.hostCgroupParent } : {}),
    ...(s.network?.ports.length ? { PortBindings: portBindingsOf(s) } : {}),
    ...(c.groupAdd?.length ? { GroupAdd: [...c.groupAdd] } : {}),
    ...(binds.length ? { Mounts: binds.map(bindEntryOf) } : {}),
    ...(l.memoryMax ? { Memory: l.memoryMax } : {}),
    ...(l.cpuQuota && l.cpuPeriod ? { CpuQuota: l.cpuQuota, CpuPeriod: l.cpuPeriod } : {}),
    ...(l.cpusetCpus ? { CpusetCpus: l.cpusetCpus } : {}),
    ...(shmBytes ? { ShmSize: Number(shmBytes) } : {}),
    ...(sec?.privileged ? { Privileged: true } : {}),
    ...(ownCaps ? { CapDrop: ['ALL'], CapAdd: [...caps] } : {}),
    ...(sec?.readonlyRootfs ? { ReadonlyRootfs: true } : {}),
    ...(Object.keys(sysctls).length ? { Sysctls: sysctls } : {}),
    RestartPolicy: { Name: s.restartPolicy.name, MaximumRetryCount: s.restartPolicy.maximumRetryCount },
    AutoRemove: s.autoRemove,
  });
  const logOpts = Object.fromEntries(Object.entries(log.opts).filter(([k]) => k !== CRI_LOG_PATH_OPT));
  return {
    ...hc,
    LogConfig: { Type: log.driver, Config: logOpts },
    MaskedPaths: sec && !sec.privileged ? [...sec.maskedPaths] : null,
    ReadonlyPaths: sec && !sec.privileged ? [...sec.readonlyPaths] : null,
    SecurityOpt: sec?.noNewPrivs ? ['no-new-privileges'] : null,
  };
}

/** NetworkMode (and PidMode) of the pod: the VM it joins, loopback only, or its first network. */
function networkFields(s: SandboxSpec): Json {
  if (s.joinPod)
    return {
      NetworkMode: `container:${s.joinPod.pod}`,
      ...(s.joinPod.pid ? { PidMode: `container:${s.joinPod.pod}` } : {}),
    };
  const first = s.network?.mode === 'networks' ? s.network.networks[0]?.ref : undefined;
  if (s.cni || !first) return { NetworkMode: 'none' };
  return { NetworkMode: first === 'bridge' ? 'default' : first };
}

/** PortBindings of the pod's published ports (HostIp '' where the request named no address). */
function portBindingsOf(s: SandboxSpec): Json {
  const out: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const p of s.network?.ports ?? []) {
    const port =
      p.hostPortMin === 0
        ? ''
        : p.hostPortMin === p.hostPortMax
          ? `${p.hostPortMin}`
          : `${p.hostPortMin}-${p.hostPortMax}`;
    (out[`${p.containerPort}/${p.proto}`] ??= []).push({ HostIp: p.alsoIpv6 ? '' : p.hostIp, HostPort: port });
  }
  return out;
}

/** A bind as `docker create --mount type=bind` records it. */
function bindEntryOf(m: PodBindMount): Json {
  return { Type: 'bind', Source: m.source, Target: m.target, ...(m.readOnly ? { ReadOnly: true } : {}) };
}
