/**
 * The neutral creation request (src/translate/container-request.ts): each front's request
 * parses to exactly what the Docker create body stating it parses to (the bodies below), and
 * it is refused with dockerd's words for what dockerd refuses. CRI mounts travel structured,
 * so a path holding ':' arrives as given.
 */
import { containerRequestOf, sandboxRequestOf, type CriContainerRequest } from '../../../src/api/cri/create-request';
import { parseCreateBody } from '../../../src/translate/create-body';
import {
  createRequestOf,
  networkRequestOf,
  translateContainerRequest,
  type ContainerRequest,
} from '../../../src/translate/container-request';
import { mountPoints, parseMounts } from '../../../src/translate/mounts';
import type { ImageRecord } from '../../../src/storage/types';
import { CreateBodySchema, type CreateBody } from '../../../src/translate/docker-schema';
import { decodeBody } from '../../../src/translate/go-decode';
import { portRequestsOf, portRequestsOfSpecs } from '../../../src/translate/podspec-ports';
import { DEFAULT_CAPABILITIES } from '../../../src/util/capabilities';

const CPUS = 4;
/** What dockerd's checks make of a Docker create body. */
const parsedBody = (b: Record<string, unknown>) => parseCreateBody(decodeBody<CreateBody>(CreateBodySchema, b), CPUS);
const parsed = (r: ContainerRequest) => createRequestOf(r, CPUS);
const IMAGE: ImageRecord = {
  id: `sha256:${'a'.repeat(64)}`,
  repoTags: ['busybox:latest'],
  repoDigests: [],
  config: { architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [] } },
  size: 1,
  storedAt: 0,
};
const translateOpts = { defaults: { memoryMiB: 256, cpus: 1 }, hostCpus: CPUS };

const sandbox = {
  name: 'k8s_POD_web_default_uid-1_0',
  image: 'pause',
  hostname: 'web-host',
  pod: { namespace: 'default', name: 'web', uid: 'uid-1' },
  portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' as const }],
  labels: { app: 'web' },
  criLabels: { 'io.podvisor.cri.kind': 'sandbox' },
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
  criLabels: { 'io.podvisor.cri.kind': 'container' },
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

describe('a CRI front request parses as the Docker body it replaced', () => {
  test('a sandbox: infra container, stdin open, no Docker network, the kubelet sysctls, its seccomp option', async () => {
    const req = await sandboxRequestOf({ ...sandbox, sysctls: { 'kernel.shm_rmid_forced': '1' } });
    expect(parsed(req)).toEqual(
      parsedBody({
        Image: 'pause',
        OpenStdin: true,
        Hostname: 'web-host',
        Labels: { app: 'web', 'io.podvisor.cri.kind': 'sandbox', 'io.podvisor.api': 'cri' },
        HostConfig: {
          NetworkMode: 'none',
          Sysctls: { 'kernel.shm_rmid_forced': '1' },
          SecurityOpt: ['seccomp=unconfined'],
        },
      }),
    );
    expect(req.cni).toEqual({ pod: sandbox.pod, portMappings: sandbox.portMappings });
    expect(req.security?.defaultSysctls).toBe(false);
    const plain = await sandboxRequestOf({ ...sandbox, seccomp: { profile: { profile_type: 'RuntimeDefault' } } });
    expect(parsed(plain).hostConfig.SecurityOpt).toEqual([]);
    expect(parsed(plain).hostConfig.Sysctls).toBeUndefined();
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
    expect(parsed(req)).toEqual(
      parsedBody({
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
        Labels: { role: 'main', 'io.podvisor.cri.kind': 'container', 'io.podvisor.api': 'cri' },
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
    );
    expect(req.log).toEqual({ kind: 'cri', path: '/var/log/pods/web/app/0.log' });
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
    expect(parsed(req)).toEqual(
      parsedBody({
        Image: 'busybox',
        Env: ['A=b'],
        Tty: false,
        OpenStdin: true,
        StdinOnce: true,
        AttachStdin: true,
        User: '1000',
        Labels: { role: 'main', 'io.podvisor.cri.kind': 'container', 'io.podvisor.api': 'cri' },
        HostConfig: {
          NetworkMode: 'container:sb',
          Privileged: true,
          SecurityOpt: ['seccomp=unconfined'],
        },
      }),
    );
    expect(parsed(req).entrypointSet).toBe(false);
    expect(req.log).toBeUndefined();
  });
});

describe('CRI mounts travel structured', () => {
  const mounts = [
    { hostPath: '/tmp/x/a:b', containerPath: '/m', readonly: false, propagation: 'PROPAGATION_HOST_TO_CONTAINER' },
    { hostPath: '/srv/c', containerPath: '/n:o/p', readonly: true, propagation: 'PROPAGATION_BIDIRECTIONAL' },
    { hostPath: '/srv/d', containerPath: '/q/', readonly: false },
  ];

  test("paths holding ':' reach the pod's binds as given, with read-only and propagation as containerd takes them", async () => {
    const req = await containerRequestOf(container({ mounts }));
    const hc = parsed(req).hostConfig;
    expect(hc.Binds).toBeNull();
    expect(parseMounts(hc)).toEqual([
      { type: 'bind', source: '/tmp/x/a:b', target: '/m', readOnly: false, createSource: false },
      { type: 'bind', source: '/srv/d', target: '/q', readOnly: false, createSource: false },
      { type: 'bind', source: '/srv/c', target: '/n:o/p', readOnly: true, createSource: false },
    ]);
    expect(mountPoints(hc, parseMounts(hc)).map((m) => [m.Source, m.Destination, m.RW, m.Propagation])).toEqual([
      ['/tmp/x/a:b', '/m', true, 'rslave'],
      ['/srv/c', '/n:o/p', false, 'rshared'],
      ['/srv/d', '/q', true, 'rprivate'],
    ]);
  });

  test('the translated pod makes a missing host path at start, as containerd does', async () => {
    const req = await containerRequestOf(container({ mounts }));
    const t = translateContainerRequest(req, parsed(req), IMAGE, 'c'.repeat(64), translateOpts);
    expect(t.spec.containers[0].mounts).toEqual([
      { type: 'bind', source: '/tmp/x/a:b', target: '/m', readOnly: false, createSource: true },
      { type: 'bind', source: '/srv/d', target: '/q', readOnly: false, createSource: true },
      { type: 'bind', source: '/srv/c', target: '/n:o/p', readOnly: true, createSource: true },
    ]);
  });

  test('a relative host or container path is refused', async () => {
    await expect(
      containerRequestOf(container({ mounts: [{ hostPath: '/h', containerPath: 'rel', readonly: false }] })),
    ).rejects.toThrow('mount container path "rel" is not absolute');
    const rel = await containerRequestOf(
      container({ mounts: [{ hostPath: 'data', containerPath: '/d', readonly: false }] }),
    );
    expect(() => parsed(rel)).toThrow(
      `invalid mount config for type "bind": invalid mount path: 'data' mount path must be absolute`,
    );
  });
});

describe('the native and builder requests parse as the Docker bodies they replaced', () => {
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
    expect(parsed(req)).toEqual(
      parsedBody({
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
    expect(parsed(req)).toEqual(
      parsedBody({
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
    expect(parsed(req)).toEqual(
      parsedBody({
        HostConfig: {
          NetworkMode: 'host',
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

describe("a neutral request gets the Docker body's checks, in dockerd's words", () => {
  test.each<[string, Partial<ContainerRequest>, string]>([
    ['too little memory', { resources: { memoryBytes: 1024 } }, 'Minimum memory limit allowed is 6MB'],
    [
      'a CPU period out of range',
      { resources: { cpuQuota: 5000, cpuPeriod: 10 } },
      'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)',
    ],
    [
      'an unknown capability',
      { security: { capabilities: ['CAP_FLY'] } },
      'invalid CapAdd: unknown capability: "CAP_FLY"',
    ],
    [
      'a relative working dir',
      { workingDir: 'srv' },
      "the working directory 'srv' is invalid, it needs to be an absolute path",
    ],
    ['an empty env entry', { env: ['=x'] }, 'invalid environment variable: =x'],
    ['a CPU not on the host', { resources: { cpuset: '9' } }, 'Requested CPUs are not available'],
    ['no image', { image: '' }, 'Config cannot be empty in order to create a container'],
  ])('%s', (_what, extra, message) => {
    expect(() => parsed({ image: 'busybox', ...extra })).toThrow(message);
  });
});
