/**
 * A broad table of Docker create bodies, one or more per flag family of `docker run` and
 * `POST /containers/create` (errors included), with the image, the host's networks and the
 * API version each is served with: the input of ./docker-create-pods.test.ts, which compares
 * what a create of each makes (PodSpec, Docker record, anonymous volumes, or the error) with
 * the results kept in ./fixtures/docker-create-pods.json.
 */
import type { ImageRecord } from '../../../src/storage/types';
import type { NetworkLookup } from '../../../src/net/container-config';
import { NotFoundError } from '../../../src/errors';

/** The image config of a case (Docker's image Config). */
type ImageConfig = NonNullable<ImageRecord['config']['config']>;

/** One create. */
export interface DockerCreateCase {
  name: string;
  body: Record<string, unknown>;
  /** The image's config; absent: PLAIN_IMAGE. */
  image?: ImageConfig;
  /** The host's networks: `none` (no networks on this host), else LOOKUP; absent: LOOKUP. */
  networks?: 'none';
  /** The daemon's default log driver and options. */
  logDefaults?: { driver: string; opts: Record<string, string> };
  /** Served at API 1.42 or later (dockerd 26's endpoint checks). */
  asDockerd26?: boolean;
  /** Served at API 1.44 or later (several endpoints). */
  multipleEndpoints?: boolean;
}

/** An image with a command and an env only. */
export const PLAIN_IMAGE: ImageConfig = { Env: ['PATH=/bin'], Cmd: ['sh'] };

/** An image that sets everything a create merges with. */
export const FULL_IMAGE: ImageConfig = {
  Env: ['PATH=/bin', 'X=img', 'Y=img'],
  Cmd: ['serve', '--port', '80'],
  Entrypoint: ['/entry.sh'],
  Labels: { from: 'image', both: 'image' },
  User: 'nobody',
  WorkingDir: '/srv',
  StopSignal: 'SIGQUIT',
  Healthcheck: { Test: ['CMD-SHELL', 'curl -f localhost'], Interval: 5e9, Retries: 4 },
  Volumes: { '/data': {}, '/cache': {} },
  ExposedPorts: { '80/tcp': {}, '53/udp': {} },
  Shell: ['/bin/bash', '-c'],
} as ImageConfig;

/** The host's networks: `bridge` (default), `front` (user, with subnets), `back` (user, no subnet). */
export const LOOKUP: NetworkLookup = {
  isUserNetwork: (ref) => {
    if (ref === 'bridge') return false;
    if (ref === 'front' || ref === 'back') return true;
    throw new NotFoundError(`network ${ref} not found`);
  },
  hasUserSubnet: (ref, family = 4) => ref === 'front' && family === 4,
  userRanges: (ref) => (ref === 'front' ? { 4: ['10.5.0.0/16'], 6: [] } : { 4: [], 6: [] }),
};

const hc = (name: string, HostConfig: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  name,
  body: { Cmd: ['sleep', '9'], ...extra, HostConfig },
});

/** The table (see the module comment). */
export const CASES: DockerCreateCase[] = [
  // The container and its merge with the image.
  { name: 'plain', body: { Cmd: ['sleep', '9'] } },
  { name: 'image command only', body: {} },
  { name: 'full image, nothing set', body: {}, image: FULL_IMAGE },
  {
    name: 'full image, everything set',
    image: FULL_IMAGE,
    body: {
      Env: ['X=me', 'Z=me'],
      Labels: { both: 'me', mine: 'me' },
      User: '1000:1000',
      WorkingDir: '/work',
      StopSignal: 'SIGUSR1',
      StopTimeout: 3,
      Healthcheck: { Test: ['CMD', 'true'], Timeout: 2e9 },
      Volumes: { '/mine': {}, '/data': {} },
      ExposedPorts: { '8080/tcp': {}, '80/tcp': {} },
      Cmd: ['run'],
      Shell: ['/bin/ash', '-c'],
    },
  },
  { name: 'entrypoint set, no cmd', image: FULL_IMAGE, body: { Entrypoint: ['/bin/top'] } },
  { name: 'entrypoint empty with cmd', image: FULL_IMAGE, body: { Entrypoint: [], Cmd: ['ls'] } },
  { name: 'entrypoint empty string', image: FULL_IMAGE, body: { Entrypoint: [''], Cmd: ['ls'] } },
  { name: 'entrypoint as a string', image: FULL_IMAGE, body: { Entrypoint: 'echo hi' } },
  { name: 'cmd empty list', image: FULL_IMAGE, body: { Cmd: [] } },
  { name: 'cmd only, image entrypoint', image: FULL_IMAGE, body: { Cmd: ['x'] } },
  { name: 'env empty list', body: { Env: [], Cmd: ['x'] }, image: { Cmd: ['sh'] } },
  { name: 'no env at all', body: { Cmd: ['x'] }, image: { Cmd: ['sh'] } },
  { name: 'image env empty', body: { Cmd: ['x'] }, image: { Cmd: ['sh'], Env: [] } },
  { name: 'healthcheck none', image: FULL_IMAGE, body: { Healthcheck: { Test: ['NONE'] } } },
  {
    name: 'healthcheck durations only',
    image: FULL_IMAGE,
    body: { Healthcheck: { Interval: 2e9, StartPeriod: 1e9, StartInterval: 5e8 } },
  },
  { name: 'healthcheck shell from image', body: { Healthcheck: { Test: ['CMD-SHELL', 'true'] } }, image: FULL_IMAGE },
  {
    name: 'healthcheck shell of the body',
    body: { Healthcheck: { Test: ['CMD-SHELL', 'true'] }, Shell: ['/x', '-e'] },
  },
  { name: 'no command', body: {}, image: { Env: ['A=b'] } },
  { name: 'no command, entrypoint empty', body: { Entrypoint: [] }, image: FULL_IMAGE },
  { name: 'hostname and domain', body: { Cmd: ['x'], Hostname: 'web', Domainname: 'example.org' } },
  {
    name: 'tty, stdin, console size',
    body: { Cmd: ['sh'], Tty: true, OpenStdin: true, StdinOnce: true, AttachStdin: true },
  },
  hc('console size', { ConsoleSize: [40, 120] }, { Tty: true }),
  hc('console size without tty', { ConsoleSize: [40, 120] }),
  hc('console size out of range', { ConsoleSize: [0, 120] }, { Tty: true }),
  { name: 'stop signal by number', body: { Cmd: ['x'], StopSignal: '9', StopTimeout: -1 } },
  { name: 'args escaped, on build, mac', body: { Cmd: ['x'], ArgsEscaped: true, OnBuild: ['RUN x'] } },
  // Restart and removal.
  hc('restart always', { RestartPolicy: { Name: 'always' } }),
  hc('restart on-failure', { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 } }),
  hc('restart unless-stopped', { RestartPolicy: { Name: 'unless-stopped' } }),
  hc('auto remove', { AutoRemove: true }),
  hc('bad restart', { RestartPolicy: { Name: 'sometimes' } }),
  // Devices, rlimits, OOM.
  hc('devices', {
    Devices: [
      { PathOnHost: '/dev/fuse', PathInContainer: '', CgroupPermissions: 'rwm' },
      { PathOnHost: '/dev/null', PathInContainer: '/dev/mynull', CgroupPermissions: 'r' },
    ],
  }),
  hc('device cgroup rules', { DeviceCgroupRules: ['c 10:229 rwm', 'b *:* r'] }),
  hc('host device', { Devices: [{ PathOnHost: '/dev/sda', PathInContainer: '', CgroupPermissions: 'rwm' }] }),
  hc('ulimits', {
    Ulimits: [
      { Name: 'nofile', Soft: 1024, Hard: 2048 },
      { Name: 'nproc', Soft: -1, Hard: -1 },
      { Name: 'nofile', Soft: 10, Hard: 20 },
    ],
  }),
  hc('bad ulimit', { Ulimits: [{ Name: 'bogus', Soft: 1, Hard: 1 }] }),
  hc('ulimit soft above hard', { Ulimits: [{ Name: 'core', Soft: 5, Hard: 1 }] }),
  hc('oom score adj', { OomScoreAdj: 500 }),
  hc('oom score adj zero', { OomScoreAdj: 0 }),
  // Mounts.
  hc('binds', {
    Binds: ['/tmp/a:/a', '/tmp/b/:/a/b/:ro', 'named:/n', 'ro-named:/r:ro,nocopy', '/anon', '/tmp/c:/c:rshared,z'],
  }),
  hc('binds with volume driver', { Binds: ['v1:/v1', '/tmp/x:/x'], VolumeDriver: 'local' }),
  hc('mounts', {
    Mounts: [
      { Type: 'bind', Source: '/tmp/m', Target: '/m', ReadOnly: true, BindOptions: { Propagation: 'rslave' } },
      {
        Type: 'volume',
        Source: 'vol',
        Target: '/v',
        VolumeOptions: { NoCopy: true, Labels: { a: 'b' }, DriverConfig: { Name: 'local', Options: { o: 'x' } } },
      },
      { Type: 'volume', Target: '/anon' },
      { Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1048576, Mode: 0o1770 } },
    ],
  }),
  hc('tmpfs', { Tmpfs: { '/run': 'rw,noexec,nosuid,size=65536k', '/run/x': '', '/tmp': 'exec,mode=1777' } }),
  hc('shm size', { ShmSize: 268435456 }),
  hc('shm size default', { ShmSize: 67108864 }),
  hc('shm over a mount at /dev/shm', { ShmSize: 1048576, Tmpfs: { '/dev/shm': 'size=1m' } }),
  hc('duplicate mount point', { Binds: ['/tmp/a:/a', 'v:/a'] }),
  hc('bad bind', { Binds: ['a:b:c:d'] }),
  { name: 'volumes of the body', body: { Cmd: ['x'], Volumes: { '/v': {} } } },
  { name: 'volumes empty', body: { Cmd: ['x'], Volumes: {} } },
  // Resources.
  hc('memory and cpus', { Memory: 536870912, NanoCpus: 1500000000, CpuShares: 512, MemoryReservation: 268435456 }),
  hc('cpu quota', { CpuQuota: 150000, CpuPeriod: 100000, CpusetCpus: '0-1', CpusetMems: '0', PidsLimit: 100 }),
  hc('cpu period alone', { CpuPeriod: 50000 }),
  hc('cpu count', { CpuCount: 2 }),
  hc('pids limit negative', { PidsLimit: -1 }),
  hc('small memory', { Memory: 1000 }),
  hc('disk throttle', {
    BlkioDeviceReadBps: [{ Path: '/dev/sda', Rate: 1048576 }],
    BlkioDeviceWriteBps: [
      { Path: '/dev/sda', Rate: 2097152 },
      { Path: '/dev/sdb', Rate: 1048577 },
    ],
    BlkioDeviceReadIOps: [{ Path: '/dev/sda', Rate: 100 }],
    BlkioDeviceWriteIOps: [{ Path: '/dev/sda', Rate: 200 }],
  }),
  hc('storage size', { StorageOpt: { size: '10G' } }),
  hc('storage image disk', { StorageOpt: { Size: '1G', image: 'disk' } }),
  hc('storage image layers', { StorageOpt: { image: 'layers' } }),
  hc('bad storage option', { StorageOpt: { inodes: '5' } }),
  hc('bad storage image', { StorageOpt: { image: 'tape' } }),
  hc('group add and init', { GroupAdd: ['audio', '1234'], Init: true }),
  hc('cgroup parent', { CgroupParent: '/pv-batch/jobs' }),
  hc('cgroup parent relative', { CgroupParent: 'jobs' }),
  // Logging.
  hc('log json-file with options', {
    LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } },
  }),
  hc('log none', { LogConfig: { Type: 'none', Config: {} } }),
  hc('log syslog', { LogConfig: { Type: 'syslog', Config: {} } }),
  hc('log bad option', { LogConfig: { Type: 'json-file', Config: { bogus: '1' } } }),
  {
    name: 'log default of the daemon',
    body: { Cmd: ['x'] },
    logDefaults: { driver: 'json-file', opts: { 'max-size': '1m' } },
  },
  {
    name: 'log default none, container json-file',
    body: { Cmd: ['x'], HostConfig: { LogConfig: { Type: 'json-file', Config: {} } } },
    logDefaults: { driver: 'none', opts: {} },
  },
  // Security.
  hc('caps', { CapAdd: ['NET_ADMIN', 'cap_sys_time'], CapDrop: ['CHOWN', 'MKNOD'] }),
  hc('cap add all', { CapAdd: ['ALL'], CapDrop: ['SYS_ADMIN'] }),
  hc('cap drop all', { CapDrop: ['ALL'], CapAdd: ['NET_RAW'] }),
  hc('bad cap', { CapAdd: ['BOGUS'] }),
  hc('privileged', { Privileged: true, SecurityOpt: ['seccomp=unconfined'] }),
  hc('readonly rootfs', { ReadonlyRootfs: true }),
  hc('no new privileges', { SecurityOpt: ['no-new-privileges'] }),
  hc('no new privileges false', { SecurityOpt: ['no-new-privileges:false', 'label=disable', 'apparmor=x'] }),
  hc('systempaths unconfined', { SecurityOpt: ['systempaths=unconfined'] }),
  hc('masked paths given', { MaskedPaths: ['/proc/x'], ReadonlyPaths: [] }),
  hc('bad security opt', { SecurityOpt: ['bogus'] }),
  hc('bad security opt value', { SecurityOpt: ['no-new-privileges=maybe'] }),
  hc('seccomp unconfined', { SecurityOpt: ['seccomp=unconfined'] }),
  hc('seccomp profile', {
    SecurityOpt: [
      `seccomp=${JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['chmod'], action: 'SCMP_ACT_ERRNO' }] })}`,
    ],
  }),
  hc('seccomp old spelling', { SecurityOpt: ['seccomp:unconfined'] }),
  hc('seccomp empty', { SecurityOpt: ['seccomp='] }),
  hc('bad seccomp profile', { SecurityOpt: ['seccomp={not json'] }),
  hc('sysctls', { Sysctls: { 'net.core.somaxconn': '1024', 'kernel.domainname': 'mine' } }, { Domainname: 'dom' }),
  // Networks.
  hc('network none', { NetworkMode: 'none', Dns: ['1.1.1.1'] }),
  hc('network default', { NetworkMode: 'default' }),
  hc('network bridge with ports', {
    NetworkMode: 'bridge',
    PortBindings: {
      '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }, { HostPort: '8081' }],
      '53/udp': [{ HostIp: '', HostPort: '' }],
      '9000/tcp': [{ HostPort: '19000-19001' }],
      '7000/tcp': null,
    },
  }),
  {
    name: 'publish all',
    body: { Cmd: ['x'], ExposedPorts: { '81': {} }, HostConfig: { PublishAllPorts: true } },
    image: FULL_IMAGE,
  },
  { name: 'exposed only', body: { Cmd: ['x'], ExposedPorts: { '81/tcp': {}, '82/udp': {} } } },
  hc('ports without exposed', { PortBindings: { '80/tcp': [{ HostPort: '8080' }] } }),
  hc('bad port key', { PortBindings: { 'abc/tcp': [{ HostPort: '8080' }] } }),
  hc('bad host port', { PortBindings: { '80/tcp': [{ HostPort: 'x' }] } }),
  { ...hc('ports without networks', { PortBindings: { '80/tcp': [{ HostPort: '8080' }] } }), networks: 'none' },
  { ...hc('no networks on the host', {}), networks: 'none' },
  hc('network host', { NetworkMode: 'host' }),
  hc('network host with bad storage', { NetworkMode: 'host', StorageOpt: { inodes: '1' } }),
  hc('network container', { NetworkMode: 'container:other', PidMode: 'container:other' }),
  hc('network disabled', { NetworkMode: 'bridge' }, { NetworkDisabled: true }),
  hc('network disabled, container mode', { NetworkMode: 'container:other' }, { NetworkDisabled: true }),
  hc('network disabled with ports', { PortBindings: { 'abc/tcp': [{ HostPort: '1' }] } }, { NetworkDisabled: true }),
  hc('links on the bridge', { Links: ['db:database', 'cache'] }),
  hc('bad link', { Links: ['a:b:c'] }),
  hc('dns and hosts', {
    Dns: ['8.8.8.8', '2001:4860:4860::8888'],
    DnsSearch: ['example.org'],
    DnsOptions: ['ndots:2'],
    ExtraHosts: ['db:10.0.0.5', 'gw:host-gateway'],
  }),
  hc('bad dns', { Dns: ['nope'] }),
  hc('bad extra host', { ExtraHosts: ['db'] }),
  hc('bad dns and bad port', { Dns: ['nope'], PortBindings: { 'abc/tcp': [{}] } }),
  {
    name: 'user network with endpoint settings',
    body: {
      Cmd: ['x'],
      MacAddress: '02:42:ac:11:00:09',
      HostConfig: { NetworkMode: 'front', Links: ['db:database'], PortBindings: { '80/tcp': [{ HostPort: '80' }] } },
      NetworkingConfig: {
        EndpointsConfig: {
          front: {
            Aliases: ['svc', 'web'],
            IPAMConfig: { IPv4Address: '10.5.0.9', LinkLocalIPs: ['169.254.1.1'] },
            Links: ['cache:c'],
            DriverOpts: { 'com.docker.network.endpoint.sysctls': 'net.ipv4.conf.IFNAME.forwarding=1' },
          },
        },
      },
    },
  },
  {
    name: 'endpoint named other than the mode',
    body: {
      Cmd: ['x'],
      HostConfig: { NetworkMode: 'front' },
      NetworkingConfig: { EndpointsConfig: { other: { Aliases: ['a'] } } },
    },
  },
  {
    name: 'endpoint null',
    body: { Cmd: ['x'], HostConfig: { NetworkMode: 'front' }, NetworkingConfig: { EndpointsConfig: { front: null } } },
  },
  {
    name: 'endpoint mac over the container mac',
    body: {
      Cmd: ['x'],
      MacAddress: '02:42:ac:11:00:09',
      NetworkingConfig: { EndpointsConfig: { bridge: { MacAddress: '02:42:ac:11:00:0a' } } },
    },
  },
  {
    name: 'alias on the bridge',
    body: { Cmd: ['x'], NetworkingConfig: { EndpointsConfig: { bridge: { Aliases: ['a'] } } } },
  },
  {
    name: 'static address without subnet',
    body: {
      Cmd: ['x'],
      HostConfig: { NetworkMode: 'back' },
      NetworkingConfig: { EndpointsConfig: { back: { IPAMConfig: { IPv4Address: '10.9.0.2' } } } },
    },
  },
  {
    name: 'dockerd 26 endpoint problems',
    asDockerd26: true,
    body: {
      Cmd: ['x'],
      NetworkingConfig: {
        EndpointsConfig: { bridge: { Aliases: ['a'], IPAMConfig: { IPv4Address: '300.1.1.1', LinkLocalIPs: ['x'] } } },
      },
    },
  },
  {
    name: 'dockerd 26 bad mac',
    asDockerd26: true,
    body: { Cmd: ['x'], NetworkingConfig: { EndpointsConfig: { bridge: { MacAddress: 'nope' } } } },
  },
  {
    name: 'dockerd 26 address out of range',
    asDockerd26: true,
    body: {
      Cmd: ['x'],
      HostConfig: { NetworkMode: 'front' },
      NetworkingConfig: { EndpointsConfig: { front: { IPAMConfig: { IPv4Address: '10.6.0.2' } } } },
    },
  },
  {
    name: 'several endpoints refused',
    body: { Cmd: ['x'], NetworkingConfig: { EndpointsConfig: { front: {}, back: {} } } },
  },
  {
    name: 'several endpoints',
    multipleEndpoints: true,
    body: {
      Cmd: ['x'],
      HostConfig: { NetworkMode: 'front', Links: ['db'] },
      NetworkingConfig: {
        EndpointsConfig: {
          back: { Aliases: ['b'], Links: ['x:y'], DriverOpts: { k: 'v' } },
          front: { Aliases: ['f'], IPAMConfig: { IPv4Address: '10.5.0.3' } },
        },
      },
    },
  },
  {
    name: 'unknown network',
    body: { Cmd: ['x'], HostConfig: { NetworkMode: 'nowhere' } },
  },
  {
    name: 'link-local IPv6',
    body: {
      Cmd: ['x'],
      NetworkingConfig: { EndpointsConfig: { bridge: { IPAMConfig: { LinkLocalIPs: ['fe80::5'] } } } },
    },
  },
  // HostConfig fields at the body's top level (dockerd's embedded HostConfig): the whole
  // HostConfig without one; beside one, only memory, swap, CPU shares, cpuset and volume driver.
  {
    name: 'embedded host config alone',
    body: { Cmd: ['x'], Memory: 67108864, CpuShares: 512, ReadonlyRootfs: true, RestartPolicy: { Name: 'always' } },
  },
  {
    name: 'embedded host config beside a HostConfig',
    body: {
      Cmd: ['x'],
      HostConfig: { CpuShares: 256 },
      Memory: 67108864,
      CpuShares: 512,
      ReadonlyRootfs: true,
      RestartPolicy: { Name: 'always' },
    },
  },
  // Several faults at once: the one dockerd names first.
  {
    name: 'no command and a bad ulimit',
    body: { HostConfig: { Ulimits: [{ Name: 'x', Soft: 1, Hard: 1 }] } },
    image: {},
  },
  hc('bad log and a bad security opt', { LogConfig: { Type: 'bogus', Config: {} }, SecurityOpt: ['bogus'] }),
  hc('bad security opt and a bad ulimit', { SecurityOpt: ['bogus'], Ulimits: [{ Name: 'x', Soft: 1, Hard: 1 }] }),
  hc('bad ulimit and a bad dns', { Ulimits: [{ Name: 'x', Soft: 1, Hard: 1 }], Dns: ['nope'] }),
  hc('bad seccomp and a bad storage option', { SecurityOpt: ['seccomp={'], StorageOpt: { x: '1' } }),
  hc('bad network and a bad seccomp', { NetworkMode: 'host', SecurityOpt: ['seccomp={'] }),
  hc('bad port and a bad storage option', { PortBindings: { 'abc/tcp': [{}] }, StorageOpt: { x: '1' } }),
];
