/**
 * The probe workers (src/pod/health/probes.ts) on the fake hypervisor: a liveness probe that starts
 * failing kills its container, which restarts in place (same VM, the other container
 * untouched, its restart count up), under OnFailure too and not under Never; a startup probe
 * holds liveness and readiness off, and one that keeps failing kills; readiness flips the
 * container's `ready` and the pod's Ready condition both ways; http and tcp probes run from
 * the host; the workers stop with the run.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import { harness, type Harness } from './fakes';
import type { DaemonEvent } from '../../../src/pod/events';
import type { ProbeSpec } from '../../../src/pod/health/probe-state';
import { containerReady, mainContainer, type PodContainerSpec, type PodSpec } from '../../../src/pod/types';
import { podView } from '../../../src/api/native/views';

let h: Harness;
let seen: DaemonEvent[];
const servers: http.Server[] = [];
beforeEach(async () => {
  h = await harness();
  seen = [];
  h.events.subscribe((e) => seen.push(e));
});
afterEach(async () => {
  for (const r of h.pods.list()) await h.pods.remove(r.id, { force: true });
  await h.pods.settled();
  await h.cleanup();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

const MAIN = 'f'.repeat(64);
const SIDE = 'e'.repeat(64);
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: () => boolean, ms = 8000): Promise<void> {
  for (let t = 0; t < ms && !what(); t += 10) await wait(10);
  expect(what()).toBe(true);
}

/** A fast probe (the pod layer takes milliseconds). */
function probe(action: ProbeSpec['action'], extra: Partial<ProbeSpec> = {}): ProbeSpec {
  return {
    action,
    initialDelayMs: 0,
    periodMs: 40,
    timeoutMs: 500,
    failureThreshold: 2,
    successThreshold: 1,
    killGraceSeconds: 1,
    ...extra,
  };
}

/** A fake program whose exit code a test sets: `check NAME` exits codes[NAME] (0 when unset), counting its runs. */
const codes = new Map<string, number>();
const runs = new Map<string, number>();
function installCheck(): void {
  h.hv.programs.set('check', async (ctx) => {
    const name = ctx.args[1] ?? '';
    runs.set(name, (runs.get(name) ?? 0) + 1);
    return codes.get(name) ?? 0;
  });
}

/**
 * A pod from a pod file's shape: `app` (main) with `probes`, and optionally a sidecar, under
 * `policy`, restarting its containers in place.
 */
async function pod(
  name: string,
  probes: PodContainerSpec['probes'],
  policy: PodSpec['restartPolicy']['name'],
  sidecar = true,
): Promise<void> {
  installCheck();
  const one = await h.create({ Image: 'busybox', Cmd: ['sleep', '100'] });
  await h.pods.remove(one.id, { force: true });
  const base = structuredClone(mainContainer(one).spec);
  const spec = structuredClone({ ...one.sandbox.spec, containers: [] }) as unknown as PodSpec;
  spec.id = MAIN;
  spec.restartPolicy = { name: policy, maximumRetryCount: 0 };
  spec.restartInPlace = true;
  spec.containers = [{ ...base, id: MAIN, name: 'app', stopTimeout: 1, probes }];
  if (sidecar) spec.containers.push({ ...base, id: SIDE, name: 'side', args: ['sleep', '100'] });
  await h.pods.create(spec, name, null);
}

beforeEach(() => {
  codes.clear();
  runs.clear();
});

const rec = (name: string) => h.pods.get(name);
const app = (name: string) => rec(name).containers[MAIN];

test('a liveness probe that starts failing kills its container, which restarts in place: same VM, the sidecar untouched, restartCount up', async () => {
  await pod('live', { liveness: probe({ type: 'exec', args: ['check', 'live'] }) }, 'always');
  await h.pods.start('live');
  const vm = rec('live').sandbox.vmId;
  const sidePid = rec('live').containers[SIDE].state.pid;
  await until(() => (runs.get('live') ?? 0) >= 3);
  expect(app('live').restartCount).toBe(0);
  codes.set('live', 1);
  await until(() => app('live').restartCount === 1);
  codes.set('live', 0);
  await until(() => app('live').state.status === 'running');
  expect(rec('live').sandbox.vmId).toBe(vm);
  expect(rec('live').containers[SIDE]).toMatchObject({ restartCount: 0, state: { status: 'running', pid: sidePid } });
  // Killed with its stop signal, then started again; the probe runs in the new run.
  const actions = seen.filter((e) => e.type === 'container' && e.id === MAIN).map((e) => e.action);
  expect(actions.filter((a) => !a.startsWith('exec_'))).toEqual(['create', 'start', 'kill', 'die', 'start']);
  const before = runs.get('live') ?? 0;
  await until(() => (runs.get('live') ?? 0) >= before + 2);
  expect(app('live').restartCount).toBe(1);
});

test('in a pod of one from a pod file the container restarts in place too; under OnFailure a probe kill restarts it whatever its exit code', async () => {
  // `trap-term` exits 0 on SIGTERM: OnFailure would not restart such an exit by itself.
  await pod('solo', { liveness: probe({ type: 'exec', args: ['check', 'solo'] }) }, 'on-failure', false);
  const r = rec('solo');
  r.containers[MAIN].spec.args = ['trap-term'];
  await h.pods.start('solo');
  const vm = rec('solo').sandbox.vmId;
  codes.set('solo', 1);
  await until(() => app('solo').restartCount === 1);
  codes.set('solo', 0);
  await until(() => app('solo').state.status === 'running');
  expect(rec('solo').sandbox.vmId).toBe(vm);
  expect(h.pods.isRunning('solo')).toBe(true);
});

test('under Never the killed container stays exited; the sidecar runs on', async () => {
  await pod('never', { liveness: probe({ type: 'exec', args: ['check', 'never'] }) }, 'no');
  codes.set('never', 1);
  await h.pods.start('never');
  await until(() => app('never').state.status === 'exited');
  await wait(300);
  expect(app('never')).toMatchObject({ restartCount: 0, state: { status: 'exited' } });
  expect(rec('never').containers[SIDE].state.status).toBe('running');
  expect(h.pods.isRunning('never')).toBe(true);
});

test('a startup probe holds liveness and readiness off until it succeeds', async () => {
  codes.set('start', 1);
  codes.set('live', 1);
  await pod(
    'slow',
    {
      startup: probe({ type: 'exec', args: ['check', 'start'] }, { failureThreshold: 1000 }),
      liveness: probe({ type: 'exec', args: ['check', 'live'] }, { failureThreshold: 1 }),
      readiness: probe({ type: 'exec', args: ['check', 'ready'] }),
    },
    'always',
  );
  await h.pods.start('slow');
  await until(() => (runs.get('start') ?? 0) >= 5);
  expect(runs.get('live')).toBeUndefined();
  expect(runs.get('ready')).toBeUndefined();
  expect(app('slow').probeStatus).toEqual({ started: false, ready: false });
  expect(podView(rec('slow')).containers[0]).toMatchObject({ status: 'running', started: false, ready: false });
  codes.set('live', 0);
  codes.set('start', 0);
  await until(() => containerReady(app('slow')));
  expect(app('slow').probeStatus).toEqual({ started: true, ready: true });
  expect((runs.get('live') ?? 0) + (runs.get('ready') ?? 0)).toBeGreaterThan(0);
  const startRuns = runs.get('start');
  await wait(200);
  // Started: the startup probe runs no more.
  expect(runs.get('start')).toBe(startRuns);
  expect(app('slow').restartCount).toBe(0);
});

test('a startup probe that fails failureThreshold times kills the container; it restarts in place', async () => {
  codes.set('boot', 1);
  await pod('boot', { startup: probe({ type: 'exec', args: ['check', 'boot'] }, { failureThreshold: 3 }) }, 'always');
  await h.pods.start('boot');
  await until(() => app('boot').restartCount >= 1);
  expect(runs.get('boot')).toBeGreaterThanOrEqual(3);
  codes.set('boot', 0);
  await until(() => app('boot').probeStatus?.started === true && app('boot').state.status === 'running');
  expect(rec('boot').containers[SIDE].restartCount).toBe(0);
});

test("readiness flips the container's ready and the pod's Ready condition both ways, and never kills", async () => {
  codes.set('rd', 1);
  await pod('rdy', { readiness: probe({ type: 'exec', args: ['check', 'rd'] }, { successThreshold: 2 }) }, 'always');
  await h.pods.start('rdy');
  await until(() => (runs.get('rd') ?? 0) >= 4);
  let view = podView(rec('rdy'));
  expect(view.ready).toBe(false);
  expect(view.conditions).toEqual([
    { type: 'ContainersReady', status: 'False' },
    { type: 'Ready', status: 'False' },
  ]);
  expect(view.containers.map((c) => [c.name, c.ready])).toEqual([
    ['app', false],
    ['side', true],
  ]);
  codes.set('rd', 0);
  await until(() => podView(rec('rdy')).ready);
  view = podView(rec('rdy'));
  expect(view.conditions).toEqual([
    { type: 'ContainersReady', status: 'True' },
    { type: 'Ready', status: 'True' },
  ]);
  codes.set('rd', 1);
  await until(() => !podView(rec('rdy')).ready);
  expect(app('rdy')).toMatchObject({ restartCount: 0, state: { status: 'running' } });
  // A stopped pod is not ready, and its probes stop with its run.
  await h.pods.stop('rdy', 0);
  const after = runs.get('rd');
  await wait(200);
  expect(runs.get('rd')).toBe(after);
  expect(podView(rec('rdy')).ready).toBe(false);
});

test("an http probe runs from the host: a readiness httpGet follows the server's answer", async () => {
  let status = 503;
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(status);
    res.end();
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await pod(
    'web',
    { readiness: probe({ type: 'http', host: '127.0.0.1', port, path: '/ready', scheme: 'http', headers: [] }) },
    'always',
  );
  await h.pods.start('web');
  await until(() => paths.length >= 3);
  expect(paths[0]).toBe('/ready');
  expect(containerReady(app('web'))).toBe(false);
  status = 200;
  await until(() => containerReady(app('web')));
});

test('a tcp probe runs from the host: a liveness tcpSocket probe on a closed port kills', async () => {
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const closedPort = (closed.address() as net.AddressInfo).port;
  await new Promise((r) => closed.close(r));
  await pod('tcp', { liveness: probe({ type: 'tcp', host: '127.0.0.1', port: closedPort }) }, 'always');
  await h.pods.start('tcp');
  await until(() => app('tcp').restartCount >= 1);
  expect(app('tcp').restartCount).toBeGreaterThanOrEqual(1);
});

test('a network probe with no host in a pod without an address fails (and says why)', async () => {
  await pod('nonet', { readiness: probe({ type: 'tcp', port: 80 }, { failureThreshold: 1 }) }, 'always');
  await h.pods.start('nonet');
  await wait(300);
  expect(containerReady(app('nonet'))).toBe(false);
  expect(app('nonet').state.status).toBe('running');
});
