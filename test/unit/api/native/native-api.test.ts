/**
 * The native API's routes over in-memory stand-ins for the pod service: statuses, JSON error
 * bodies that name what is wrong, and that a refused request changes nothing.
 */
import request from 'supertest';
import { NotFoundError, NotModifiedError } from '../../../../src/errors';
import { PodNotRunningError } from '../../../../src/pod/errors';
import { createNativeApp, isNativeRequest } from '../../../../src/api/native/server';
import type { NativeServices } from '../../../../src/api/native/services';
import { PodEngine, type EngineDeps } from '../../../../src/engine/engine';
import type { PodRecord } from '../../../../src/pod/types';

function record(id: string, name: string, vmId?: string): PodRecord {
  return {
    version: 2,
    id,
    name,
    created: '2026-11-23T10:00:00Z',
    sandbox: {
      spec: {
        id,
        hostname: 'h',
        domainname: '',
        labels: { a: 'b' },
        vm: { memoryMiB: 256, cpus: 1 },
        restartPolicy: { name: 'no', maximumRetryCount: 0 },
        autoRemove: false,
      },
      ...(vmId ? { vmId } : {}),
    },
    containers: {
      [id]: {
        spec: {
          id,
          image: 'sha256:x',
          imageRef: 'busybox',
          args: ['sleep', '9'],
          env: [],
          workingDir: '/',
          user: '',
          tty: false,
          openStdin: false,
          stdinOnce: false,
          stopSignal: 15,
          stopTimeout: 10,
        },
        state: {
          status: vmId ? 'running' : 'created',
          pid: 0,
          exitCode: 0,
          error: '',
          startedAt: '',
          finishedAt: '',
          oomKilled: false,
        },
        restartCount: 0,
      },
    },
    manuallyStopped: false,
    frontend: {},
  };
}

function services(pods: PodRecord[]) {
  const calls: string[] = [];
  const find = (ref: string) => {
    const p = pods.find((r) => r.id === ref || r.name === ref);
    if (!p) throw new NotFoundError(`no pod matches "${ref}"`);
    return p;
  };
  const base = {
    pods: {
      list: () => pods,
      get: find,
      isRunning: (ref: string) => !!find(ref).sandbox.vmId,
      // As the pod layer decides it, inside the pod's operation: NotModifiedError when already so.
      stop: async (ref: string) => {
        if (!find(ref).sandbox.vmId) throw new NotModifiedError('container already stopped');
        calls.push(`stop ${ref}`);
      },
      start: async (ref: string) => {
        if (find(ref).sandbox.vmId) throw new NotModifiedError('container already started');
        calls.push(`start ${ref}`);
      },
      create: async () => {
        calls.push('create');
        return pods[0];
      },
      remove: async (ref: string, o: { force: boolean }) => void calls.push(`rm ${ref} ${o.force}`),
    },
    vms: {
      listVms: () => [{ id: '0123456789ab', state: 'Idle', memoryMiB: 256, cpus: 1, held: true }],
      bootVm: async (size: unknown) => {
        calls.push(`boot ${JSON.stringify(size)}`);
        return { id: '0123456789ab', state: 'Idle', memoryMiB: 256, cpus: 1, held: true };
      },
      stopKeepingVm: async (ref: string) => {
        if (!find(ref).sandbox.vmId) throw new PodNotRunningError(find(ref).id);
        calls.push(`keep ${ref}`);
        return { id: '0123456789ab', state: 'Idle', memoryMiB: 256, cpus: 1, held: true };
      },
    },
    images: { resolve: async () => ({ id: 'sha256:x', config: { config: {} } }) },
    vmDefaults: { memoryMiB: 256, cpus: 1 },
    hostCpus: 2,
  };
  const s = { ...base, engine: new PodEngine(base as unknown as EngineDeps) } as unknown as NativeServices;
  return { s, calls };
}

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

test('only /v1/pods and /v1/vms are the native API', () => {
  expect(isNativeRequest('/v1/pods')).toBe(true);
  expect(isNativeRequest('/v1/vms/abc')).toBe(true);
  expect(isNativeRequest('/v1/pods?x=1')).toBe(true);
  expect(isNativeRequest('/v1.41/containers/json')).toBe(false);
  expect(isNativeRequest('/v1/podsx')).toBe(false);
});

test('GET /v1/pods: the seeds states, the VM, the containers', async () => {
  const { s } = services([record(A, 'web', '0123456789ab'), record(B, 'idle')]);
  const r = await request(createNativeApp(s)).get('/v1/pods');
  expect(r.status).toBe(200);
  expect(r.body.map((p: { name: string; state: string; vm: string | null }) => [p.name, p.state, p.vm])).toEqual([
    ['web', 'Running', '0123456789ab'],
    ['idle', 'Created', null],
  ]);
  expect(r.body[0].containers[0]).toEqual({
    id: A,
    image: 'busybox',
    command: ['sleep', '9'],
    status: 'running',
    exitCode: 0,
    restartCount: 0,
    ready: true,
    started: true,
    tty: false,
  });
});

test('an unknown pod is a 404 with a JSON message', async () => {
  const { s } = services([]);
  const r = await request(createNativeApp(s)).get('/v1/pods/nope');
  expect(r.status).toBe(404);
  expect(r.body).toEqual({ message: 'no pod matches "nope"' });
});

test('a spec with an unknown or mistyped field is refused by name, and nothing is created', async () => {
  const { s, calls } = services([]);
  const app = createNativeApp(s);
  let r = await request(app)
    .post('/v1/pods')
    .send({ spec: { image: 'busybox', comand: ['x'] } });
  expect(r.status).toBe(400);
  expect(r.body.message).toContain('unknown field "comand"');
  r = await request(app)
    .post('/v1/pods')
    .send({ spec: { image: 'busybox', command: 'sleep 1' } });
  expect(r.status).toBe(400);
  expect(r.body.message).toBe('spec: field "command" must be an array of strings');
  r = await request(app).post('/v1/pods').send({ spec: {} });
  expect(r.body.message).toContain('"image" is required');
  r = await request(app)
    .post('/v1/pods')
    .send({ spec: { image: 'busybox' }, start: 'yes' });
  expect(r.body.message).toBe('field "start" must be true or false');
  r = await request(app).post('/v1/pods').set('Content-Type', 'application/json').send('{"spec": ');
  expect(r.status).toBe(400);
  expect(r.body.message).toContain('not valid JSON');
  expect(calls).toEqual([]);
});

test('stop: 409 when not running; keepVm answers the idle VM', async () => {
  const { s, calls } = services([record(A, 'web', '0123456789ab'), record(B, 'idle')]);
  const app = createNativeApp(s);
  let r = await request(app).post('/v1/pods/idle/stop').send({});
  expect(r.status).toBe(409);
  expect(r.body.message).toBe('pod idle is not running');
  r = await request(app).post('/v1/pods/idle/stop').send({ keepVm: true });
  expect(r.status).toBe(409);
  expect(r.body.message).toBe('pod idle is not running');
  r = await request(app).post('/v1/pods/web/start').send({});
  expect(r.status).toBe(409);
  expect(r.body.message).toBe('pod web is already running');
  r = await request(app).post('/v1/pods/web/stop').send({ keepVm: true, timeout: 2 });
  expect(r.status).toBe(200);
  expect(r.body.vm).toEqual({ id: '0123456789ab', state: 'Idle', memoryMiB: 256, cpus: 1, held: true });
  r = await request(app).post('/v1/pods/web/stop').send({ timeout: 1.5 });
  expect(r.status).toBe(400);
  expect(calls).toEqual([`keep ${A}`]);
});

test('VMs: boot with a size, bad sizes refused; unknown routes are JSON 404s', async () => {
  const { s, calls } = services([]);
  const app = createNativeApp(s);
  expect((await request(app).post('/v1/vms').send({ memoryMiB: 512 })).status).toBe(201);
  const bad = await request(app).post('/v1/vms').send({ memoryMiB: 12 });
  expect(bad.status).toBe(400);
  expect(bad.body.message).toBe('field "memoryMiB" must be an integer from 64 to 1048576');
  expect(calls).toEqual(['boot {"memoryMiB":512}']);
  const r = await request(app).post('/v1/pods/x/frob');
  expect(r.status).toBe(404);
  expect(r.body.message).toContain('no such route');
});
