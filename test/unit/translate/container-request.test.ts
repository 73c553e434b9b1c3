/**
 * The neutral creation request (src/translate/request/container-request.ts), translated into a pod
 * directly (src/translate/request/request-pod.ts): each front's request gives the pod that
 * `docker create` of the same container gives (the bodies below, through the Docker front's
 * parse and translateCreate; the neutral pod keeps no Docker record, its Docker view is
 * rendered from the PodSpec: src/api/v1.41/docker/pod-view.ts), apart from what only the request
 * has (the CNI plan, the CRI log file, binds whose missing source is made, no seccomp filter,
 * a sandbox without the runtime's sysctls). Its checks (src/translate/request/request-check.ts) refuse
 * what dockerd refuses. CRI mounts travel structured, so a path holding ':' arrives as given.
 */
import { containerRequestOf, sandboxRequestOf, type CriContainerRequest } from '../../../src/api/cri/create-request';
import { parseCreateBody } from '../../../src/api/v1.41/docker/create-body';
import { translateCreate } from '../../../src/api/v1.41/docker/create';
import { networkRequestOf, type ContainerRequest } from '../../../src/translate/request/container-request';
import { checkContainerRequest } from '../../../src/translate/request/request-check';
import { translateContainerRequest } from '../../../src/translate/request/request-pod';
import { mountPoints } from '../../../src/api/v1.41/docker/mounts';
import type { ImageRecord } from '../../../src/storage/types';
import { CreateBodySchema, type CreateBody } from '../../../src/api/v1.41/docker/docker-schema';
import { decodeBody } from '../../../src/util/go-decode';
import { portRequestsOf } from '../../../src/api/native/podspec/podspec-ports';
import { portRequestsOfSpecs } from '../../../src/translate/network/port-specs';
import { DEFAULT_CAPABILITIES } from '../../../src/util/capabilities';
import type { Translated } from '../../../src/translate/translation';
import { neutralView as viewOf } from '../../helpers/neutral-view';

const CPUS = 4;
const IMAGE: ImageRecord = {
  id: `sha256:${'a'.repeat(64)}`,
  repoTags: ['busybox:latest'],
  repoDigests: [],
  config: { architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [] } },
  size: 1,
  storedAt: 0,
};
/** The host's networks: the default bridge and a user network, `front`. */
const networks = { isUserNetwork: (ref: string) => ref === 'front', hasUserSubnet: () => false };
const translateOpts = { defaults: { memoryMiB: 256, cpus: 1 }, hostCpus: CPUS, networks };
const ID = 'c'.repeat(64);
/** The pod and Docker record `docker create` of this body gives. */
const docker = (b: Record<string, unknown>): Translated =>
  translateCreate(parseCreateBody(decodeBody<CreateBody>(CreateBodySchema, b), CPUS), IMAGE, ID, translateOpts);
/** The pod and Docker record of a neutral request, checked first. */
const neutral = (r: ContainerRequest): Translated => {
  checkContainerRequest(r, CPUS);
  return translateContainerRequest(r, IMAGE, ID, translateOpts);
};

const sandbox = {
  name: 'k8s_POD_web_default_uid-1_0',
  image: 'pause',
  hostname: 'web-host',
  pod: { namespace: 'default', name: 'web', uid: 'uid-1' },
  portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' as const }],
  labels: { app: 'web' },
};

const container = (extra: Partial<CriContainerRequest> = {}): CriContainerRequest => ({
  sandboxId: 'sb',
  name: 'k8s_app_web_default_uid-1_0',
  image: 'busybox',
  command: ['sh', '-c'],
  args: ['echo hi'],
  workingDir: '/tmp',
  env: ['A=b'],
  mounts: [{ containerPath: '/data', hostPath: '/srv/data', readonly: true }],
  labels: { role: 'main' },
  logPath: '/var/log/pods/web/app/0.log',
  tty: false,
  stdin: true,
  stdinOnce: true,
  podPid: true,
  supplementalGroups: [1234],
  runAsUser: 1000,
  runAsGroup: 100,
  runAsUsername: '',
  ...extra,
});

/** The pod of a Docker translation, without the Docker record a neutral pod has not. */
const podOf = (t: Translated): Translated => changed(t, () => undefined);

/** The pod of `t` changed by `f` (a deep copy), without the Docker record a neutral pod has not. */
const changed = (t: Translated, f: (t: Translated) => void): Translated => {
  const copy = structuredClone(t);
  f(copy);
  return { spec: copy.spec, ...(copy.anonymousVolumes ? { anonymousVolumes: copy.anonymousVolumes } : {}) };
};

describe('a CRI front request makes the pod the Docker body it replaced made', () => {
  test('a sandbox: infra container, stdin open, no Docker network, the kubelet sysctls, its seccomp option', async () => {
    const req = await sandboxRequestOf({ ...sandbox, sysctls: { 'kernel.shm_rmid_forced': '1' } });
    const t = neutral(req);
    expect(t.spec.cni).toEqual({ pod: sandbox.pod, portMappings: sandbox.portMappings });
    // The kubelet's sysctls only, none of the runtime's own.
    expect(t.spec.containers[0].security?.sysctls).toEqual({ 'kernel.shm_rmid_forced': '1' });
    expect(t).toEqual(
      changed(
        docker({
          Image: 'pause',
          OpenStdin: true,
          Hostname: 'web-host',
          Labels: { app: 'web', 'io.podvisor.api': 'cri' },
          HostConfig: {
            NetworkMode: 'none',
            Sysctls: { 'kernel.shm_rmid_forced': '1' },
            SecurityOpt: ['seccomp=unconfined'],
          },
        }),
        (d) => {
          d.spec.cni = t.spec.cni;
          d.spec.containers[0].security!.sysctls = { 'kernel.shm_rmid_forced': '1' };
        },
      ),
    );
    const plain = neutral(
      await sandboxRequestOf({ ...sandbox, seccomp: { profile: { profile_type: 'RuntimeDefault' } } }),
    );
    expect(viewOf(plain).hostConfig.SecurityOpt).toBeNull();
    expect(viewOf(plain).hostConfig.Sysctls).toBeUndefined();
    expect(plain.spec.containers[0].seccomp).toEqual({ profile: 'default' });
  });

  test("a container: the sandbox's VM and PID namespace, user, groups, binds, resources, security", async () => {
    const req = await containerRequestOf(
      container({
        memoryBytes: 64 * 1024 * 1024,
        cpuQuota: 50000,
        cpuPeriod: 100000,
        security: {
          privileged: false,
          addCapabilities: ['NET_ADMIN'],
          dropCapabilities: ['CHOWN'],
          readonlyRootfs: true,
          noNewPrivs: true,
          maskedPaths: ['/proc/kcore'],
          readonlyPaths: [],
        },
      }),
    );
    const t = neutral(req);
    expect(t).toEqual(
      changed(
        docker({
          Image: 'busybox',
          Entrypoint: ['sh', '-c'],
          Cmd: ['echo hi'],
          WorkingDir: '/tmp',
          Env: ['A=b'],
          Tty: false,
          OpenStdin: true,
          StdinOnce: true,
          AttachStdin: true,
          User: '1000:100',
          Labels: { role: 'main', 'io.podvisor.api': 'cri' },
          HostConfig: {
            NetworkMode: 'container:sb',
            PidMode: 'container:sb',
            GroupAdd: ['1234'],
            Mounts: [
              {
                Type: 'bind',
                Source: '/srv/data',
                Target: '/data',
                ReadOnly: true,
                BindOptions: { Propagation: 'rprivate' },
              },
            ],
            Memory: 64 * 1024 * 1024,
            CpuQuota: 50000,
            CpuPeriod: 100000,
            CapDrop: ['ALL'],
            CapAdd: [...DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_CHOWN'), 'CAP_NET_ADMIN'],
            ReadonlyRootfs: true,
            MaskedPaths: ['/proc/kcore'],
            SecurityOpt: ['no-new-privileges', 'seccomp=unconfined'],
          },
        }),
        (d) => {
          d.spec.log = { driver: 'json-file', opts: { 'cri-log-path': '/var/log/pods/web/app/0.log' } };
          for (const m of d.spec.containers[0].mounts ?? []) if (m.type === 'bind') m.createSource = true;
        },
      ),
    );
  });

  test('a privileged container with no command, args or mounts of its own', async () => {
    const req = await containerRequestOf(
      container({
        command: [],
        args: [],
        workingDir: '',
        mounts: [],
        podPid: false,
        supplementalGroups: [],
        runAsGroup: undefined,
        logPath: '',
        security: {
          privileged: true,
          addCapabilities: [],
          dropCapabilities: ['ALL'],
          readonlyRootfs: false,
          noNewPrivs: false,
          maskedPaths: [],
          readonlyPaths: [],
        },
        seccomp: { profile: { profile_type: 'RuntimeDefault' }, privileged: true },
      }),
    );
    expect(neutral(req)).toEqual(
      podOf(
        docker({
          Image: 'busybox',
          Env: ['A=b'],
          Tty: false,
          OpenStdin: true,
          StdinOnce: true,
          AttachStdin: true,
          User: '1000',
          Labels: { role: 'main', 'io.podvisor.api': 'cri' },
          HostConfig: {
            NetworkMode: 'container:sb',
            Privileged: true,
            SecurityOpt: ['seccomp=unconfined'],
          },
        }),
      ),
    );
    // The image's command, as no entrypoint or args were given.
    expect(neutral(req).spec.containers[0].args).toEqual(['sh']);
  });
});

describe('CRI mounts travel structured', () => {
  const mounts = [
    { hostPath: '/tmp/x/a:b', containerPath: '/m', readonly: false, propagation: 'PROPAGATION_HOST_TO_CONTAINER' },
    { hostPath: '/srv/c', containerPath: '/n:o/p', readonly: true, propagation: 'PROPAGATION_BIDIRECTIONAL' },
    { hostPath: '/srv/d', containerPath: '/q/', readonly: false },
  ];

  test("paths holding ':' reach the pod's binds as given, made at start when missing, as containerd does", async () => {
    const t = neutral(await containerRequestOf(container({ mounts })));
    expect(t.spec.containers[0].mounts).toEqual([
      { type: 'bind', source: '/tmp/x/a:b', target: '/m', readOnly: false, createSource: true },
      { type: 'bind', source: '/srv/d', target: '/q', readOnly: false, createSource: true },
      { type: 'bind', source: '/srv/c', target: '/n:o/p', readOnly: true, createSource: true },
    ]);
    // inspect shows them from the PodSpec, paths as given (propagation is the VM's own: rprivate).
    const shown = mountPoints(viewOf(t).hostConfig, t.spec.containers[0].mounts ?? []);
    expect(shown.map((m) => [m.Source, m.Destination, m.RW])).toEqual([
      ['/tmp/x/a:b', '/m', true],
      ['/srv/c', '/n:o/p', false],
      ['/srv/d', '/q', true],
    ]);
    expect(viewOf(t).hostConfig.Binds).toBeNull();
  });

  test('a relative host or container path is refused', async () => {
    await expect(
      containerRequestOf(container({ mounts: [{ hostPath: '/h', containerPath: 'rel', readonly: false }] })),
    ).rejects.toThrow('mount container path "rel" is not absolute');
    const rel = await containerRequestOf(
      container({ mounts: [{ hostPath: 'data', containerPath: '/d', readonly: false }] }),
    );
    expect(() => neutral(rel)).toThrow('mount host path "data" is not absolute');
    const twice = await containerRequestOf(
      container({
        mounts: [
          { hostPath: '/a', containerPath: '/d', readonly: false },
          { hostPath: '/b', containerPath: '/d/', readonly: false },
        ],
      }),
    );
    expect(() => neutral(twice)).toThrow('Duplicate mount point: /d');
  });
});

describe('the native and builder requests make the pods the Docker bodies they replaced made', () => {
  test('the native spec: its command, env, network by name and -p ports', () => {
    const req: ContainerRequest = {
      image: 'nginx',
      args: ['nginx', '-g', 'daemon off;'],
      env: ['X=1'],
      workingDir: '/srv',
      tty: true,
      openStdin: true,
      labels: { a: 'b', 'io.podvisor.pod': 'web', 'io.podvisor.api': 'native' },
      ports: portRequestsOfSpecs(['8080:80', '127.0.0.1:53:53/udp']),
      network: networkRequestOf('front'),
      security: { noSeccompFilter: true },
    };
    const t = neutral(req);
    expect(t.spec.network?.networks.map((n) => n.ref)).toEqual(['front']);
    expect(t.spec.network?.ports.map((p) => [p.hostIp, p.hostPortMin, p.containerPort, p.proto])).toEqual([
      ['0.0.0.0', 8080, 80, 'tcp'],
      ['127.0.0.1', 53, 53, 'udp'],
    ]);
    const body = {
      Image: 'nginx',
      Cmd: ['nginx', '-g', 'daemon off;'],
      Env: ['X=1'],
      WorkingDir: '/srv',
      Tty: true,
      OpenStdin: true,
      Labels: { a: 'b', 'io.podvisor.pod': 'web', 'io.podvisor.api': 'native' },
      ExposedPorts: { '80/tcp': {}, '53/udp': {} },
      HostConfig: {
        NetworkMode: 'front',
        PortBindings: {
          '80/tcp': [{ HostIp: '', HostPort: '8080' }],
          '53/udp': [{ HostIp: '127.0.0.1', HostPort: '53' }],
        },
      },
    };
    expect(t).toEqual(
      changed(docker(body), (x) => {
        delete x.spec.containers[0].seccomp;
      }),
    );
  });

  test("a pod file's main container: its whole command, user, hostname, stop timeout and file ports", () => {
    const req: ContainerRequest = {
      image: 'busybox',
      entrypoint: ['sh'],
      args: ['-c', 'sleep 9'],
      env: [],
      workingDir: '',
      user: '',
      hostname: 'kpod',
      tty: false,
      openStdin: false,
      stopTimeout: 30,
      labels: { 'io.podvisor.pod': 'kpod' },
      ports: portRequestsOf([{ containerPort: 80, hostPort: 8080, protocol: 'tcp' }]),
      security: { noSeccompFilter: true },
    };
    expect(neutral(req)).toEqual(
      changed(
        docker({
          Image: 'busybox',
          Entrypoint: ['sh'],
          Cmd: ['-c', 'sleep 9'],
          Env: [],
          WorkingDir: '',
          User: '',
          Hostname: 'kpod',
          Tty: false,
          OpenStdin: false,
          StopTimeout: 30,
          Labels: { 'io.podvisor.pod': 'kpod' },
          ExposedPorts: { '80/tcp': {} },
          HostConfig: { PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }] } },
        }),
        (d) => {
          delete d.spec.containers[0].seccomp;
        },
      ),
    );
  });

  test("a RUN step: no entrypoint, the build's network, extra hosts, cpuset, memory and shm size", () => {
    const req: ContainerRequest = {
      image: 'sha256:abc',
      entrypoint: [],
      args: ['/bin/sh', '-c', 'make'],
      env: ['PATH=/bin'],
      user: '',
      workingDir: '',
      labels: {},
      network: networkRequestOf('host'),
      extraHosts: ['db:10.0.0.2'],
      resources: { cpuset: '0', memoryBytes: 64 * 1024 * 1024, shmBytes: 1 << 20 },
      log: { kind: 'json-file' },
    };
    // The host's network is refused, whichever front asks.
    expect(() => neutral(req)).toThrow('--network host is not supported');
    expect(() => docker({ Image: 'busybox', HostConfig: { NetworkMode: 'host' } })).toThrow(
      '--network host is not supported',
    );
    const none = { ...req, network: networkRequestOf('none') };
    expect(neutral(none)).toEqual(
      podOf(
        docker({
          HostConfig: {
            NetworkMode: 'none',
            ExtraHosts: ['db:10.0.0.2'],
            CpusetCpus: '0',
            Memory: 64 * 1024 * 1024,
            ShmSize: 1 << 20,
          },
          Image: 'sha256:abc',
          Cmd: ['/bin/sh', '-c', 'make'],
          Entrypoint: [],
          Env: ['PATH=/bin'],
          User: '',
          WorkingDir: '',
          Labels: {},
        }),
      ),
    );
  });

  test('networks by their names: the default, none, host, a container to join, a user network', () => {
    expect(networkRequestOf('default')).toEqual({ mode: 'default' });
    expect(networkRequestOf('none')).toEqual({ mode: 'none' });
    expect(networkRequestOf('host')).toEqual({ mode: 'host' });
    expect(networkRequestOf('container:web')).toEqual({ mode: 'join', pod: 'web' });
    expect(networkRequestOf('front')).toEqual({ mode: 'named', name: 'front' });
  });
});

describe("a neutral request has words for every setting of a Docker create's pod", () => {
  test('restart, removal, init, terminal, stop signal, health, volumes, tmpfs, rlimits, devices, disk', () => {
    const req: ContainerRequest = {
      image: 'busybox',
      args: ['sleep', '9'],
      domainname: 'example.test',
      tty: true,
      consoleSize: [40, 120],
      stopSignal: 'SIGUSR1',
      restartPolicy: { name: 'on-failure', maximumRetryCount: 3 },
      init: true,
      health: { probe: { kind: 'shell', args: ['true'] }, intervalNs: 2e9, retries: 5 },
      shell: ['/bin/ash', '-c'],
      volumes: ['/cache'],
      exposedPorts: ['81/tcp'],
      mounts: [
        { kind: 'volume', name: 'data', target: '/data', readOnly: true, noCopy: true },
        { kind: 'tmpfs', target: '/run', options: 'size=1m', exec: true },
      ],
      diskOptions: { size: '1G' },
      resources: {
        nanoCpus: 2e9,
        cpuShares: 512,
        pidsLimit: 64,
        shmBytes: 1024 * 1024,
        diskThrottle: { readBps: 1048576 },
      },
      security: {
        rlimits: [{ resource: 7, soft: 10, hard: 20 }],
        oomScoreAdj: 100,
        devices: [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, mode: 0o666, access: 'rwm' }],
      },
      log: { kind: 'driver', driver: 'json-file', options: { 'max-size': '1m' } },
      dns: { servers: ['1.1.1.1'] },
    };
    expect(neutral(req)).toEqual(
      podOf(
        docker({
          Image: 'busybox',
          Cmd: ['sleep', '9'],
          Domainname: 'example.test',
          Tty: true,
          StopSignal: 'SIGUSR1',
          Healthcheck: { Test: ['CMD-SHELL', 'true'], Interval: 2e9, Retries: 5 },
          Shell: ['/bin/ash', '-c'],
          Volumes: { '/cache': {} },
          ExposedPorts: { '81/tcp': {} },
          HostConfig: {
            ConsoleSize: [40, 120],
            RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 },
            Init: true,
            Binds: ['data:/data:ro,nocopy'],
            Tmpfs: { '/run': 'size=1m,exec' },
            StorageOpt: { size: '1G' },
            NanoCpus: 2e9,
            CpuShares: 512,
            PidsLimit: 64,
            ShmSize: 1024 * 1024,
            BlkioDeviceReadBps: [{ Path: '/dev/vda', Rate: 1048576 }],
            Ulimits: [{ Name: 'nofile', Soft: 10, Hard: 20 }],
            OomScoreAdj: 100,
            Devices: [{ PathOnHost: '/dev/fuse', PathInContainer: '', CgroupPermissions: 'rwm' }],
            LogConfig: { Type: 'json-file', Config: { 'max-size': '1m' } },
            Dns: ['1.1.1.1'],
          },
        }),
      ),
    );
  });

  test('a user network with endpoint settings, another network besides, links and published ports', () => {
    const req: ContainerRequest = {
      image: 'busybox',
      network: { mode: 'named', name: 'front' },
      endpoints: [
        { network: 'front', aliases: ['web'], links: ['db:database'] },
        { network: 'bridge', macAddress: '02:42:ac:11:00:0a' },
      ],
      macAddress: '02:42:ac:11:00:09',
      ports: [{ containerPort: 80, protocol: 'tcp', host: { ip: '127.0.0.1', port: '8080' } }],
    };
    const t = neutral(req);
    expect(t.spec.network?.networks).toEqual([
      { ref: 'front', aliases: ['web'], mac: '02:42:ac:11:00:09', links: [{ name: 'db', alias: 'database' }] },
      { ref: 'bridge', aliases: [], mac: '02:42:ac:11:00:0a' },
    ]);
    expect(t.spec.network?.ports).toEqual([
      { proto: 'tcp', containerPort: 80, hostIp: '127.0.0.1', hostPortMin: 8080, hostPortMax: 8080 },
    ]);
    expect(t.spec.network?.exposed).toEqual(['80/tcp']);
    // A port published only (as Docker's PortBindings without ExposedPorts) is not exposed.
    const published = neutral({ ...req, ports: [{ ...req.ports![0], exposed: false }] });
    expect(published.spec.network?.exposed).toBeUndefined();
  });
});

describe("a neutral request gets the Docker body's checks, in dockerd's words where they name the setting", () => {
  test.each<[string, Partial<ContainerRequest>, string]>([
    ['too little memory', { resources: { memoryBytes: 1024 } }, 'Minimum memory limit allowed is 6MB'],
    [
      'a CPU period out of range',
      { resources: { cpuQuota: 5000, cpuPeriod: 10 } },
      'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)',
    ],
    [
      "both CPUs and a CPU quota (the Docker body's check, one rule for every front)",
      { resources: { nanoCpus: 1e9, cpuQuota: 50000 } },
      'Conflicting options: Nano CPUs and CPU Quota cannot both be set',
    ],
    [
      'a reservation above the memory limit',
      { resources: { memoryBytes: 8 * 1024 * 1024, memoryReservation: 16 * 1024 * 1024 } },
      'Minimum memory limit can not be less than memory reservation limit, see usage',
    ],
    [
      'an OOM score out of range',
      { security: { oomScoreAdj: 1001 } },
      'Invalid value 1001, range for oom score adj is [-1000, 1000]',
    ],
    ['memory nodes not on the host', { resources: { cpusetMems: '7' } }, 'Requested memory nodes are not available'],
    ['an unknown capability', { security: { capabilities: ['CAP_FLY'] } }, 'unknown capability: "CAP_FLY"'],
    [
      'a relative working dir',
      { workingDir: 'srv' },
      "the working directory 'srv' is invalid, it needs to be an absolute path",
    ],
    ['an empty env entry', { env: ['=x'] }, 'invalid environment variable: =x'],
    ['a CPU not on the host', { resources: { cpuset: '9' } }, 'Requested CPUs are not available'],
    ['no image', { image: '' }, 'the request names no image'],
    ['a cgroup parent above the root', { cgroupParent: '/../x' }, 'invalid cgroup parent "/../x"'],
    ['a bad extra host', { extraHosts: ['db'] }, 'bad format for add-host: "db"'],
    [
      'a hostname in another VM',
      { hostname: 'h', network: { mode: 'join', pod: 'sb' } },
      'conflicting options: a hostname and joining the VM of sb',
    ],
  ])('%s', (_what, extra, message) => {
    expect(() => neutral({ image: 'busybox', ...extra })).toThrow(message);
  });
});
