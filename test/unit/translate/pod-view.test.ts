/**
 * The Docker view of a pod (src/api/v1.41/docker/pod-view.ts): a Docker create's pod shows the
 * Config and HostConfig it was made with; a pod made from a neutral request (CRI, native,
 * build step), which keeps no Docker record, shows them rendered from its PodSpec: what it
 * runs, with dockerd's defaults for the rest.
 */
import { sandboxRequestOf, containerRequestOf } from '../../../src/api/cri/create-request';
import { parseCreateBody } from '../../../src/api/v1.41/docker/create-body';
import { translateCreate } from '../../../src/api/v1.41/docker/create';
import { CreateBodySchema, type CreateBody } from '../../../src/api/v1.41/docker/docker-schema';
import { decodeBody } from '../../../src/util/go-decode';
import { translateContainerRequest } from '../../../src/translate/request/request-pod';
import { networkRequestOf, type ContainerRequest } from '../../../src/translate/request/container-request';
import type { ImageRecord } from '../../../src/storage/types';
import { neutralView } from '../../helpers/neutral-view';

const IMAGE: ImageRecord = {
  id: `sha256:${'a'.repeat(64)}`,
  repoTags: ['busybox:latest'],
  repoDigests: [],
  config: {
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['sh'], Env: ['PATH=/bin'], Labels: { from: 'image' } },
    rootfs: { type: 'layers', diff_ids: [] },
  },
  size: 1,
  storedAt: 0,
};
const networks = { isUserNetwork: (ref: string) => ref === 'front', hasUserSubnet: () => false };
const opts = { defaults: { memoryMiB: 256, cpus: 1 }, hostCpus: 4, networks };
const ID = 'c'.repeat(64);
const neutral = (r: ContainerRequest) => neutralView(translateContainerRequest(r, IMAGE, ID, opts));

test("a Docker create's pod shows the record it was made with, not a rendering", () => {
  const body = decodeBody<CreateBody>(CreateBodySchema, {
    Image: 'busybox',
    Entrypoint: ['sh', '-c'],
    Cmd: ['echo hi'],
    HostConfig: { CapAdd: ['NET_ADMIN'], Sysctls: { 'net.ipv4.ip_forward': '1' } },
  });
  const t = translateCreate(parseCreateBody(body, 4), IMAGE, ID, opts);
  const view = neutralView(t);
  expect(view).toBe(t.frontend);
  expect(view.config.Entrypoint).toEqual(['sh', '-c']);
  expect(view.hostConfig.CapAdd).toEqual(['NET_ADMIN']);
});

test('a native pod: its command, env, labels, network, ports, binds, resources and privileges, from the PodSpec', () => {
  const view = neutral({
    image: 'busybox',
    entrypoint: ['sleep'],
    args: ['100'],
    env: ['A=b'],
    labels: { app: 'web' },
    user: '1000',
    workingDir: '/srv',
    network: networkRequestOf('front'),
    ports: [
      { containerPort: 80, protocol: 'tcp', host: { ip: '', port: '8080' } },
      { containerPort: 53, protocol: 'udp', host: { ip: '127.0.0.1', port: '' } },
      { containerPort: 9000, protocol: 'tcp' },
    ],
    mounts: [{ source: '/srv/a:b', target: '/data', readOnly: true }],
    resources: { memoryBytes: 64 << 20, cpuQuota: 50000, cpuPeriod: 100000, cpuset: '0', shmBytes: 1 << 20 },
    security: {
      capabilities: ['CAP_CHOWN'],
      readonlyRoot: true,
      noNewPrivileges: true,
      sysctls: { 'kernel.msgmax': '9' },
    },
    stopTimeout: 3,
  });
  expect(view.imageRef).toBe('busybox');
  expect(view.config).toMatchObject({
    Image: 'busybox',
    Entrypoint: ['sleep'],
    Cmd: ['100'],
    Env: ['PATH=/bin', 'A=b'],
    Labels: { from: 'image', app: 'web' },
    User: '1000',
    WorkingDir: '/srv',
    StopTimeout: 3,
    ExposedPorts: { '80/tcp': {}, '53/udp': {}, '9000/tcp': {} },
  });
  expect(view.config.StopSignal).toBeUndefined();
  expect(view.hostConfig).toMatchObject({
    NetworkMode: 'front',
    PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }], '53/udp': [{ HostIp: '127.0.0.1', HostPort: '' }] },
    Mounts: [{ Type: 'bind', Source: '/srv/a:b', Target: '/data', ReadOnly: true }],
    Memory: 64 << 20,
    CpuQuota: 50000,
    CpuPeriod: 100000,
    CpusetCpus: '0',
    ShmSize: 1 << 20,
    CapDrop: ['ALL'],
    CapAdd: ['CAP_CHOWN'],
    ReadonlyRootfs: true,
    SecurityOpt: ['no-new-privileges'],
    // Only the sysctls beside the runtime's own (unprivileged ports, ping).
    Sysctls: { 'kernel.msgmax': '9' },
    RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
    AutoRemove: false,
    LogConfig: { Type: 'json-file', Config: {} },
  });
  expect(view.hostConfig.Privileged).toBe(false);
  expect(view.hostConfig.MaskedPaths?.length).toBeGreaterThan(0);
});

test('the default set of capabilities and no ports show as dockerd shows a plain create; privileged shows no path lists', () => {
  const plain = neutral({ image: 'busybox', args: ['true'], network: networkRequestOf('none') });
  expect(plain.hostConfig.CapAdd).toBeNull();
  expect(plain.hostConfig.CapDrop).toBeNull();
  expect(plain.hostConfig.NetworkMode).toBe('none');
  expect(plain.hostConfig.PortBindings).toBeNull();
  expect(plain.config.ExposedPorts).toBeUndefined();
  expect(plain.config.Entrypoint).toEqual(['true']);
  expect(plain.config.Cmd).toEqual([]);
  const privileged = neutral({ image: 'busybox', args: ['true'], security: { privileged: true } });
  expect(privileged.hostConfig).toMatchObject({ Privileged: true, MaskedPaths: null, ReadonlyPaths: null });
  expect(privileged.hostConfig.CapAdd).toBeNull();
});

test("a CRI sandbox and its container: no Docker network (CNI), the sandbox's VM and PID namespace, the CRI log file left out", async () => {
  const sb = await sandboxRequestOf({
    name: 'k8s_POD_web_default_uid-1_0',
    image: 'pause',
    hostname: 'web',
    pod: { namespace: 'default', name: 'web', uid: 'uid-1' },
    portMappings: [],
    labels: {},
  });
  expect(neutral(sb).hostConfig.NetworkMode).toBe('none');
  const req = await containerRequestOf({
    sandboxId: 'sb',
    name: 'k8s_app_web_default_uid-1_0',
    image: 'busybox',
    command: ['sh', '-c'],
    args: ['echo hi'],
    workingDir: '',
    env: [],
    mounts: [],
    labels: {},
    logPath: '/var/log/pods/web/app/0.log',
    tty: false,
    stdin: false,
    stdinOnce: false,
    podPid: true,
    supplementalGroups: [],
    runAsUsername: '',
  });
  const t = translateContainerRequest(req, IMAGE, ID, opts);
  t.spec.joinPod = { pod: 'sb', pid: true };
  const view = neutralView(t);
  expect(view.hostConfig).toMatchObject({
    NetworkMode: 'container:sb',
    PidMode: 'container:sb',
    LogConfig: { Type: 'json-file', Config: {} },
  });
  expect(view.config.Entrypoint).toEqual(['sh']);
  expect(view.config.Cmd).toEqual(['-c', 'echo hi']);
});
