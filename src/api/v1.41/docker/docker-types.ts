/**
 * Docker Engine API v1.41 container structures, as dockerd 20.10 writes them in
 * `GET /containers/{id}/json` (field order kept, so our JSON reads like dockerd's), and the
 * two functions that give them dockerd's form: the full HostConfig with its zero values and
 * defaults (normaliseHostConfig), Config in dockerd's key order (orderConfig).
 */
import type { EndpointDriverOpts } from '../json/endpoint-settings';

/** `Config` of a container (and of `POST /containers/create`, minus HostConfig). */
export interface DockerConfig {
  Hostname: string;
  Domainname: string;
  User: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  ExposedPorts?: Record<string, object>;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Env: string[] | null;
  Cmd: string[] | null;
  Healthcheck?: unknown;
  ArgsEscaped?: boolean;
  Image: string;
  Volumes: Record<string, object> | null;
  WorkingDir: string;
  Entrypoint: string[] | null;
  NetworkDisabled?: boolean;
  MacAddress?: string;
  OnBuild: string[] | null;
  Labels: Record<string, string> | null;
  StopSignal?: string;
  StopTimeout?: number;
  Shell?: string[];
}

/** `RestartPolicy` of a HostConfig. */
export interface DockerRestartPolicy {
  Name: string;
  MaximumRetryCount: number;
}

/** `HostConfig`, every field dockerd 20.10 prints, Go zero values where unset. */
export interface DockerHostConfig {
  Binds: string[] | null;
  ContainerIDFile: string;
  LogConfig: { Type: string; Config: Record<string, string> };
  NetworkMode: string;
  PortBindings: Record<string, unknown> | null;
  RestartPolicy: DockerRestartPolicy;
  AutoRemove: boolean;
  VolumeDriver: string;
  VolumesFrom: string[] | null;
  CapAdd: string[] | null;
  CapDrop: string[] | null;
  CgroupnsMode: string;
  Dns: string[] | null;
  DnsOptions: string[] | null;
  DnsSearch: string[] | null;
  ExtraHosts: string[] | null;
  GroupAdd: string[] | null;
  IpcMode: string;
  Cgroup: string;
  Links: string[] | null;
  OomScoreAdj: number;
  PidMode: string;
  Privileged: boolean;
  PublishAllPorts: boolean;
  ReadonlyRootfs: boolean;
  SecurityOpt: string[] | null;
  StorageOpt?: Record<string, string>;
  Tmpfs?: Record<string, string>;
  UTSMode: string;
  UsernsMode: string;
  ShmSize: number;
  Sysctls?: Record<string, string>;
  /** Absent where dockerd 20.10 leaves it out: a create body with no HostConfig, at API 1.41. */
  Runtime?: string;
  ConsoleSize: [number, number];
  Isolation: string;
  CpuShares: number;
  Memory: number;
  NanoCpus: number;
  CgroupParent: string;
  BlkioWeight: number;
  BlkioWeightDevice: unknown[] | null;
  BlkioDeviceReadBps: unknown[] | null;
  BlkioDeviceWriteBps: unknown[] | null;
  BlkioDeviceReadIOps: unknown[] | null;
  BlkioDeviceWriteIOps: unknown[] | null;
  CpuPeriod: number;
  CpuQuota: number;
  CpuRealtimePeriod: number;
  CpuRealtimeRuntime: number;
  CpusetCpus: string;
  CpusetMems: string;
  Devices: unknown[] | null;
  DeviceCgroupRules: string[] | null;
  DeviceRequests: unknown[] | null;
  KernelMemory: number;
  KernelMemoryTCP: number;
  MemoryReservation: number;
  MemorySwap: number;
  MemorySwappiness: number | null;
  OomKillDisable: boolean | null;
  PidsLimit: number | null;
  Ulimits: unknown[] | null;
  CpuCount: number;
  CpuPercent: number;
  IOMaximumIOps: number;
  IOMaximumBandwidth: number;
  Mounts?: unknown[];
  MaskedPaths: string[] | null;
  ReadonlyPaths: string[] | null;
  Init?: boolean | null;
}

/** What the Docker API keeps in `PodRecord.frontend`. */
export interface DockerFrontend {
  /** Config after merging the image's (what inspect shows). */
  config: DockerConfig;
  hostConfig: DockerHostConfig;
  /** The image as the client named it (`busybox`), shown by ps. */
  imageRef: string;
  /** The create's endpoint DriverOpts, by network (inspect shows them; ../json/endpoint-settings.ts). */
  endpointDriverOpts?: EndpointDriverOpts;
  /**
   * EndpointConfig.MacAddress of the create's endpoints, and of `network connect` while the
   * container did not run, by network name: dockerd keeps and shows it until the container
   * starts (dockerd 20.10 does not use a connect's then).
   */
  endpointMacs?: Record<string, string>;
  /**
   * The keys of the create's NetworkingConfig.EndpointsConfig, in the body's order: dockerd
   * shows a container that has not started on these (../json/endpoint-settings.ts underCreateNames).
   */
  endpointNames?: string[];
}

/** Read the Docker data of a pod record (created by the Docker API). */
export function dockerFrontend(frontend: unknown): DockerFrontend {
  return frontend as DockerFrontend;
}

type Json = Record<string, unknown>;

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
function bool(v: unknown): boolean {
  return v === true;
}
function num(v: unknown): number {
  return typeof v === 'number' ? v : 0;
}
function list<T>(v: unknown): T[] | null {
  return Array.isArray(v) ? (v as T[]) : null;
}
function map<T>(v: unknown): Record<string, T> | null {
  return v && typeof v === 'object' && !Array.isArray(v) ? { ...(v as Record<string, T>) } : null;
}

/**
 * PortBindings as dockerd stores them (nat.PortMap of PortBinding structs): each binding with
 * both fields, "" for one left out (`{}` is `{"HostIp": "", "HostPort": ""}`); a null list stays.
 */
function portBindingsOf(v: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, l] of Object.entries(map<unknown>(v) ?? {})) {
    out[k] = Array.isArray(l) ? l.map((b: Json | null) => ({ HostIp: str(b?.HostIp), HostPort: str(b?.HostPort) })) : l;
  }
  return out;
}

/** dockerd's default /dev/shm size, 64 MiB (the size the guest mounts by itself: ../request/policy/shm.ts GUEST_SHM_BYTES). */
const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

/** The full HostConfig dockerd stores: Go zero values, then dockerd's create-time defaults. */
export function normaliseHostConfig(h: Json | null | undefined): DockerHostConfig {
  const hc = h ?? {};
  const rp = (hc.RestartPolicy ?? {}) as Json;
  const lc = (hc.LogConfig ?? {}) as Json;
  const consoleSize = list<number>(hc.ConsoleSize);
  const out: DockerHostConfig = {
    Binds: list<string>(hc.Binds),
    ContainerIDFile: str(hc.ContainerIDFile),
    LogConfig: { Type: str(lc.Type), Config: map<string>(lc.Config) ?? {} },
    NetworkMode: str(hc.NetworkMode) || 'default',
    // null when the body has none, as dockerd stores it (the docker CLI always sends {}).
    PortBindings: hc.PortBindings == null ? null : portBindingsOf(hc.PortBindings),
    RestartPolicy: { Name: str(rp.Name), MaximumRetryCount: num(rp.MaximumRetryCount) },
    AutoRemove: bool(hc.AutoRemove),
    VolumeDriver: str(hc.VolumeDriver),
    VolumesFrom: list<string>(hc.VolumesFrom),
    CapAdd: list<string>(hc.CapAdd),
    CapDrop: list<string>(hc.CapDrop),
    // dockerd's default on a cgroup v2 host, which the guest is: the init gets its own.
    CgroupnsMode: str(hc.CgroupnsMode) || 'private',
    Dns: list<string>(hc.Dns),
    DnsOptions: list<string>(hc.DnsOptions),
    DnsSearch: list<string>(hc.DnsSearch),
    ExtraHosts: list<string>(hc.ExtraHosts),
    GroupAdd: list<string>(hc.GroupAdd),
    IpcMode: str(hc.IpcMode) || 'private',
    Cgroup: str(hc.Cgroup),
    Links: list<string>(hc.Links),
    OomScoreAdj: num(hc.OomScoreAdj),
    PidMode: str(hc.PidMode),
    Privileged: bool(hc.Privileged),
    PublishAllPorts: bool(hc.PublishAllPorts),
    ReadonlyRootfs: bool(hc.ReadonlyRootfs),
    SecurityOpt: list<string>(hc.SecurityOpt),
    UTSMode: str(hc.UTSMode),
    UsernsMode: str(hc.UsernsMode),
    ShmSize: num(hc.ShmSize) || DEFAULT_SHM_SIZE,
    // dockerd's default runtime name: clients compare with it (podvisor's microVMs stand in for runc).
    Runtime: str(hc.Runtime) || 'runc',
    ConsoleSize: [consoleSize?.[0] ?? 0, consoleSize?.[1] ?? 0],
    Isolation: str(hc.Isolation),
    CpuShares: num(hc.CpuShares),
    Memory: num(hc.Memory),
    NanoCpus: num(hc.NanoCpus),
    CgroupParent: str(hc.CgroupParent),
    BlkioWeight: num(hc.BlkioWeight),
    BlkioWeightDevice: list(hc.BlkioWeightDevice),
    BlkioDeviceReadBps: list(hc.BlkioDeviceReadBps),
    BlkioDeviceWriteBps: list(hc.BlkioDeviceWriteBps),
    BlkioDeviceReadIOps: list(hc.BlkioDeviceReadIOps),
    BlkioDeviceWriteIOps: list(hc.BlkioDeviceWriteIOps),
    CpuPeriod: num(hc.CpuPeriod),
    CpuQuota: num(hc.CpuQuota),
    CpuRealtimePeriod: num(hc.CpuRealtimePeriod),
    CpuRealtimeRuntime: num(hc.CpuRealtimeRuntime),
    CpusetCpus: str(hc.CpusetCpus),
    CpusetMems: str(hc.CpusetMems),
    Devices: list(hc.Devices),
    DeviceCgroupRules: list<string>(hc.DeviceCgroupRules),
    DeviceRequests: list(hc.DeviceRequests),
    KernelMemory: num(hc.KernelMemory),
    KernelMemoryTCP: num(hc.KernelMemoryTCP),
    MemoryReservation: num(hc.MemoryReservation),
    MemorySwap: num(hc.MemorySwap),
    // Discarded, as dockerd discards it on cgroup v2 (createWarnings says so): no such knob.
    MemorySwappiness: null,
    OomKillDisable: typeof hc.OomKillDisable === 'boolean' ? hc.OomKillDisable : false,
    // As dockerd: 0 and any negative value at create are "unlimited", stored as no limit.
    PidsLimit: typeof hc.PidsLimit === 'number' && hc.PidsLimit > 0 ? hc.PidsLimit : null,
    Ulimits: list(hc.Ulimits),
    CpuCount: num(hc.CpuCount),
    CpuPercent: num(hc.CpuPercent),
    IOMaximumIOps: num(hc.IOMaximumIOps),
    IOMaximumBandwidth: num(hc.IOMaximumBandwidth),
    MaskedPaths: list<string>(hc.MaskedPaths),
    ReadonlyPaths: list<string>(hc.ReadonlyPaths),
  };
  // dockerd's default (adaptContainerSettings): a memory limit without a swap limit gets twice it.
  if (out.Memory > 0 && out.MemorySwap === 0) out.MemorySwap = out.Memory * 2;
  if (hc.StorageOpt) out.StorageOpt = map<string>(hc.StorageOpt) ?? {};
  if (hc.Tmpfs) out.Tmpfs = map<string>(hc.Tmpfs) ?? {};
  if (hc.Sysctls) out.Sysctls = map<string>(hc.Sysctls) ?? {};
  if (Array.isArray(hc.Mounts)) out.Mounts = hc.Mounts;
  if (typeof hc.Init === 'boolean') out.Init = hc.Init;
  return out;
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
