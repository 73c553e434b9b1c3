/**
 * PodRecord -> Docker JSON: the ContainerJSON of `GET /containers/{id}/json` (field order as
 * dockerd 20.10 writes it) and the summary of `GET /containers/json`.
 */
import * as path from 'node:path';
import type { PodRecord } from '../../../pod/types';
import { mainContainer } from '../../../pod/types';
import { type DockerFrontend, type DockerHostConfig } from '../docker/docker-types';
import { mountPoints } from '../docker/mounts';
import { dockerState, statusText } from './status';
import { dockerHealth, healthSuffix } from '../docker/health';
import { parseRfc3339 } from '../../../util/time';
import type { LegacyLink } from '../../../net/legacy-links';
import { inspectLinks, parseLinks } from '../../../translate/network/links';
import { endpointJson, networkSettingsJson, noneNetworksJson, plannedNetworksJson, psPorts } from './network-json';
import type { EndpointConfig } from '../../../net/manager';
import type { PortBinding } from '../../../net/types';
import { underCreateNames, withAskedEndpointSettings } from './endpoint-settings';
import { dockerViewOf } from '../docker/pod-view';

/** Facts about a pod that live outside its record. */
export interface InspectExtras {
  /** The daemon's data root (paths of logs, hosts files). */
  dataRoot: string;
  /** Exec instances of the container still known. */
  execIds: string[];
  /** Overlay directories of the rootfs, when known (GraphDriver.Data). */
  graph?: { lowerDirs: string[]; upperDir: string; workDir: string; mergedDir?: string };
  /** With `size=1`: bytes in the writable layer and in the whole rootfs. */
  size?: { rw: number; rootFs: number };
  /** The container's endpoints and published ports, while it is on a network. */
  network?: NetworkView;
}

/** A container's endpoints (with their network's name) and the ports published to it. */
export interface NetworkView {
  endpoints: Array<EndpointConfig & { networkName: string; isDefault: boolean }>;
  ports: PortBinding[];
}

/** The host directory of a container's files (logs, hosts, state). */
export function containerDir(dataRoot: string, id: string): string {
  return path.join(dataRoot, 'containers', id);
}

/** The json-file log path Docker reports (LogPath). */
export function logPath(dataRoot: string, id: string): string {
  return path.join(containerDir(dataRoot, id), `${id}-json.log`);
}

/** Shell-like quoting of one argument for Docker's `Command` column. */
function quoteArg(a: string): string {
  if (a !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(a)) return a;
  return `'${a.replace(/'/g, `'\\''`)}'`;
}

/** Docker's ps `Command`: argv joined, arguments with spaces or quotes shell-quoted. */
export function commandText(args: string[]): string {
  return args.map(quoteArg).join(' ');
}

/** `NetworkSettings` of inspect: the shape dockerd gives, with no network attached now. */
function networkSettings(networks: Record<string, unknown>): Record<string, unknown> {
  return {
    Bridge: '',
    SandboxID: '',
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    Ports: {},
    SandboxKey: '',
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: '',
    Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    IPAddress: '',
    IPPrefixLen: 0,
    IPv6Gateway: '',
    MacAddress: '',
    Networks: networks,
  };
}

/** The full ContainerJSON of `docker inspect`. */
export function containerJson(r: PodRecord, x: InspectExtras): Record<string, unknown> {
  const fe = dockerViewOf(r);
  const m = mainContainer(r);
  const c = m.spec;
  const dir = containerDir(x.dataRoot, r.id);
  const out: Record<string, unknown> = {
    Id: r.id,
    Created: r.created,
    Path: c.args[0] ?? '',
    Args: c.args.slice(1),
    State: { ...dockerState(m.state), ...(m.health && m.spec.health ? { Health: dockerHealth(m.health) } : {}) },
    Image: c.image,
    ResolvConfPath: path.join(dir, 'resolv.conf'),
    HostnamePath: path.join(dir, 'hostname'),
    HostsPath: path.join(dir, 'hosts'),
    LogPath: logPath(x.dataRoot, r.id),
    Name: `/${r.name}`,
    RestartCount: m.restartCount,
    Driver: 'overlay2',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: x.execIds.length ? x.execIds : null,
    HostConfig: hostConfigJson(fe.hostConfig, r.name),
    GraphDriver: {
      Data: x.graph
        ? {
            LowerDir: x.graph.lowerDirs.join(':'),
            MergedDir: x.graph.mergedDir ?? '',
            UpperDir: x.graph.upperDir,
            WorkDir: x.graph.workDir,
          }
        : null,
      Name: 'overlay2',
    },
  };
  if (x.size) {
    out.SizeRw = x.size.rw;
    out.SizeRootFs = x.size.rootFs;
  }
  out.Mounts = mountPoints(fe.hostConfig, c.mounts ?? []);
  out.Config = fe.config;
  const settings = x.network
    ? networkSettingsJson(x.network.endpoints, x.network.ports, fe.config.ExposedPorts)
    : networkSettings(createdNetworks(r, fe));
  out.NetworkSettings = settings;
  const networks = (settings as { Networks: Record<string, Record<string, unknown>> }).Networks;
  withAskedEndpointSettings(networks, r.sandbox.spec.network, fe.endpointDriverOpts, fe.endpointMacs);
  // Not on its networks: the top-level MacAddress is the asked one of its default bridge entry, as dockerd's.
  if (!x.network && typeof networks.bridge?.MacAddress === 'string') settings.MacAddress = networks.bridge.MacAddress;
  if (noneMode(fe)) (out.NetworkSettings as { Networks: unknown }).Networks = noneNetworksJson();
  return out;
}

/** NetworkSettings.Networks of a container not on its networks now: those it will join, named as its create named them. */
function createdNetworks(
  r: PodRecord,
  fe: Pick<DockerFrontend, 'endpointNames'>,
): Record<string, Record<string, unknown>> {
  const plan = r.sandbox.spec.network;
  const planned = plannedNetworksJson(plan) as Record<string, Record<string, unknown>>;
  return underCreateNames(planned, fe.endpointNames, plan?.networks[0]?.ref);
}

/** Whether a container is of `--network none` (not Config.NetworkDisabled), which dockerd shows on the `none` network. */
function noneMode(fe: { hostConfig: { NetworkMode?: string }; config: { NetworkDisabled?: boolean } }): boolean {
  return fe.hostConfig.NetworkMode === 'none' && !fe.config.NetworkDisabled;
}

/** The `docker ps` entry (`GET /containers/json`). */
export function containerSummary(
  r: PodRecord,
  x: { size?: { rw: number; rootFs: number }; now?: number; network?: NetworkView },
): Record<string, unknown> {
  const fe = dockerViewOf(r);
  const m = mainContainer(r);
  const c = m.spec;
  const out: Record<string, unknown> = {
    Id: r.id,
    Names: [`/${r.name}`],
    Image: fe.imageRef,
    ImageID: c.image,
    Command: commandText(c.args),
    Created: Math.floor(parseRfc3339(r.created) / 1000),
    Ports: x.network ? psPorts(x.network.ports, fe.config.ExposedPorts) : [],
  };
  if (x.size) {
    // dockerd omits SizeRw when it is zero (omitempty).
    if (x.size.rw) out.SizeRw = x.size.rw;
    out.SizeRootFs = x.size.rootFs;
  }
  out.Labels = fe.config.Labels ?? {};
  out.State = m.state.status;
  out.Status = statusText(m.state, x.now) + (m.state.status === 'running' ? healthSuffix(m) : '');
  out.HostConfig = { NetworkMode: fe.hostConfig.NetworkMode };
  // Not on its networks now (created, exited): the networks it will join, as dockerd lists them.
  out.NetworkSettings = {
    Networks: noneMode(fe)
      ? noneNetworksJson()
      : x.network
        ? Object.fromEntries(x.network.endpoints.map((e) => [e.networkName, endpointJson(e, !e.isDefault)]))
        : createdNetworks(r, fe),
  };
  out.Mounts = mountPoints(fe.hostConfig, c.mounts ?? []);
  return out;
}

/**
 * HostConfig with its links as dockerd keeps them: `/target:/me/alias` on the default bridge;
 * none on a user network, where dockerd moves them to the endpoint (`Networks.<net>.Links`).
 */
function hostConfigJson(hc: DockerHostConfig, name: string): DockerHostConfig {
  if (!hc.Links?.length) return hc;
  const links = hostConfigLinks(hc);
  return { ...hc, Links: links.length ? inspectLinks(links, name) : null };
}

/** The links dockerd keeps as HostConfig.Links (the default bridge's); none on a user network. */
export function hostConfigLinks(hc: DockerHostConfig): LegacyLink[] {
  const mode = hc.NetworkMode;
  const userNetwork = !!mode && !['default', 'bridge', 'none', 'host'].includes(mode) && !mode.startsWith('container:');
  return userNetwork ? [] : parseLinks(hc.Links);
}
