/**
 * `POST /containers/create`, second step: a checked Docker body (./create-body.ts) + its image
 * -> the neutral request (../request/container-request.ts), which the one translation makes
 * into the pod (../request/request-pod.ts), and the Docker record that inspect shows (Config
 * and HostConfig, made from the body). Pure: no I/O. Run once the image is found, since
 * dockerd looks the image up before it names these faults:
 *
 *   const req = parseCreateBody(body, hostCpus);      // 400s with dockerd's messages
 *   const container = containerOf(req);                // the creation door's request
 *   const image = await images.resolve(req.config.Image);
 *   const merged = mergeWithImage(container, image, id);  // the door's one merge
 *   const { request, record } = completeDockerRequest(req, container, merged, image, opts);
 *   const { spec } = translateContainerRequest(request, image, id, opts, merged);
 *
 * Docker's syntax stops here: `-v` strings, `--mount` and `--tmpfs` become structured mounts,
 * PortBindings and `-P` checked published ports, EndpointsConfig each network's settings,
 * SecurityOpt, CapAdd/CapDrop, Ulimits and Devices the security settings, LogConfig a driver
 * and its options. Merging with the image is the neutral request's (../request/image-merge.ts),
 * for the record's Config too, so that inspect shows what the pod runs. The faults named here
 * come in dockerd's order before the translation's: no command, the log driver, a security
 * option, a ulimit, the extra hosts, the published ports, several networks where the API
 * version allows one, an endpoint given as null, the name servers.
 */
import { InvalidArgumentError } from '../../../errors';
import type { PodMount } from '../../../pod/types';
import type { ImageRecord } from '../../../storage/types';
import type { PortRequest as PublishedPort } from '../../../net/types';
import { parseEtcOptions } from '../../../translate/etc-options';
import { fromApi } from '../../../translate/network/port-requests';
import { driverOptsOf } from '../json/endpoint-settings';
import type {
  ContainerRequest,
  EndpointRequest,
  HealthRequest,
  MountRequest,
  NetworkRequest,
  PortRequest,
  ResourcesRequest,
} from '../../../translate/request/container-request';
import { commandLineOf, type MergedContainer } from '../../../translate/request/image-merge';
import type { TranslateOptions } from '../../../translate/translation';
import { parseRestartPolicy, type CreateRequest } from './create-body';
import { parseDeviceCgroupRules, parseDevices } from './devices';
import { orderConfig, type DockerConfig, type DockerFrontend, type DockerHostConfig } from './docker-types';
import { mergeHealthConfig, type HealthConfig } from '../../../translate/request/policy/health';
import { verifyLogConfig, type LogConfig } from './log-config';
import { DEFAULT_LOG_CONFIG } from '../../../translate/request/policy/log-config';
import { parseMounts } from './mounts';
import { amountsOf, diskThrottleFor } from './resources';
import { seccompRequestOf } from './seccomp-opt';
import { dockerSecurity, parseUlimits } from './security';

/** A Docker create as the neutral request, and the Docker record kept beside its pod. */
export interface DockerRequest {
  request: ContainerRequest;
  record: DockerFrontend;
}

/**
 * The neutral request and Docker record of a checked create whose container's settings
 * (`container`, containerOf's) are merged with its image already (`merged`): the creation
 * door merges once and hands the merge to the Docker front (src/api/v1.41/create/docker-front.ts).
 */
export function completeDockerRequest(
  req: CreateRequest,
  container: ContainerRequest,
  merged: MergedContainer,
  image: ImageRecord,
  opts: Pick<TranslateOptions, 'logDefaults'>,
): DockerRequest {
  const c = req.config;
  const hc = req.hostConfig;
  // The faults of the module comment, in dockerd's order (the translation names the rest).
  commandLineOf(merged);
  const logConfig = verifyLogConfig(hc.LogConfig, opts.logDefaults ?? DEFAULT_LOG_CONFIG);
  const sec = dockerSecurity({ ...hc }, req.asDockerd26 === true);
  const rlimits = parseUlimits(hc.Ulimits);
  const devices = parseDevices(hc.Devices);
  const deviceRules = parseDeviceCgroupRules(hc.DeviceCgroupRules);
  parseEtcOptions({ ExtraHosts: hc.ExtraHosts }); // the extra hosts' faults, before the ports'
  const exposed = Object.fromEntries((merged.exposedPorts ?? []).map((k) => [k, {}]));
  // dockerd checks the port bindings of a container with its network disabled too.
  const bindings = fromApi(hc.PortBindings as Parameters<typeof fromApi>[0], hc.PublishAllPorts, exposed);
  const published = c.NetworkDisabled ? [] : bindings;
  const network = networkOf(req);
  if (network.mode === 'join' && published.length > 0)
    throw new InvalidArgumentError('conflicting options: port publishing and the container type network mode');
  const endpoints = endpointsOf(req);
  if ((network.mode === 'default' || network.mode === 'named') && endpoints.length > 1 && !req.multipleEndpoints)
    throw new InvalidArgumentError(
      `Container cannot be connected to network endpoints: ${endpoints.map((e) => e.network).join(', ')}`,
    );
  checkNoNullEndpoint(req);
  // The name servers last: dockerd does not check them at create (podvisor does: its VM is planned now).
  parseEtcOptions(hc);
  const mode = hc.NetworkMode;
  const ownNetwork = mode !== 'host' && !mode.startsWith('container:');
  const request: ContainerRequest = {
    ...container,
    restartPolicy: parseRestartPolicy(hc.RestartPolicy),
    autoRemove: hc.AutoRemove,
    ...(hc.Init ? { init: true } : {}),
    log: { kind: 'driver', driver: hc.LogConfig.Type, options: { ...hc.LogConfig.Config } },
    network,
    ...(network.mode === 'default' || network.mode === 'named'
      ? {
          ports: published.map(portRequestOf),
          ...(endpoints.length ? { endpoints } : {}),
          ...(c.MacAddress ? { macAddress: c.MacAddress } : {}),
          ...(hc.Links?.length ? { links: [...hc.Links] } : {}),
          ...(req.asDockerd26 ? { endpointChecks: 'every-problem' as const } : {}),
        }
      : {}),
    dns: { servers: hc.Dns ?? [], search: hc.DnsSearch ?? [], options: hc.DnsOptions ?? [] },
    ...(req.asDockerd26 ? { resolvComments: true as const } : {}),
    extraHosts: hc.ExtraHosts ?? [],
    mounts: parseMounts(hc).map(mountRequestOf),
    ...(hc.StorageOpt ? { diskOptions: { ...hc.StorageOpt } } : {}),
    resources: resourcesOf(hc),
    security: {
      privileged: hc.Privileged,
      capabilities: sec.security.capabilities,
      readonlyRoot: hc.ReadonlyRootfs,
      noNewPrivileges: sec.security.noNewPrivs,
      maskedPaths: sec.security.maskedPaths,
      readonlyPaths: sec.security.readonlyPaths,
      seccomp: seccompRequestOf(hc.SecurityOpt),
      sysctls: { ...(hc.Sysctls ?? {}) },
      // dockerd's sysctls for a network namespace of its own: not the host's, not another container's.
      defaultSysctls: ownNetwork,
      ...(rlimits.length ? { rlimits } : {}),
      ...(hc.OomScoreAdj ? { oomScoreAdj: hc.OomScoreAdj } : {}),
      ...(devices.length ? { devices } : {}),
      ...(deviceRules.length ? { deviceRules } : {}),
    },
    ...(hc.CgroupParent ? { cgroupParent: hc.CgroupParent } : {}),
  };
  return { request, record: recordOf(req, image, merged, logConfig, sec) };
}

/**
 * The Docker record of a create: Config as sent, merged with the image as the pod's container
 * is (`merged`), and HostConfig as sent, with the log driver and paths dockerd applied.
 */
function recordOf(
  req: CreateRequest,
  image: ImageRecord,
  merged: MergedContainer,
  logConfig: LogConfig,
  sec: Pick<ReturnType<typeof dockerSecurity>, 'maskedPaths' | 'readonlyPaths'>,
): DockerFrontend {
  const c = req.config;
  const hc = req.hostConfig;
  // The record keeps a Healthcheck of a kind no probe runs as sent, merged with the image's.
  const health = mergeHealthConfig(c.Healthcheck as HealthConfig | undefined, image.config.config?.Healthcheck);
  const keys = (list: readonly string[]) => Object.fromEntries(list.map((k) => [k, {}]));
  const config: DockerConfig = {
    ...c,
    Hostname: merged.hostname,
    User: merged.user,
    ...(merged.env ? { Env: merged.env } : {}),
    Labels: merged.labels,
    WorkingDir: merged.workingDir,
    ...(merged.stopSignal ? { StopSignal: merged.stopSignal } : {}),
    ...(merged.exposedPorts ? { ExposedPorts: keys(merged.exposedPorts) } : {}),
    ...(health ? { Healthcheck: health } : {}),
    // dockerd stores an empty Volumes, and an Entrypoint of [""], as null.
    ...(merged.volumes ? { Volumes: merged.volumes.length ? keys(merged.volumes) : null } : {}),
    Cmd: merged.cmd,
    Entrypoint: merged.entrypoint?.length === 1 && merged.entrypoint[0] === '' ? null : merged.entrypoint,
  };
  const hostConfig: DockerHostConfig = {
    ...hc,
    LogConfig: logConfig,
    // As dockerd shows them: the paths it applied, and SecurityOpt without systempaths.
    MaskedPaths: sec.maskedPaths,
    ReadonlyPaths: sec.readonlyPaths,
    SecurityOpt: securityOptShown(hc),
  };
  // dockerd 20.10 names no runtime for a body with no HostConfig.
  if (!req.hostConfigSent && !req.asDockerd26) delete hostConfig.Runtime;
  const endpointDriverOpts = driverOptsOf(req.endpointsConfig as Record<string, unknown> | undefined);
  // dockerd names an endpoint given as `default` of the default network mode `bridge`.
  const defaultMode = hc.NetworkMode === 'default' || hc.NetworkMode === '';
  const endpoints = Object.entries(req.endpointsConfig ?? {}).map(
    ([k, ep]) => [k === 'default' && defaultMode ? 'bridge' : k, ep] as const,
  );
  const endpointMacs = Object.fromEntries(
    endpoints.flatMap(([k, ep]) => (typeof ep?.MacAddress === 'string' && ep.MacAddress ? [[k, ep.MacAddress]] : [])),
  );
  return {
    config: orderConfig(config),
    hostConfig,
    imageRef: c.Image,
    ...(endpointDriverOpts ? { endpointDriverOpts } : {}),
    ...(Object.keys(endpointMacs).length ? { endpointMacs } : {}),
    ...(endpoints.length ? { endpointNames: endpoints.map(([k]) => k) } : {}),
  };
}

/**
 * SecurityOpt as dockerd stores it: without `systempaths=unconfined` (the CLI's, which dockerd
 * takes as empty MaskedPaths and ReadonlyPaths), and with the `label=disable` dockerd adds for a
 * privileged container unless a label option is there (it adds it for the host's PID or IPC
 * namespace too, which podvisor refuses).
 */
function securityOptShown(hc: DockerHostConfig): string[] | null {
  const opts = hc.SecurityOpt?.filter((o) => o !== 'systempaths=unconfined') ?? [];
  const labelled = opts.some((o) => o.split('=')[0] === 'label');
  if (!labelled && hc.Privileged) opts.push('label=disable');
  return opts.length || hc.SecurityOpt ? opts : null;
}

/** A HostConfig's resources in the request's words. */
function resourcesOf(hc: DockerHostConfig): ResourcesRequest {
  const throttle = diskThrottleFor(hc);
  const { cpuset, cpusetMems, ...amounts } = amountsOf(hc);
  return {
    ...amounts,
    ...(cpuset ? { cpuset } : {}),
    ...(cpusetMems ? { cpusetMems } : {}),
    shmBytes: hc.ShmSize,
    ...(throttle ? { diskThrottle: throttle } : {}),
  };
}

/** The container's own settings of a create body (Config), in the request's words. */
export function containerOf(req: CreateRequest): ContainerRequest {
  const c = req.config;
  const hc = req.hostConfig;
  const health = healthRequestOf(c.Healthcheck as HealthConfig | undefined);
  return {
    image: c.Image,
    ...(req.entrypointSet ? { entrypoint: c.Entrypoint ?? [] } : {}),
    ...(c.Cmd ? { args: c.Cmd } : {}),
    ...(c.Env ? { env: c.Env } : {}),
    envOrder: 'request-first',
    ...(c.WorkingDir ? { workingDir: c.WorkingDir } : {}),
    ...(c.User ? { user: c.User } : {}),
    ...(c.Shell ? { shell: c.Shell } : {}),
    ...(hc.GroupAdd?.length ? { groups: [...hc.GroupAdd] } : {}),
    ...(c.Hostname ? { hostname: c.Hostname } : {}),
    ...(c.Domainname ? { domainname: c.Domainname } : {}),
    tty: c.Tty,
    consoleSize: [hc.ConsoleSize[0], hc.ConsoleSize[1]],
    openStdin: c.OpenStdin,
    stdinOnce: c.StdinOnce,
    attachStdin: c.AttachStdin,
    ...(c.Labels ? { labels: c.Labels } : {}),
    ...(c.StopTimeout !== undefined ? { stopTimeout: c.StopTimeout } : {}),
    ...(c.StopSignal ? { stopSignal: c.StopSignal } : {}),
    ...(health ? { health } : {}),
    ...(c.ExposedPorts ? { exposedPorts: Object.keys(c.ExposedPorts) } : {}),
    ...(c.Volumes ? { volumes: Object.keys(c.Volumes) } : {}),
  };
}

/**
 * A body's Healthcheck in the request's words. A Test of a kind Docker does not run is no
 * probe, as NONE is (the record keeps it as sent).
 */
function healthRequestOf(h: HealthConfig | undefined): HealthRequest | undefined {
  if (!h) return undefined;
  const [kind, ...args] = h.Test ?? [];
  const probe: HealthRequest['probe'] =
    kind === undefined
      ? undefined
      : kind === 'CMD'
        ? { kind: 'exec', args }
        : kind === 'CMD-SHELL'
          ? { kind: 'shell', args }
          : { kind: 'none' };
  return {
    ...(probe ? { probe } : {}),
    ...(h.Interval ? { intervalNs: h.Interval } : {}),
    ...(h.Timeout ? { timeoutNs: h.Timeout } : {}),
    ...(h.StartPeriod ? { startPeriodNs: h.StartPeriod } : {}),
    ...(h.StartInterval ? { startIntervalNs: h.StartInterval } : {}),
    ...(h.Retries ? { retries: h.Retries } : {}),
  };
}

/**
 * The network a body asks for: none when networking is disabled (in the VM of the container
 * of `container:X` then), the default bridge, the host's, none, another container's VM, or a
 * network by name or id.
 */
function networkOf(req: CreateRequest): NetworkRequest {
  const mode = req.hostConfig.NetworkMode;
  const joined = mode.startsWith('container:') ? mode.slice('container:'.length) : undefined;
  if (joined !== undefined) return { mode: 'join', pod: joined };
  if (req.config.NetworkDisabled) return { mode: 'none' };
  if (mode === '' || mode === 'default') return { mode: 'default' };
  if (mode === 'host' || mode === 'none') return { mode };
  return { mode: 'named', name: mode };
}

/** An endpoint given as null: dockerd 26's 400 from API 1.42 (it checks each endpoint then), else dockerd 20.10's. */
function checkNoNullEndpoint(req: CreateRequest): void {
  for (const [network, ep] of Object.entries(req.endpointsConfig ?? {}))
    if (ep === null || ep === undefined)
      throw new InvalidArgumentError(
        req.asDockerd26
          ? `invalid config for network ${network}: EndpointsConfig is nil`
          : `no EndpointSettings for ${network}`,
      );
}

/** NetworkingConfig.EndpointsConfig as each network's settings, in the body's order. */
function endpointsOf(req: CreateRequest): EndpointRequest[] {
  return Object.entries(req.endpointsConfig ?? {}).map(([network, ep]) => {
    const ipam = ep?.IPAMConfig;
    return {
      network,
      ...(ep?.Aliases ? { aliases: [...ep.Aliases] } : {}),
      ...(ipam?.IPv4Address ? { ipv4Address: ipam.IPv4Address } : {}),
      ...(ipam?.IPv6Address ? { ipv6Address: ipam.IPv6Address } : {}),
      ...(ipam?.LinkLocalIPs ? { linkLocalAddresses: [...ipam.LinkLocalIPs] } : {}),
      ...(ep?.MacAddress ? { macAddress: ep.MacAddress } : {}),
      ...(ep?.Links ? { links: [...ep.Links] } : {}),
    };
  });
}

/** A published port, checked, in the request's words: published only (the body's ExposedPorts says what is exposed). */
function portRequestOf(p: PublishedPort): PortRequest {
  const port = p.hostPortMin === p.hostPortMax ? String(p.hostPortMin) : `${p.hostPortMin}-${p.hostPortMax}`;
  return {
    containerPort: p.containerPort,
    protocol: p.proto,
    host: { ip: p.alsoIpv6 ? '' : p.hostIp, port },
    exposed: false,
  };
}

/** A mount of Binds, Mounts or Tmpfs (./mounts.ts, checked) in the request's words. */
function mountRequestOf(m: PodMount): MountRequest {
  if (m.type === 'volume')
    return {
      kind: 'volume',
      name: m.name,
      target: m.target,
      readOnly: m.readOnly,
      ...(m.noCopy ? { noCopy: true } : {}),
      ...(m.driver ? { driver: m.driver } : {}),
      ...(m.options ? { driverOptions: { ...m.options } } : {}),
      ...(m.labels ? { labels: { ...m.labels } } : {}),
    };
  if (m.type === 'tmpfs')
    return {
      kind: 'tmpfs',
      target: m.target,
      ...(m.options ? { options: m.options } : {}),
      readOnly: m.readOnly,
      exec: !m.noexec,
      suid: !m.nosuid,
      dev: !m.nodev,
    };
  if (m.type === 'bind')
    return { source: m.source, target: m.target, readOnly: m.readOnly, createSource: m.createSource };
  throw new Error(`a create body has no ${m.type} mount`);
}
