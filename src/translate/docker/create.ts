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
import { parseEtcOptions } from '../etc-options';
import type { ImageRecord } from '../../storage/types';
import { InvalidArgumentError } from '../../errors';
import { orderConfig, type DockerConfig, type DockerHostConfig } from './docker-types';
import { parseSignal, SIGTERM } from '../signals';
import { driverOptsOf } from '../json/endpoint-settings';
import { healthSpecOf, mergeHealthConfig, type DockerHealthConfig } from './health';
import { cgroupLimitsFor, diskThrottleFor, vmSizeFor } from './resources';
import type { PodSpec } from '../../pod/types';
import { DEFAULT_STOP_TIMEOUT, type DockerTranslated, type TranslateOptions } from '../translation';
import { mergeEnv } from '../../util/env';
import { verifyLogConfig } from './log-config';
import { parseMounts, withShmSize } from './mounts';
import type { ContainerNetworkPlan } from '../../net/container-config';
import { planNetworks, planOnHost, type NetworkingInput } from '../network/network-plan';
import { parseRestartPolicy, type CreateRequest } from './create-body';
import { dockerDefaultSysctls, dockerSecurity, parseUlimits } from './security';
import { parseDeviceCgroupRules, parseDevices } from './devices';
import { seccompOf } from './seccomp-opt';
import { parseStorageOpt } from './storage-opt';
import { parseCgroupParent } from './cgroup-parent';

export { DEFAULT_STOP_TIMEOUT, type TranslateOptions, type Translated } from '../translation';

/** Merge a checked request with its image into the PodSpec and the Docker frontend data. */
export function translateCreate(
  req: CreateRequest,
  image: ImageRecord,
  id: string,
  opts: TranslateOptions,
): DockerTranslated {
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
    sysctls: dockerDefaultSysctls(req.hostConfig, c.Domainname),
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
    ...(c.Volumes ? { anonymousVolumes: Object.keys(c.Volumes) } : {}),
    frontend: {
      config: orderConfig(c),
      hostConfig: hc,
      imageRef: c.Image,
      ...(endpointDriverOpts ? { endpointDriverOpts } : {}),
    },
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
  return withEtc(planOnHost(nets, (lookup) => planNetworks(input, lookup)));
}
