/**
 * `POST /containers/create`, second step: a checked request (./create-body.ts) + image config ->
 * PodSpec, and the Docker Config/HostConfig that inspect shows. Pure: no I/O. Two steps, so that a
 * bad body is refused before the image is even looked up:
 *
 *   const req = parseCreateBody(body, hostCpus);      // 400s with dockerd's messages
 *   const image = await images.resolve(req.config.Image);
 *   const { spec, frontend } = translateCreate(req, image, id, { defaults, hostCpus });
 *
 * Merging with the image follows dockerd: Env by key (the caller wins), Labels by key, User,
 * WorkingDir and StopSignal when unset; Cmd from the image only when the caller set neither
 * Cmd nor Entrypoint; Entrypoint from the image when the caller did not set one.
 */
import { parseEtcOptions } from './etc-options';
import type { ImageRecord } from '../storage/types';
import { InvalidArgumentError, NotFoundError, NotImplementedError } from '../errors';
import type { DockerConfig, DockerFrontend, DockerHostConfig } from './docker-types';
import { parseSignal, SIGTERM } from './signals';
import { driverOptsOf } from './endpoint-settings';
import { healthSpecOf, mergeHealthConfig, type DockerHealthConfig } from './health';
import { cgroupLimitsFor, diskThrottleFor, vmSizeFor, type PodVmSize } from './resources';
import type { PodSpec } from '../pod/types';
import { mergeEnv } from '../util/env';
import { verifyLogConfig, type LogConfig } from './log-config';
import { parseMounts, withShmSize } from './mounts';
import type { ContainerNetworkPlan, NetworkLookup } from '../net/container-config';
import { planNetworks, type NetworkingInput } from './network-plan';
import { parseRestartPolicy, type CreateRequest } from './create-body';
import { dockerDefaultSysctls, dockerSecurity, parseUlimits } from './security';
import { parseDeviceCgroupRules, parseDevices } from './devices';
import { seccompOf } from './seccomp-opt';
import { parseStorageOpt } from './storage-opt';
import { parseCgroupParent } from './cgroup-parent';

/** Default seconds between the stop signal and SIGKILL. */
export const DEFAULT_STOP_TIMEOUT = 10;

/** Inputs of translateCreate besides the request. */
export interface TranslateOptions {
  /** VM size when the container sets no limits (the daemon's --vm-memory/--vm-cpus). */
  defaults: PodVmSize;
  hostCpus: number;
  /** The daemon's default log driver and options (default json-file without options). */
  logDefaults?: LogConfig;
  /**
   * The host's networks, to plan the container's (absent: the host has none, and a container
   * gets loopback only; asking for ports or a user network is then refused).
   */
  networks?: NetworkLookup;
  /**
   * Add the sysctls dockerd 20.10 adds (unprivileged ports and ping: dockerDefaultSysctls).
   * Default true; a CRI pod sandbox has only the kubelet's, as under containerd 1.x.
   */
  dockerdSysctls?: boolean;
}

/** Result of translateCreate. */
export interface Translated {
  spec: PodSpec;
  frontend: DockerFrontend;
}

/** Merge a checked request with its image into the PodSpec and the Docker frontend data. */
export function translateCreate(
  req: CreateRequest,
  image: ImageRecord,
  id: string,
  opts: TranslateOptions,
): Translated {
  const ic = image.config.config ?? {};
  const c: DockerConfig = { ...req.config };
  if (!c.Hostname) c.Hostname = id.slice(0, 12);
  if (!c.User && ic.User) c.User = ic.User;
  if (ic.Env?.length || c.Env) c.Env = mergeEnv(ic.Env ?? [], c.Env ?? []);
  if (ic.Labels || c.Labels) c.Labels = { ...(ic.Labels ?? {}), ...(c.Labels ?? {}) };
  else c.Labels = {};
  if (!c.WorkingDir && ic.WorkingDir) c.WorkingDir = ic.WorkingDir;
  if (!c.StopSignal && ic.StopSignal) c.StopSignal = ic.StopSignal;
  if (ic.ExposedPorts || c.ExposedPorts) c.ExposedPorts = { ...(ic.ExposedPorts ?? {}), ...(c.ExposedPorts ?? {}) };
  const health = mergeHealthConfig(c.Healthcheck as DockerHealthConfig | undefined, ic.Healthcheck);
  if (health) c.Healthcheck = health;
  if (ic.Volumes || c.Volumes) c.Volumes = { ...(ic.Volumes ?? {}), ...(c.Volumes ?? {}) };
  if (!req.entrypointSet) {
    if (!c.Cmd || c.Cmd.length === 0) c.Cmd = ic.Cmd ?? null;
    c.Entrypoint = ic.Entrypoint ?? null;
  }
  const entrypoint = (c.Entrypoint ?? []).filter((a, i, all) => !(all.length === 1 && i === 0 && a === ''));
  const args = [...entrypoint, ...(c.Cmd ?? [])];
  if (args.length === 0) throw new InvalidArgumentError('No command specified');
  // dockerd checks the log driver after the image lookup (a 404 comes first).
  const logConfig = verifyLogConfig(req.hostConfig.LogConfig, opts.logDefaults ?? { Type: 'json-file', Config: {} });
  const sec = dockerSecurity({ ...req.hostConfig });
  const rlimits = parseUlimits(req.hostConfig.Ulimits);
  // The sysctls runc and dockerd add (domain name, unprivileged ports and ping); inspect still
  // shows HostConfig.Sysctls as sent, as dockerd does.
  const devices = parseDevices(req.hostConfig.Devices);
  const deviceCgroupRules = parseDeviceCgroupRules(req.hostConfig.DeviceCgroupRules);
  const security = {
    ...sec.security,
    sysctls: dockerDefaultSysctls(req.hostConfig, c.Domainname, opts.dockerdSysctls ?? true),
    ...(rlimits.length ? { rlimits } : {}),
    // 0 is the guest's own default: nothing to write.
    ...(req.hostConfig.OomScoreAdj ? { oomScoreAdj: req.hostConfig.OomScoreAdj } : {}),
    ...(devices.length ? { devices } : {}),
    ...(deviceCgroupRules.length ? { deviceCgroupRules } : {}),
  };
  const hc: DockerHostConfig = {
    ...req.hostConfig,
    LogConfig: logConfig,
    // As dockerd shows them: the paths it applied, and SecurityOpt without systempaths.
    MaskedPaths: sec.maskedPaths,
    ReadonlyPaths: sec.readonlyPaths,
    SecurityOpt: req.hostConfig.SecurityOpt?.filter((o) => o !== 'systempaths=unconfined') ?? null,
  };
  const policy = parseRestartPolicy(hc.RestartPolicy);
  const stopSignal = c.StopSignal ? parseSignal(c.StopSignal) : SIGTERM;
  const network = networkPlan(req, hc, c, opts.networks);
  const mounts = withShmSize(parseMounts(hc), hc.ShmSize);
  const seccomp = seccompOf(hc);
  const storage = parseStorageOpt(hc.StorageOpt);
  const cgroupParent = parseCgroupParent(hc.CgroupParent);
  const spec: PodSpec = {
    id,
    hostname: c.Hostname,
    domainname: c.Domainname,
    labels: { ...(c.Labels ?? {}) },
    vm: vmSizeFor(hc, opts.defaults, opts.hostCpus),
    restartPolicy: policy,
    autoRemove: hc.AutoRemove,
    log: { driver: logConfig.Type, opts: logConfig.Config },
    ...(network ? { network } : {}),
    ...(cgroupParent !== undefined ? { hostCgroupParent: cgroupParent } : {}),
    containers: [
      {
        id,
        image: image.id,
        imageRef: c.Image,
        args,
        env: c.Env ?? [],
        workingDir: c.WorkingDir || '/',
        user: c.User,
        tty: c.Tty,
        // The client's terminal size, as the init's first TTY size (a terminal is 1..65535 each way).
        ...(c.Tty && hc.ConsoleSize.every((n) => n >= 1 && n <= 65535)
          ? { consoleSize: [hc.ConsoleSize[0], hc.ConsoleSize[1]] as [number, number] }
          : {}),
        openStdin: c.OpenStdin,
        stdinOnce: c.StdinOnce,
        stopSignal,
        // A negative StopTimeout (dockerd accepts it) means: wait for ever.
        stopTimeout: c.StopTimeout ?? DEFAULT_STOP_TIMEOUT,
        ...(cgroupLimitsFor(hc) ? { limits: cgroupLimitsFor(hc) } : {}),
        ...(diskThrottleFor(hc) ? { diskThrottle: diskThrottleFor(hc) } : {}),
        ...(hc.GroupAdd?.length ? { groupAdd: [...hc.GroupAdd] } : {}),
        ...(storage.size !== undefined ? { diskSize: storage.size } : {}),
        ...(storage.imageOnDisk ? { imageOnDisk: true } : {}),
        ...(mounts.length ? { mounts } : {}),
        ...(healthSpecOf(health, c.Shell ?? ic.Shell) ? { health: healthSpecOf(health, c.Shell ?? ic.Shell) } : {}),
        security,
        ...(seccomp ? { seccomp } : {}),
        ...(hc.Init ? { dockerInit: true } : {}),
      },
    ],
  };
  const endpointDriverOpts = driverOptsOf(req.endpointsConfig as Record<string, unknown> | undefined);
  return {
    spec,
    frontend: {
      config: orderConfig(c),
      hostConfig: hc,
      imageRef: c.Image,
      ...(endpointDriverOpts ? { endpointDriverOpts } : {}),
    },
  };
}

/**
 * `nets`, taking a network that is not there for a user network without subnets: dockerd
 * creates the container and fails its start with 404 `network X not found` (a 404 at create
 * would have the docker CLI pull the image, as for a missing one, and try again).
 */
function unknownNetworksLater(nets: NetworkLookup): NetworkLookup {
  const orElse = <T>(f: () => T, missing: T): T => {
    try {
      return f();
    } catch (err) {
      if (err instanceof NotFoundError) return missing;
      throw err;
    }
  };
  return {
    isUserNetwork: (ref) => orElse(() => nets.isUserNetwork(ref), true),
    hasUserSubnet: (ref, family) => orElse(() => nets.hasUserSubnet(ref, family), false),
    userRanges: (ref) => orElse(() => nets.userRanges?.(ref) ?? { 4: [], 6: [] }, { 4: [], 6: [] }),
  };
}

/** The container's network plan (src/net/container-config.ts), or none for loopback only. */
function networkPlan(
  req: CreateRequest,
  hc: DockerHostConfig,
  c: DockerConfig,
  nets: TranslateOptions['networks'],
): ContainerNetworkPlan | undefined {
  const etc = parseEtcOptions(hc);
  const withEtc = (p: ContainerNetworkPlan): ContainerNetworkPlan => (etc ? { ...p, etc } : p);
  if (c.NetworkDisabled) return withEtc({ mode: 'none', networks: [], ports: [] });
  const input: NetworkingInput = {
    NetworkMode: hc.NetworkMode,
    PortBindings: hc.PortBindings as Record<string, unknown>,
    PublishAllPorts: hc.PublishAllPorts,
    ExposedPorts: c.ExposedPorts,
    Links: hc.Links,
    ...(c.MacAddress ? { MacAddress: c.MacAddress } : {}),
    ...(req.endpointsConfig ? { EndpointsConfig: req.endpointsConfig } : {}),
    ...(req.multipleEndpoints ? { MultipleEndpoints: true } : {}),
    ...(req.asDockerd26 ? { AllEndpointProblems: true } : {}),
  };
  if (nets) return withEtc(planNetworks(input, unknownNetworksLater(nets)));
  // No networks on this host: the default network means loopback only, as before; anything
  // more cannot be given.
  const plan = planNetworks(input, {
    isUserNetwork: () => {
      throw new NotImplementedError('this host has no container networks (bridges or iptables unavailable)');
    },
    hasUserSubnet: () => false,
  });
  if (plan.ports.length > 0)
    throw new NotImplementedError(
      'this host has no container networks (bridges or iptables unavailable): ports cannot be published',
    );
  return withEtc({ mode: 'none', networks: [], ports: [] });
}

/** Config with its keys in dockerd's order (optional fields only when set). */
export function orderConfig(c: DockerConfig): DockerConfig {
  const out: Record<string, unknown> = {};
  const keys: Array<keyof DockerConfig> = [
    'Hostname',
    'Domainname',
    'User',
    'AttachStdin',
    'AttachStdout',
    'AttachStderr',
    'ExposedPorts',
    'Tty',
    'OpenStdin',
    'StdinOnce',
    'Env',
    'Cmd',
    'Healthcheck',
    'ArgsEscaped',
    'Image',
    'Volumes',
    'WorkingDir',
    'Entrypoint',
    'NetworkDisabled',
    'MacAddress',
    'OnBuild',
    'Labels',
    'StopSignal',
    'StopTimeout',
    'Shell',
  ];
  const optional = new Set([
    'ExposedPorts',
    'Healthcheck',
    'ArgsEscaped',
    'NetworkDisabled',
    'MacAddress',
    'StopSignal',
    'StopTimeout',
    'Shell',
  ]);
  for (const k of keys) {
    if (optional.has(k) && c[k] === undefined) continue;
    out[k] = c[k] === undefined ? null : c[k];
  }
  return out as unknown as DockerConfig;
}
