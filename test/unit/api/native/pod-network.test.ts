/**
 * A native pod's network over in-memory stand-ins: pods join the default bridge as `docker
 * run`'s do (pod files and the single-container spec), a pod file's hostPorts and a hyper
 * podfile's portmappings are published as `-p` would publish them (the plan and the Docker
 * data of the main container), the single-container spec names another network and its own
 * `-p` ports; a bad network or port, or an image that is not local, creates nothing (the
 * missing image is named in the 404 for the client to pull).
 */
import request from 'supertest';
import { NotFoundError } from '../../../../src/errors';
import { createNativeApp } from '../../../../src/api/native/server';
import type { NativeServices } from '../../../../src/api/native/services';
import { PodEngine, type EngineDeps } from '../../../../src/engine/engine';
import type { PodSpec } from '../../../../src/pod/types';
import { NoSuchImageError } from '../../../../src/storage/errors';
import type { DockerFrontend } from '../../../../src/api/v1.41/docker/docker-types';
import { neutralView } from '../../../helpers/neutral-view';

interface Made {
  spec: PodSpec;
  frontend: DockerFrontend;
}

function services(opts: { networks?: boolean } = {}) {
  const made: Made[] = [];
  const base = {
    pods: {
      create: async (spec: PodSpec, _name: string | undefined, frontend?: DockerFrontend) => {
        // What the Docker front shows of it (a native pod keeps no Docker record of its own).
        made.push({ spec, frontend: neutralView({ spec, ...(frontend ? { frontend } : {}) }) });
        return { id: spec.id };
      },
      get: (ref: string) => {
        const m = made.find((x) => x.spec.id === ref);
        if (!m) throw new NotFoundError(`no pod matches "${ref}"`);
        const containers = Object.fromEntries(
          m.spec.containers.map((c) => [c.id, { spec: c, state: { status: 'created', exitCode: 0 }, restartCount: 0 }]),
        );
        return {
          id: ref,
          name: ref.slice(0, 12),
          created: '',
          sandbox: { spec: m.spec },
          containers,
          frontend: m.frontend,
        };
      },
    },
    vms: {},
    images: {
      resolve: async (ref: string) => {
        if (ref.startsWith('missing')) throw new NoSuchImageError(`${ref}:latest`);
        return { id: `sha256:${ref.length}`, config: { config: { Cmd: ['sh'], ExposedPorts: { '9999/tcp': {} } } } };
      },
    },
    vmDefaults: { memoryMiB: 256, cpus: 1 },
    hostCpus: 2,
    ...(opts.networks === false
      ? {}
      : {
          networks: Promise.resolve({
            isUserNetwork: (ref: string) => {
              if (ref === 'front') return true;
              throw new NotFoundError(`network ${ref} not found`);
            },
            hasUserSubnet: () => false,
          }),
        }),
  };
  const s = { ...base, engine: new PodEngine(base as unknown as EngineDeps) } as unknown as NativeServices;
  return { s, made };
}

const KUBE = `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
    - name: httpd
      image: busybox
      command: [httpd, -f, -p, "80"]
      ports:
        - {containerPort: 80, hostPort: 18080}
        - {containerPort: 53, hostPort: 18053, protocol: UDP, hostIP: 127.0.0.1}
    - name: side
      image: busybox
      ports: [{containerPort: 9000, name: metrics}]
`;

test('a Kubernetes Pod joins the default bridge; hostPorts are published, containerPorts exposed', async () => {
  const { s, made } = services();
  const res = await request(createNativeApp(s)).post('/v1/pods').set('Content-Type', 'application/yaml').send(KUBE);
  expect(res.status).toBe(201);
  const { spec, frontend } = made[0];
  expect(spec.network).toEqual({
    mode: 'networks',
    networks: [{ ref: 'bridge', aliases: [] }],
    ports: [
      { proto: 'tcp', containerPort: 80, hostIp: '0.0.0.0', hostPortMin: 18080, hostPortMax: 18080, alsoIpv6: true },
      { proto: 'udp', containerPort: 53, hostIp: '127.0.0.1', hostPortMin: 18053, hostPortMax: 18053 },
    ],
    exposed: ['9999/tcp', '80/tcp', '53/udp', '9000/tcp'],
  });
  // What docker inspect and docker port read: the bindings as `-p` sends them.
  expect(frontend.hostConfig.PortBindings).toEqual({
    '80/tcp': [{ HostIp: '', HostPort: '18080' }],
    '53/udp': [{ HostIp: '127.0.0.1', HostPort: '18053' }],
  });
  expect(Object.keys(frontend.config.ExposedPorts ?? {})).toEqual(['9999/tcp', '80/tcp', '53/udp', '9000/tcp']);
});

test("a hyper podfile's portmappings are published; a pod file without ports is on the bridge too", async () => {
  const { s, made } = services();
  const app = createNativeApp(s);
  const hyper = {
    id: 'hp',
    containers: [{ name: 'main', image: 'busybox', command: ['sleep', '9'] }],
    portmappings: [{ containerPort: '80', hostPort: '18081', protocol: 'tcp' }],
  };
  expect((await request(app).post('/v1/pods').send({ spec: hyper })).status).toBe(201);
  expect(made[0].spec.network?.ports).toEqual([
    { proto: 'tcp', containerPort: 80, hostIp: '0.0.0.0', hostPortMin: 18081, hostPortMax: 18081, alsoIpv6: true },
  ]);
  expect(made[0].frontend.hostConfig.PortBindings).toEqual({ '80/tcp': [{ HostIp: '', HostPort: '18081' }] });
  const plain = { id: 'plain', containers: [{ name: 'main', image: 'busybox', command: ['sleep', '9'] }] };
  expect((await request(app).post('/v1/pods').send({ spec: plain })).status).toBe(201);
  expect(made[1].spec.network).toMatchObject({ mode: 'networks', networks: [{ ref: 'bridge' }], ports: [] });
});

test('the single-container spec: the bridge by default, "network" names another or none, "ports" as -p', async () => {
  const { s, made } = services();
  const app = createNativeApp(s);
  const post = (spec: Record<string, unknown>) =>
    request(app)
      .post('/v1/pods')
      .send({ spec: { image: 'busybox', command: ['sleep', '9'], ...spec } });
  expect((await post({})).status).toBe(201);
  expect(made[0].spec.network).toMatchObject({ mode: 'networks', networks: [{ ref: 'bridge' }], ports: [] });
  expect((await post({ network: 'front', ports: ['127.0.0.1:18082:80', '18083:81/udp', '82'] })).status).toBe(201);
  expect(made[1].spec.network).toMatchObject({
    mode: 'networks',
    networks: [{ ref: 'front', aliases: [] }],
    ports: [
      { proto: 'tcp', containerPort: 80, hostIp: '127.0.0.1', hostPortMin: 18082, hostPortMax: 18082 },
      { proto: 'udp', containerPort: 81, hostIp: '0.0.0.0', hostPortMin: 18083, hostPortMax: 18083 },
      { proto: 'tcp', containerPort: 82, hostIp: '0.0.0.0', hostPortMin: 0, hostPortMax: 0 },
    ],
  });
  expect(made[1].frontend.hostConfig.PortBindings).toEqual({
    '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '18082' }],
    '81/udp': [{ HostIp: '', HostPort: '18083' }],
    '82/tcp': [{ HostIp: '', HostPort: '' }],
  });
  expect(made[1].frontend.hostConfig.NetworkMode).toBe('front');
  expect((await post({ network: 'none' })).status).toBe(201);
  expect(made[2].spec.network).toEqual({ mode: 'none', networks: [], ports: [] });
});

test("a bad network or port is refused with dockerd's words and creates nothing", async () => {
  const { s, made } = services();
  const app = createNativeApp(s);
  const post = (spec: Record<string, unknown>) =>
    request(app)
      .post('/v1/pods')
      .send({ spec: { image: 'busybox', ...spec } });
  const unknown = await post({ network: 'nope' });
  expect([unknown.status, unknown.body.message]).toEqual([404, 'network nope not found']);
  const joined = await post({ network: 'container:web' });
  expect(joined.status).toBe(400);
  expect(joined.body.message).toMatch(/"network".*one pod file/);
  const host = await post({ network: 'host' });
  expect(host.status).toBe(501);
  const port = await post({ ports: ['99999:80'] });
  expect([port.status, port.body.message]).toEqual([400, 'invalid hostPort: 99999']);
  const types = await post({ ports: '80' });
  expect([types.status, types.body.message]).toEqual([400, 'spec: field "ports" must be an array of strings']);
  const hostIp = await request(app)
    .post('/v1/pods')
    .set('Content-Type', 'application/yaml')
    .send(KUBE.replace('hostIP: 127.0.0.1', 'hostIP: localhost'));
  expect([hostIp.status, hostIp.body.message]).toEqual([
    400,
    'pod file: spec.containers[0].ports[1].hostIP: must be an IPv4 address',
  ]);
  expect(made).toHaveLength(0);
});

test('a host without networks: pods get loopback only, and a published port is refused', async () => {
  const { s, made } = services({ networks: false });
  const app = createNativeApp(s);
  expect(
    (
      await request(app)
        .post('/v1/pods')
        .send({ spec: { image: 'busybox' } })
    ).status,
  ).toBe(201);
  expect(made[0].spec.network).toEqual({ mode: 'none', networks: [], ports: [] });
  const res = await request(app).post('/v1/pods').set('Content-Type', 'application/yaml').send(KUBE);
  expect(res.status).toBe(501);
  expect(res.body.message).toMatch(/ports cannot be published/);
  expect(made).toHaveLength(1);
});

test('an image that is not local: a 404 naming it, for the client to pull; nothing is created', async () => {
  const { s, made } = services();
  const app = createNativeApp(s);
  const single = await request(app)
    .post('/v1/pods')
    .send({ spec: { image: 'missing-one' } });
  expect(single.status).toBe(404);
  expect(single.body).toEqual({ message: 'image missing-one:latest not found', image: 'missing-one:latest' });
  const file = await request(app)
    .post('/v1/pods')
    .set('Content-Type', 'application/yaml')
    .send(KUBE.replace('image: busybox\n      ports: [', 'image: missing-two\n      ports: ['));
  expect(file.status).toBe(404);
  expect(file.body.image).toBe('missing-two:latest');
  expect(made).toHaveLength(0);
});
