/**
 * Docker's request bodies podvisor serves, written once as TypeBox schemas (JSON Schema with
 * static types): container create, container update, exec create, exec start and auth. The
 * TypeScript types are derived with `Static<>`. The API decodes bodies against them with
 * Go's rules (src/util/go-decode.ts); translation reads the decoded types, and
 * the repair of stored records (repair.ts) checks old records against the same schemas.
 * `goStruct`/`goType` are the names dockerd's decoder uses in its messages.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

const O = Type.Optional;
const Str = () => Type.String();
const Bool = () => Type.Boolean();
const Int = (goType = 'int64') => Type.Integer({ goType });
const StrList = () => Type.Array(Type.String());
/** Docker's StrSlice: a list of strings, or one string. */
const StrSlice = () => Type.Array(Type.String(), { goType: 'strslice' });
const StrMap = () => Type.Record(Type.String(), Type.String());
/** A struct podvisor keeps as given (checked to be an object, not looked into). */
const Loose = (goType: string) => Type.Record(Type.String(), Type.Unknown(), { goType });
/** A list podvisor keeps as given (checked to be an array). */
const LooseList = (goType: string) => Type.Array(Type.Unknown(), { goType });

/** container.RestartPolicy */
export const RestartPolicySchema = Type.Object(
  { Name: O(Str()), MaximumRetryCount: O(Int('int')) },
  { goStruct: 'RestartPolicy', goType: 'container.RestartPolicy' },
);

/** container.Resources (shared by HostConfig and UpdateConfig). */
const resources = {
  CpuShares: O(Int()),
  Memory: O(Int()),
  NanoCpus: O(Int()),
  CgroupParent: O(Str()),
  BlkioWeight: O(Int('uint16')),
  BlkioWeightDevice: O(LooseList('[]*blkiodev.WeightDevice')),
  BlkioDeviceReadBps: O(LooseList('[]*blkiodev.ThrottleDevice')),
  BlkioDeviceWriteBps: O(LooseList('[]*blkiodev.ThrottleDevice')),
  BlkioDeviceReadIOps: O(LooseList('[]*blkiodev.ThrottleDevice')),
  BlkioDeviceWriteIOps: O(LooseList('[]*blkiodev.ThrottleDevice')),
  CpuPeriod: O(Int()),
  CpuQuota: O(Int()),
  CpuRealtimePeriod: O(Int()),
  CpuRealtimeRuntime: O(Int()),
  CpusetCpus: O(Str()),
  CpusetMems: O(Str()),
  Devices: O(LooseList('[]container.DeviceMapping')),
  DeviceCgroupRules: O(StrList()),
  DeviceRequests: O(LooseList('[]container.DeviceRequest')),
  KernelMemory: O(Int()),
  KernelMemoryTCP: O(Int()),
  MemoryReservation: O(Int()),
  MemorySwap: O(Int()),
  MemorySwappiness: O(Int()),
  OomKillDisable: O(Bool()),
  PidsLimit: O(Int()),
  Ulimits: O(LooseList('[]*units.Ulimit')),
  CpuCount: O(Int()),
  CpuPercent: O(Int()),
  IOMaximumIOps: O(Int('uint64')),
  IOMaximumBandwidth: O(Int('uint64')),
};

/** container.HostConfig */
export const HostConfigSchema = Type.Object(
  {
    Binds: O(StrList()),
    ContainerIDFile: O(Str()),
    LogConfig: O(
      Type.Object({ Type: O(Str()), Config: O(StrMap()) }, { goStruct: 'LogConfig', goType: 'container.LogConfig' }),
    ),
    NetworkMode: O(Str()),
    PortBindings: O(Loose('nat.PortMap')),
    RestartPolicy: O(RestartPolicySchema),
    AutoRemove: O(Bool()),
    VolumeDriver: O(Str()),
    VolumesFrom: O(StrList()),
    CapAdd: O(StrSlice()),
    CapDrop: O(StrSlice()),
    CgroupnsMode: O(Str()),
    Dns: O(StrList()),
    DnsOptions: O(StrList()),
    DnsSearch: O(StrList()),
    ExtraHosts: O(StrList()),
    GroupAdd: O(StrList()),
    IpcMode: O(Str()),
    Cgroup: O(Str()),
    Links: O(StrList()),
    OomScoreAdj: O(Int('int')),
    PidMode: O(Str()),
    Privileged: O(Bool()),
    PublishAllPorts: O(Bool()),
    ReadonlyRootfs: O(Bool()),
    SecurityOpt: O(StrList()),
    StorageOpt: O(StrMap()),
    Tmpfs: O(StrMap()),
    UTSMode: O(Str()),
    UsernsMode: O(Str()),
    ShmSize: O(Int()),
    Sysctls: O(StrMap()),
    Runtime: O(Str()),
    ConsoleSize: O(Type.Array(Type.Integer({ goType: 'uint' }), { goType: '[2]uint' })),
    Isolation: O(Str()),
    ...resources,
    Mounts: O(LooseList('[]mount.Mount')),
    MaskedPaths: O(StrList()),
    ReadonlyPaths: O(StrList()),
    Init: O(Bool()),
    // API 1.43; dropped below it and refused from it (src/api/v1.41/versions/create.ts).
    Annotations: O(StrMap()),
  },
  { goStruct: 'HostConfig', goType: 'container.HostConfig' },
);

/** runconfig.ContainerConfigWrapper: container.Config with HostConfig and NetworkingConfig. */
export const CreateBodySchema = Type.Object(
  {
    // dockerd's wrapper embeds a deprecated HostConfig too: its fields at the body's top level
    // are decoded (and checked) as any, and bring that HostConfig into being (create-body.ts).
    ...HostConfigSchema.properties,
    Hostname: O(Str()),
    Domainname: O(Str()),
    User: O(Str()),
    AttachStdin: O(Bool()),
    AttachStdout: O(Bool()),
    AttachStderr: O(Bool()),
    ExposedPorts: O(Loose('nat.PortSet')),
    Tty: O(Bool()),
    OpenStdin: O(Bool()),
    StdinOnce: O(Bool()),
    Env: O(StrList()),
    Cmd: O(StrSlice()),
    Healthcheck: O(Loose('container.HealthConfig')),
    ArgsEscaped: O(Bool()),
    Image: O(Str()),
    Volumes: O(Loose('map[string]struct {}')),
    WorkingDir: O(Str()),
    Entrypoint: O(StrSlice()),
    NetworkDisabled: O(Bool()),
    MacAddress: O(Str()),
    OnBuild: O(StrList()),
    Labels: O(StrMap()),
    StopSignal: O(Str()),
    StopTimeout: O(Int('int')),
    Shell: O(StrSlice()),
    HostConfig: O(HostConfigSchema),
    NetworkingConfig: O(Loose('network.NetworkingConfig')),
  },
  { goStruct: 'ContainerConfigWrapper', goType: 'runconfig.ContainerConfigWrapper' },
);

/** container.UpdateConfig: Resources and RestartPolicy. */
export const UpdateBodySchema = Type.Object(
  { ...resources, RestartPolicy: O(RestartPolicySchema) },
  { goStruct: 'UpdateConfig', goType: 'container.UpdateConfig' },
);

/** types.ExecConfig */
export const ExecCreateBodySchema = Type.Object(
  {
    User: O(Str()),
    Privileged: O(Bool()),
    Tty: O(Bool()),
    ConsoleSize: O(Type.Array(Type.Integer({ goType: 'uint' }), { goType: '[2]uint' })),
    AttachStdin: O(Bool()),
    AttachStderr: O(Bool()),
    AttachStdout: O(Bool()),
    Detach: O(Bool()),
    DetachKeys: O(Str()),
    Env: O(StrList()),
    WorkingDir: O(Str()),
    Cmd: O(StrList()),
  },
  { goStruct: 'ExecConfig', goType: 'types.ExecConfig' },
);

/** types.ExecStartCheck */
export const ExecStartBodySchema = Type.Object(
  {
    Detach: O(Bool()),
    Tty: O(Bool()),
    ConsoleSize: O(Type.Array(Type.Integer({ goType: 'uint' }), { goType: '[2]uint' })),
  },
  { goStruct: 'ExecStartCheck', goType: 'types.ExecStartCheck' },
);

/** types.AuthConfig (POST /auth); the JSON names are lower-case. */
export const AuthBodySchema = Type.Object(
  {
    username: O(Str()),
    password: O(Str()),
    auth: O(Str()),
    email: O(Str()),
    serveraddress: O(Str()),
    identitytoken: O(Str()),
    registrytoken: O(Str()),
  },
  { goStruct: 'AuthConfig', goType: 'types.AuthConfig' },
);

/** The decoded create body. */
export type CreateBody = Static<typeof CreateBodySchema>;

/** Every body schema by name (the property tests walk these). */
export const BODY_SCHEMAS: Record<string, TSchema> = {
  create: CreateBodySchema,
  update: UpdateBodySchema,
  execCreate: ExecCreateBodySchema,
  execStart: ExecStartBodySchema,
  auth: AuthBodySchema,
};
