/** Pod files (src/api/native/podspec/podspec.ts): the Kubernetes v1 Pod subset and hyper podfiles, JSON and YAML. */
import { portRequestsOf } from '../../../../src/api/native/podspec/podspec-ports';
import { portRequestsOfSpecs } from '../../../../src/translate/network/port-specs';
import type { PortRequest } from '../../../../src/translate/request/container-request';
import type { ManifestPort } from '../../../../src/api/native/podspec/podspec-types';
import { parsePodFile, PodFileError } from '../../../../src/api/native/podspec/podspec';
import { parseCpuQuantity, parseMemoryQuantity } from '../../../../src/api/native/podspec/podspec-read';
import { InvalidArgumentError } from '../../../../src/errors';
import { podOfFile } from '../../../helpers/pod-file';

/** The create body's port fields: `Config.ExposedPorts` and `HostConfig.PortBindings`. */
interface DockerPorts {
  ExposedPorts?: Record<string, Record<string, never>>;
  PortBindings?: Record<string, Array<{ HostIp: string; HostPort: string }>>;
}

/** The create body's port fields for `ports` (absent when empty), to state expectations as Docker does: every port exposed, those with a host bound. */
function dockerPortsOf(ports: PortRequest[] | undefined): DockerPorts {
  const exposed: Record<string, Record<string, never>> = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const p of ports ?? []) {
    const key = `${p.containerPort}/${p.protocol}`;
    exposed[key] = {};
    if (p.host) (bindings[key] ??= []).push({ HostIp: p.host.ip, HostPort: p.host.port });
  }
  return {
    ...(Object.keys(exposed).length ? { ExposedPorts: exposed } : {}),
    ...(Object.keys(bindings).length ? { PortBindings: bindings } : {}),
  };
}

const KUBE = `
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web, tier: "1"}
spec:
  restartPolicy: OnFailure
  terminationGracePeriodSeconds: 5
  initContainers:
  - name: setup
    image: busybox
    command: [sh, -c, "echo hi > /work/index.html"]
    volumeMounts: [{name: work, mountPath: /work}]
  containers:
  - name: main
    image: busybox
    command: [httpd]
    args: ["-f", "-p", "8080", "-h", "/www"]
    env: [{name: A, value: "1"}, {name: B}]
    workingDir: /www
    ports: [{containerPort: 8080, hostPort: 18080, name: http}]
    volumeMounts: [{name: work, mountPath: /www, readOnly: true}]
    resources: {limits: {memory: 64Mi, cpu: 500m}}
    securityContext: {privileged: true, runAsUser: 1000, runAsGroup: 100}
  - name: side
    image: registry:5000/side:1
    tty: true
    volumeMounts: [{name: host, mountPath: /h}]
  volumes:
  - name: work
    emptyDir: {}
  - name: host
    hostPath: {path: /srv/data, type: DirectoryOrCreate}
`;

test('a Kubernetes Pod in YAML: every supported field read', () => {
  const m = parsePodFile(KUBE);
  expect(m).toEqual({
    format: 'kubernetes',
    name: 'web',
    labels: { app: 'web', tier: '1' },
    restartPolicy: 'OnFailure',
    terminationGracePeriodSeconds: 5,
    initContainers: [
      {
        name: 'setup',
        image: 'busybox',
        command: ['sh', '-c', 'echo hi > /work/index.html'],
        env: [],
        tty: false,
        stdin: false,
        ports: [],
        volumeMounts: [{ name: 'work', mountPath: '/work', readOnly: false }],
        privileged: false,
        labels: {},
      },
    ],
    containers: [
      {
        name: 'main',
        image: 'busybox',
        command: ['httpd'],
        args: ['-f', '-p', '8080', '-h', '/www'],
        env: ['A=1', 'B='],
        workingDir: '/www',
        tty: false,
        stdin: false,
        ports: [{ containerPort: 8080, hostPort: 18080, protocol: 'tcp', name: 'http' }],
        volumeMounts: [{ name: 'work', mountPath: '/www', readOnly: true }],
        memoryLimit: 64 * 2 ** 20,
        cpuLimitMillis: 500,
        privileged: true,
        user: '1000:100',
        labels: {},
      },
      {
        name: 'side',
        image: 'registry:5000/side:1',
        env: [],
        tty: true,
        stdin: false,
        ports: [],
        volumeMounts: [{ name: 'host', mountPath: '/h', readOnly: false }],
        privileged: false,
        labels: {},
      },
    ],
    volumes: [
      { name: 'work', type: 'emptyDir' },
      { name: 'host', type: 'hostPath', path: '/srv/data', create: true },
    ],
  });
});

test('the same Pod as JSON reads the same; a bare YAML `emptyDir:` is an emptyDir', () => {
  const { parse } = jest.requireActual<typeof import('yaml')>('yaml');
  expect(parsePodFile(JSON.stringify(parse(KUBE)))).toEqual(parsePodFile(KUBE));
  const m = parsePodFile(
    'apiVersion: v1\nkind: Pod\nspec:\n  containers: [{name: a, image: busybox}]\n  volumes:\n  - name: v\n    emptyDir:\n',
  );
  expect(m.volumes).toEqual([{ name: 'v', type: 'emptyDir' }]);
  expect(m.restartPolicy).toBe('Always');
});

test('unknown and unsupported Kubernetes fields are each reported by path, never dropped', () => {
  const text = `
apiVersion: v1
kind: Pod
metadata: {name: x, annotations: {a: b}}
spec:
  nodeSelector: {disk: ssd}
  bogus: 1
  containers:
  - name: a
    image: busybox
    lifecycle: {postStart: {exec: {command: [x]}}}
    colour: blue
    env: [{name: K, valueFrom: {fieldRef: {fieldPath: x}}}]
    resources: {requests: {cpu: lots}, limits: {gpu: 1}}
  volumes:
  - name: cfg
    configMap: {name: c}
`;
  let err: PodFileError | undefined;
  try {
    parsePodFile(text);
  } catch (e) {
    err = e as PodFileError;
  }
  expect(err).toBeInstanceOf(PodFileError);
  expect(err).toBeInstanceOf(InvalidArgumentError);
  const paths = err!.problems.map((p) => p.split(':')[0]);
  expect(paths).toEqual(
    expect.arrayContaining([
      'metadata.annotations',
      'spec.nodeSelector',
      'spec.bogus',
      'spec.containers[0].lifecycle',
      'spec.containers[0].colour',
      'spec.containers[0].env[0].valueFrom',
      'spec.containers[0].resources.requests.cpu',
      'spec.containers[0].resources.limits.gpu',
      'spec.volumes[0].configMap',
    ]),
  );
  expect(err!.message).toMatch(/^pod file: /);
});

test('wrong kinds, missing parts and cross-field mistakes are reported', () => {
  expect(() =>
    parsePodFile('apiVersion: apps/v1\nkind: Deployment\nspec: {containers: [{name: a, image: b}]}'),
  ).toThrow(/apiVersion: must be v1.*kind: must be Pod/);
  expect(() => parsePodFile('apiVersion: v1\nkind: Pod\nspec: {containers: []}')).toThrow(
    'spec.containers: at least one container is required',
  );
  expect(() => parsePodFile('apiVersion: v1\nkind: Pod\nspec: {containers: [{name: a}]}')).toThrow(
    'spec.containers[0].image: is required',
  );
  expect(() =>
    parsePodFile('apiVersion: v1\nkind: Pod\nspec: {containers: [{name: a, image: b}, {name: a, image: c}]}'),
  ).toThrow('name is used twice');
  expect(() =>
    parsePodFile(
      'apiVersion: v1\nkind: Pod\nspec: {containers: [{name: a, image: b, volumeMounts: [{name: nope, mountPath: /x}]}]}',
    ),
  ).toThrow('mounts volume "nope", which the pod does not define');
  expect(() =>
    parsePodFile('apiVersion: v1\nkind: Pod\nspec: {restartPolicy: Sometimes, containers: [{name: a, image: b}]}'),
  ).toThrow('spec.restartPolicy');
  expect(() =>
    parsePodFile(
      'apiVersion: v1\nkind: Pod\nspec: {containers: [{name: a, image: b, resources: {limits: {memory: lots}}}]}',
    ),
  ).toThrow('bad quantity "lots"');
  expect(() => parsePodFile('a: [1, 2\n')).toThrow(/not valid JSON or YAML/);
  expect(() => parsePodFile('')).toThrow('the file is empty');
  expect(() => parsePodFile('- 1\n- 2\n')).toThrow('the file must hold one object');
  expect(() => parsePodFile('apiVersion: v1\napiVersion: v1\n')).toThrow(/not valid JSON or YAML/);
});

test('a hyper podfile (JSON): containers, envs, volumes, resource, port mappings', () => {
  const m = parsePodFile(
    JSON.stringify({
      id: 'demo',
      hostname: 'demo-host',
      labels: { a: 'b' },
      resource: { vcpu: 2, memory: 256 },
      restartPolicy: 'onFailure',
      tty: true,
      containers: [
        {
          name: 'web',
          image: 'nginx',
          entrypoint: ['/docker-entrypoint.sh'],
          command: ['nginx', '-g', 'daemon off;'],
          workdir: '/srv',
          envs: [{ env: 'X', value: 'y' }],
          volumes: [
            { path: '/data', volume: 'd', readOnly: true },
            { path: '/tmp/e', volume: 'e' },
          ],
          user: { name: 'www', group: 'www' },
          StopSignal: 'SIGQUIT',
        },
        { image: 'busybox', tty: false },
      ],
      volumes: [{ name: 'd', source: '/srv/d', format: 'vfs' }, { name: 'e' }],
      portmappings: [{ containerPort: 80, hostPort: 8080, protocol: 'tcp' }],
    }),
  );
  expect(m).toEqual({
    format: 'hyper',
    name: 'demo',
    hostname: 'demo-host',
    labels: { a: 'b' },
    restartPolicy: 'OnFailure',
    vm: { vcpus: 2, memoryMiB: 256 },
    initContainers: [],
    containers: [
      {
        name: 'web',
        image: 'nginx',
        command: ['/docker-entrypoint.sh'],
        args: ['nginx', '-g', 'daemon off;'],
        workingDir: '/srv',
        env: ['X=y'],
        tty: true,
        stdin: false,
        ports: [{ containerPort: 80, hostPort: 8080, protocol: 'tcp' }],
        volumeMounts: [
          { name: 'd', mountPath: '/data', readOnly: true },
          { name: 'e', mountPath: '/tmp/e', readOnly: false },
        ],
        user: 'www:www',
        stopSignal: 'SIGQUIT',
        privileged: false,
        labels: {},
      },
      {
        name: 'container1',
        image: 'busybox',
        env: [],
        tty: false,
        stdin: false,
        ports: [],
        volumeMounts: [],
        privileged: false,
        labels: {},
      },
    ],
    volumes: [
      { name: 'd', type: 'hostPath', path: '/srv/d', create: false },
      { name: 'e', type: 'emptyDir' },
    ],
  });
});

test('a hyper podfile in YAML; its unsupported fields (dns, files, services, raw volumes) are named', () => {
  expect(parsePodFile('id: p\ncontainers:\n- image: busybox\n  command: [sleep, "10"]\n').containers[0].args).toEqual([
    'sleep',
    '10',
  ]);
  expect(() =>
    parsePodFile(
      'id: p\ndns: [8.8.8.8]\nservices: [{}, {}]\ncontainers:\n- image: busybox\n  files: [{path: /x}]\n  frobnicate: 1\nvolumes:\n- {name: v, source: /dev/sdb, format: raw}\n',
    ),
  ).toThrow(
    /containers\[0\]\.files: .*containers\[0\]\.frobnicate: unknown field.*volumes\[0\]\.format: "raw".*dns: .*services: /s,
  );
  expect(() => parsePodFile('{"containers": [{"image": "busybox"}]}', 'kubernetes')).toThrow('apiVersion: must be v1');
});

test('Kubernetes quantities', () => {
  expect(parseMemoryQuantity('128Mi')).toBe(128 * 2 ** 20);
  expect(parseMemoryQuantity('1G')).toBe(1e9);
  expect(parseMemoryQuantity('1e3')).toBe(1000);
  expect(parseMemoryQuantity(4096)).toBe(4096);
  expect(parseMemoryQuantity('12Q')).toBeUndefined();
  expect(parseCpuQuantity('250m')).toBe(250);
  expect(parseCpuQuantity('1.5')).toBe(1500);
  expect(parseCpuQuantity(2)).toBe(2000);
  expect(parseCpuQuantity('-1')).toBeUndefined();
});

describe('a pod file made into its pod: the neutral pod request, translated once', () => {
  const image = (id: string, config: Record<string, unknown>) =>
    ({ id, repoTags: [], repoDigests: [], size: 0, storedAt: 0, config: { config } }) as never;
  const images: Record<string, unknown> = {
    busybox: image('sha256:b', { Cmd: ['sh'], Env: ['PATH=/bin', 'A=image'], WorkingDir: '/home' }),
    app: image('sha256:a', { Entrypoint: ['/entry'], Cmd: ['--serve'], User: 'app', StopSignal: 'SIGQUIT' }),
  };
  const opts = {
    id: 'f'.repeat(64),
    resolveImage: async (r: string) => images[r] as never,
    defaults: { memoryMiB: 256, cpus: 1 },
    hostCpus: 4,
  };

  test('Kubernetes command rules, env over the image, grace as stop timeout, mounts, the VM sized for the sum', async () => {
    const m = parsePodFile(`
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  terminationGracePeriodSeconds: 7
  restartPolicy: Never
  initContainers: [{name: i, image: busybox, command: ["true"], resources: {limits: {memory: 600Mi}}}]
  containers:
  - {name: main, image: app, args: [--other], env: [{name: A, value: file}], volumeMounts: [{name: d, mountPath: /d}],
     resources: {limits: {memory: 200Mi, cpu: 1500m}}, ports: [{containerPort: 80}]}
  - {name: side, image: app, command: [/side], volumeMounts: [{name: h, mountPath: /h, readOnly: true}], resources: {limits: {memory: 100Mi, cpu: 1}}}
  - {name: plain, image: busybox, resources: {limits: {memory: 50Mi}}}
  volumes: [{name: d, emptyDir: {}}, {name: h, hostPath: {path: /srv}}]
`);
    const { spec, name, ports } = await podOfFile(m, opts);
    expect(name).toBe('p');
    expect(ports).toEqual([{ containerPort: 80, protocol: 'tcp' }]);
    expect(spec).toMatchObject({
      id: opts.id,
      hostname: 'p',
      restartPolicy: { name: 'no' },
      vm: { memoryMiB: 600 + 64, cpus: 3 },
    });
    const [init, main, side, plain] = spec.containers;
    expect(init).toMatchObject({ name: 'i', init: true, args: ['true'], image: 'sha256:b', stopTimeout: 7 });
    expect(main).toMatchObject({
      id: opts.id,
      name: 'main',
      args: ['/entry', '--other'],
      user: 'app',
      stopSignal: 3,
      env: ['A=file'],
      limits: { memoryMax: 200 * 2 ** 20, cpuQuota: 150000, cpuPeriod: 100000 },
    });
    expect(main.mounts).toEqual([{ type: 'emptyDir', name: 'd', target: '/d', readOnly: false }]);
    expect(side).toMatchObject({ args: ['/side'] });
    expect(side.id).toMatch(/^[0-9a-f]{64}$/);
    expect(side.id).not.toBe(opts.id);
    expect(side.mounts).toEqual([{ type: 'bind', source: '/srv', target: '/h', readOnly: true, createSource: false }]);
    expect(plain).toMatchObject({
      args: ['sh'],
      workingDir: '/home',
      env: ['PATH=/bin', 'A=image'],
      stopSignal: 15,
      user: '',
    });
  });

  test('no limits: the default VM; hyper resource wins; no command at all is refused', async () => {
    const m = parsePodFile('id: h\nresource: {vcpu: 2, memory: 512}\ncontainers: [{image: busybox}]\n');
    const built = (await podOfFile(m, opts)).spec;
    expect(built).toMatchObject({ vm: { memoryMiB: 512, cpus: 2 }, hostname: 'h', restartPolicy: { name: 'no' } });
    expect(built.containers[0]).toMatchObject({ name: 'container0', stopTimeout: 30, args: ['sh'] });
    const plain = parsePodFile('apiVersion: v1\nkind: Pod\nspec: {containers: [{name: a, image: busybox}]}');
    expect((await podOfFile(plain, opts)).spec).toMatchObject({
      vm: { memoryMiB: 256, cpus: 1 },
      hostname: 'ffffffffffff',
      restartPolicy: { name: 'always' },
    });
    images.empty = image('sha256:e', {});
    await expect(
      podOfFile(parsePodFile('apiVersion: v1\nkind: Pod\nspec: {containers: [{name: a, image: empty}]}'), opts),
    ).rejects.toThrow('no command');
  });

  test("a pod's container: no image health check, seccomp filter, default sysctls or image volumes; mounts parents first", async () => {
    images.checked = image('sha256:c', {
      Cmd: ['sh'],
      Healthcheck: { Test: ['CMD', 'true'] },
      Volumes: { '/data': {} },
    });
    const { spec } = await podOfFile(
      parsePodFile(`
apiVersion: v1
kind: Pod
spec:
  containers:
  - {name: a, image: checked, volumeMounts: [{name: d, mountPath: /a/b}, {name: e, mountPath: /a}]}
  - {name: b, image: checked}
  volumes: [{name: d, emptyDir: {}}, {name: e, emptyDir: {}}]
`),
      opts,
    );
    for (const c of spec.containers) {
      expect(c.health).toBeUndefined();
      expect(c.seccomp).toBeUndefined();
      expect(c.security?.sysctls).toEqual({});
      expect(c.mounts?.some((m) => m.target === '/data')).not.toBe(true);
    }
    expect(spec.containers[0].mounts?.map((m) => m.target)).toEqual(['/a', '/a/b']);
  });

  test('every container is checked as the main one is: a relative working directory is refused', async () => {
    await expect(
      podOfFile(
        parsePodFile(
          'apiVersion: v1\nkind: Pod\nspec: {containers: [{name: a, image: busybox}, {name: b, image: busybox, workingDir: rel}]}',
        ),
        opts,
      ),
    ).rejects.toThrow("the working directory 'rel' is invalid, it needs to be an absolute path");
  });
});

describe('ports of a pod file', () => {
  const kube = (ports: string, init = '') =>
    `apiVersion: v1\nkind: Pod\nspec:\n${init}  containers:\n  - name: a\n    image: busybox\n    ports: [{containerPort: 80, hostPort: 8080}]\n  - name: b\n    image: busybox\n    ports: ${ports}\n`;

  test('Kubernetes hostIP is read with its hostPort; a bad one or one without hostPort is named', () => {
    expect(
      parsePodFile(kube('[{containerPort: 53, hostPort: 5353, hostIP: 127.0.0.1, protocol: UDP}]')).containers[1].ports,
    ).toEqual([{ containerPort: 53, hostPort: 5353, hostIP: '127.0.0.1', protocol: 'udp' }]);
    expect(() => parsePodFile(kube('[{containerPort: 53, hostPort: 5353, hostIP: "::1"}]'))).toThrow(
      'spec.containers[1].ports[0].hostIP: must be an IPv4 address',
    );
    expect(() => parsePodFile(kube('[{containerPort: 53, hostIP: 127.0.0.1}]'))).toThrow(
      'spec.containers[1].ports[0].hostIP: needs a hostPort',
    );
  });

  test('a host port asked twice (same protocol, same or a wildcard address) is named by the second path', () => {
    expect(() => parsePodFile(kube('[{containerPort: 81, hostPort: 8080}]'))).toThrow(
      'spec.containers[1].ports[0].hostPort: 8080/tcp is already published by spec.containers[0].ports[0]',
    );
    expect(() => parsePodFile(kube('[{containerPort: 81, hostPort: 8080, hostIP: 127.0.0.1}]'))).toThrow(
      'already published by spec.containers[0].ports[0]',
    );
    // Another protocol, or two distinct addresses, do not clash; the same container port twice is fine.
    expect(
      parsePodFile(kube('[{containerPort: 80, hostPort: 8080, protocol: UDP}, {containerPort: 80, hostPort: 8081}]'))
        .containers[1].ports,
    ).toHaveLength(2);
    const two =
      '[{containerPort: 1, hostPort: 9, hostIP: 127.0.0.1}, {containerPort: 2, hostPort: 9, hostIP: 127.0.0.2}]';
    expect(parsePodFile(kube(two)).containers[1].ports.map((p) => p.hostIP)).toEqual(['127.0.0.1', '127.0.0.2']);
    expect(() =>
      parsePodFile(
        kube('[]', '  initContainers:\n  - {name: i, image: busybox, ports: [{containerPort: 1, hostPort: 2}]}\n'),
      ),
    ).toThrow("spec.initContainers[0].ports[0].hostPort: an init container's ports are not published");
  });

  test("hyper: portmappings (numbers as strings too) go to the first container; a clash with a container's port is named", () => {
    const m = parsePodFile(
      JSON.stringify({
        id: 'p',
        containers: [{ image: 'busybox' }],
        portmappings: [
          { containerPort: '80', hostPort: '8080', protocol: 'tcp' },
          { containerPort: 53, hostPort: 53, protocol: 'udp' },
        ],
      }),
    );
    expect(m.containers[0].ports).toEqual([
      { containerPort: 80, hostPort: 8080, protocol: 'tcp' },
      { containerPort: 53, hostPort: 53, protocol: 'udp' },
    ]);
    expect(() =>
      parsePodFile(
        JSON.stringify({
          id: 'p',
          containers: [{ image: 'busybox', ports: [{ containerPort: 1, hostPort: 8080 }] }],
          portmappings: [{ containerPort: 80, hostPort: 8080 }],
        }),
      ),
    ).toThrow('portmappings[0].hostPort: 8080/tcp is already published by containers[0].ports[0]');
  });

  /** The Docker body's fields of a pod file's ports and of `-p` strings, through the neutral request's. */
  const podPorts = (p: ManifestPort[]) => dockerPortsOf(portRequestsOf(p));
  const specPorts = (s: string[]) => dockerPortsOf(portRequestsOfSpecs(s));

  test('as the Docker create body states them: hostPorts bound, every port exposed', () => {
    expect(podPorts([])).toEqual({});
    expect(
      podPorts([
        { containerPort: 80, hostPort: 8080, protocol: 'tcp' },
        { containerPort: 80, hostPort: 8081, hostIP: '127.0.0.1', protocol: 'tcp' },
        { containerPort: 53, protocol: 'udp' },
      ]),
    ).toEqual({
      ExposedPorts: { '80/tcp': {}, '53/udp': {} },
      PortBindings: {
        '80/tcp': [
          { HostIp: '', HostPort: '8080' },
          { HostIp: '127.0.0.1', HostPort: '8081' },
        ],
      },
    });
  });

  test("-p strings as the docker CLI sends them (ranges, any free port, an address); a bad one in dockerd's words", () => {
    expect(specPorts(['8080:80', '127.0.0.1:9000-9001:90-91/udp', '7000'])).toEqual({
      ExposedPorts: { '80/tcp': {}, '90/udp': {}, '91/udp': {}, '7000/tcp': {} },
      PortBindings: {
        '80/tcp': [{ HostIp: '', HostPort: '8080' }],
        '90/udp': [{ HostIp: '127.0.0.1', HostPort: '9000' }],
        '91/udp': [{ HostIp: '127.0.0.1', HostPort: '9001' }],
        '7000/tcp': [{ HostIp: '', HostPort: '' }],
      },
    });
    expect(specPorts(['8000-8010:80']).PortBindings).toEqual({
      '80/tcp': [{ HostIp: '', HostPort: '8000-8010' }],
    });
    expect(() => specPorts(['80/sctp'])).toThrow('invalid proto: sctp');
  });
});
