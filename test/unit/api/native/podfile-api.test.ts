/**
 * Pod files on the native API over an in-memory pod service: a YAML body (application/yaml)
 * and a JSON pod object make a multi-container pod with the Docker data of its main
 * container; a bad file is refused by field and creates nothing.
 */
import request from 'supertest';
import { NotFoundError } from '../../../../src/errors';
import { createNativeApp } from '../../../../src/api/native/server';
import type { NativeServices } from '../../../../src/api/native/services';
import { PodEngine, type EngineDeps } from '../../../../src/engine/engine';
import type { PodSpec } from '../../../../src/pod/types';
import type { DockerFrontend } from '../../../../src/api/v1.41/docker/docker-types';
import { neutralView } from '../../../helpers/neutral-view';

interface Made {
  spec: PodSpec;
  name?: string;
  frontend: DockerFrontend;
}

function services() {
  const made: Made[] = [];
  const calls: string[] = [];
  const base = {
    pods: {
      create: async (spec: PodSpec, name: string | undefined, frontend?: DockerFrontend) => {
        // What the Docker front shows of it (a native pod keeps no Docker record of its own).
        made.push({ spec, name, frontend: neutralView({ spec, ...(frontend ? { frontend } : {}) }) });
        return { id: spec.id };
      },
      start: async (ref: string) => void calls.push(`start ${ref}`),
      get: (ref: string) => {
        const m = made.find((x) => x.spec.id === ref);
        if (!m) throw new NotFoundError(`no pod matches "${ref}"`);
        const containers = Object.fromEntries(
          m.spec.containers.map((c) => [c.id, { spec: c, state: { status: 'created', exitCode: 0 }, restartCount: 0 }]),
        );
        return {
          id: ref,
          name: m.name ?? ref.slice(0, 12),
          created: '',
          sandbox: { spec: m.spec },
          containers,
          frontend: m.frontend,
        };
      },
    },
    vms: {},
    images: {
      resolve: async (ref: string) => ({
        id: `sha256:${ref.length}`,
        config: { config: { Env: ['PATH=/bin'], Cmd: ['sh'] } },
      }),
    },
    vmDefaults: { memoryMiB: 256, cpus: 1 },
    hostCpus: 2,
  };
  const s = { ...base, engine: new PodEngine(base as unknown as EngineDeps) } as unknown as NativeServices;
  return { s, made, calls };
}

const YAML = `apiVersion: v1
kind: Pod
metadata:
  name: kpod
  labels: {app: demo}
spec:
  volumes: [{name: shared, emptyDir: {}}]
  initContainers:
    - {name: seed, image: busybox, command: [sh, -c, "echo x > /d/x"], volumeMounts: [{name: shared, mountPath: /d}]}
  containers:
    - {name: writer, image: busybox, command: [sleep, "100"], volumeMounts: [{name: shared, mountPath: /d}]}
    - {name: reader, image: busybox, args: [cat, /d/x]}
`;

test('a YAML pod file body makes the pod, started with ?start=true, with Docker data for its main container', async () => {
  const { s, made, calls } = services();
  const res = await request(createNativeApp(s))
    .post('/v1/pods?start=true')
    .set('Content-Type', 'application/yaml')
    .send(YAML);
  expect(res.status).toBe(201);
  expect(made).toHaveLength(1);
  const { spec, name, frontend } = made[0];
  expect(name).toBe('kpod');
  expect(spec.containers.map((c) => `${c.name}${c.init ? ':init' : ''} ${c.args.join(' ')}`)).toEqual([
    'seed:init sh -c echo x > /d/x',
    'writer sleep 100',
    'reader cat /d/x',
  ]);
  expect(spec.containers[1].id).toBe(spec.id);
  expect(spec.labels).toEqual({ app: 'demo', 'io.podvisor.pod': 'kpod', 'io.podvisor.api': 'native' });
  expect(frontend.imageRef).toBe('busybox');
  expect(frontend.config.Labels).toEqual(spec.labels);
  expect([...(frontend.config.Entrypoint ?? []), ...(frontend.config.Cmd ?? [])]).toEqual(['sleep', '100']);
  expect(frontend.hostConfig.NetworkMode).toBeDefined();
  expect(calls).toEqual([`start ${spec.id}`]);
  expect(res.body.containers.map((c: { name: string }) => c.name)).toEqual(['seed', 'writer', 'reader']);
});

test('a hyper podfile as a JSON spec; the single-container spec still works', async () => {
  const { s, made } = services();
  const app = createNativeApp(s);
  const hyper = await request(app)
    .post('/v1/pods')
    .send({ spec: { id: 'hpod', containers: [{ name: 'main', image: 'busybox', command: ['sleep', '9'] }] } });
  expect(hyper.status).toBe(201);
  expect(made[0].name).toBe('hpod');
  expect(made[0].spec.containers[0].name).toBe('main');
  const single = await request(app)
    .post('/v1/pods')
    .send({ spec: { name: 'one', image: 'busybox', command: ['true'] } });
  expect(single.status).toBe(201);
  expect(made[1].spec.containers).toHaveLength(1);
});

test('a bad pod file is a 400 naming each field, and nothing is created', async () => {
  const { s, made } = services();
  const app = createNativeApp(s);
  const bad = YAML.replace('name: writer, ', 'name: writer, lifecycle: {preStop: {exec: {command: ["true"]}}}, ');
  const res = await request(app).post('/v1/pods').set('Content-Type', 'text/yaml').send(bad);
  expect(res.status).toBe(400);
  expect(res.body.message).toMatch(/lifecycle/);
  const port = await request(app)
    .post('/v1/pods')
    .send({
      spec: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'pp' },
        spec: {
          containers: [
            { name: 'a', image: 'busybox', ports: [{ containerPort: 80, hostPort: 8080 }] },
            { name: 'b', image: 'busybox', ports: [{ containerPort: 81, hostPort: 8080 }] },
          ],
        },
      },
    });
  expect(port.status).toBe(400);
  expect(port.body.message).toBe(
    'pod file: spec.containers[1].ports[0].hostPort: 8080/tcp is already published by spec.containers[0].ports[0]',
  );
  expect(made).toHaveLength(0);
});
