/**
 * Docker Engine API v1.41 container structures, as dockerd 20.10 writes them in
 * `GET /containers/{id}/json` (field order kept, so our JSON reads like dockerd's).
 */
import type { EndpointDriverOpts } from './endpoint-settings';

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
  Runtime: string;
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
  /** The create's endpoint DriverOpts, by network (inspect shows them; ./endpoint-settings.ts). */
  endpointDriverOpts?: EndpointDriverOpts;
  /**
   * EndpointConfig.MacAddress of `network connect` while the container did not run, by network
   * name: dockerd 20.10 keeps and shows it until the container starts, and then does not use it.
   */
  endpointMacs?: Record<string, string>;
}

/** Read the Docker data of a pod record (created by the Docker API). */
export function dockerFrontend(frontend: unknown): DockerFrontend {
  return frontend as DockerFrontend;
}
