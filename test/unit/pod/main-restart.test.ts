/**
 * The main container of a pod of several restarts in place, as the others do (on the fake
 * hypervisor): the other containers and the VM stay, its restart count grows, `die` and
 * `start` are published for it, waiters are woken at its exit, and stop, kill and a daemon
 * restart while it waits for its restart leave consistent records. And every container of such
 * a pod has its own events (id, name POD.CONTAINER).
 */
import { harness, type Harness } from './fakes';
import type { DaemonEvent } from '../../../src/pod/events';
import { mainContainer, podPhase, type PodContainerSpec, type PodSpec } from '../../../src/pod/types';

let h: Harness;
let seen: DaemonEvent[];
beforeEach(async () => {
  h = await harness();
  seen = [];
  h.events.subscribe((e) => seen.push(e));
});
afterEach(async () => {
  await h.cleanup();
});

const MAIN = 'f'.repeat(64);
const SIDE = 'e'.repeat(64);

/** A pod of two app containers, `app` (main, the pod's id) and `side`, under `policy`. */
async function pod(
  name: string,
  mainCmd: string[],
  sideCmd: string[],
  policy: PodSpec['restartPolicy'],
): Promise<PodSpec> {
  const one = await h.create({ Image: 'busybox', Cmd: mainCmd });
  await h.pods.remove(one.id, { force: true });
  const base = structuredClone(mainContainer(one).spec);
  const spec = structuredClone({ ...one.sandbox.spec, containers: [] }) as unknown as PodSpec;
  spec.id = MAIN;
  spec.restartPolicy = policy;
  const side: PodContainerSpec = { ...base, id: SIDE, name: 'side', args: sideCmd };
  spec.containers = [{ ...base, id: MAIN, name: 'app' }, side];
  await h.pods.create(spec, name, null);
  seen = [];
  return spec;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait (generously) until `what` holds. */
async function until(what: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !what(); i++) await wait(10);
  expect(what()).toBe(true);
}

/** The actions of the container events of `id`, in order. */
const actions = (id: string) => seen.filter((e) => e.type === 'container' && e.id === id).map((e) => e.action);

const ALWAYS = { name: 'always', maximumRetryCount: 0 } as const;

test('under always the main container restarts in place: the sidecar and the VM stay, its count grows, die then start', async () => {
  await pod('duo', ['sh', '-c', 'sleep 0.05; exit 3'], ['sleep', '100'], ALWAYS);
  await h.pods.start('duo');
  const r = () => h.pods.get('duo');
  const vm = r().sandbox.vmId;
  const sidePid = r().containers[SIDE].state.pid;
  // A wait answers the main container's exit (as dockerd's for a container that restarts).
  const w = h.pods.wait('duo', 'next-exit');
  expect((await w).exitCode).toBe(3);
  await until(() => r().containers[MAIN].restartCount >= 2);
  expect(r().sandbox.vmId).toBe(vm);
  expect(r().containers[SIDE]).toMatchObject({ restartCount: 0, state: { status: 'running', pid: sidePid } });
  expect(h.pods.isRunning('duo')).toBe(true);
  expect(podPhase(r())).toBe('running');
  // Each exit of the main container is published under the pod's id, then its new start.
  const main = actions(MAIN);
  expect(main.slice(0, 4)).toEqual(['start', 'die', 'start', 'die']);
  const die = seen.find((e) => e.id === MAIN && e.action === 'die') as DaemonEvent;
  expect(die.attributes).toMatchObject({ exitCode: '3', name: 'duo' });
  expect(actions(SIDE)).toEqual(['start']);
  // The record on disk follows.
  await h.state.flush();
  await h.pods.stop('duo', 0);
  expect(h.pods.isRunning('duo')).toBe(false);
  expect(Object.values(r().containers).map((c) => c.state.status)).toEqual(['exited', 'exited']);
  expect(actions(SIDE)).toEqual(['start', 'kill', 'die', 'stop']);
});

test("a stop while the main container waits for its restart cancels it; its last exit code stays the pod's", async () => {
  await pod('slow', ['sh', '-c', 'exit 4'], ['sleep', '100'], ALWAYS);
  await h.pods.start('slow');
  const r = () => h.pods.get('slow');
  // Its backoff grows (100, 200, 400 ms...): catch it while it waits.
  await until(() => r().containers[MAIN].restartCount >= 2 && r().containers[MAIN].state.status === 'restarting');
  const count = r().containers[MAIN].restartCount;
  const w = h.pods.wait('slow', 'not-running');
  await h.pods.stop('slow', 0);
  expect((await w).exitCode).toBe(4);
  await wait(300);
  expect(r().containers[MAIN]).toMatchObject({ restartCount: count, state: { status: 'exited', exitCode: 4 } });
  expect(r().containers[SIDE].state.status).toBe('exited');
  expect(podPhase(r())).toBe('created');
  // Waits on a stopped pod answer at once with the main container's last code.
  expect((await h.pods.wait('slow', 'not-running')).exitCode).toBe(4);
});

test('a kill while the main container waits for its restart keeps it from restarting; the sidecar runs on', async () => {
  await pod('hup', ['sh', '-c', 'exit 4'], ['sleep', '100'], ALWAYS);
  await h.pods.start('hup');
  const r = () => h.pods.get('hup');
  await until(() => r().containers[MAIN].restartCount >= 1 && r().containers[MAIN].state.status === 'restarting');
  await h.pods.kill('hup', 1);
  expect(r().containers[MAIN].state.status).toBe('exited');
  const count = r().containers[MAIN].restartCount;
  await wait(500);
  expect(r().containers[MAIN].restartCount).toBe(count);
  expect(r().containers[SIDE].state.status).toBe('running');
  expect(h.pods.isRunning('hup')).toBe(true);
  // With the main container gone, a signal for it has nothing to reach.
  await expect(h.pods.kill('hup', 1)).rejects.toThrow(/not running/i);
  await h.pods.kill('hup', 9);
  expect(h.pods.isRunning('hup')).toBe(false);
});

test('under on-failure, the main container that exits 0 stays exited while the sidecar runs; the pod then ends', async () => {
  await pod('done', ['sh', '-c', 'exit 0'], ['sh', '-c', 'sleep 0.3; exit 0'], {
    name: 'on-failure',
    maximumRetryCount: 0,
  });
  await h.pods.start('done');
  const r = () => h.pods.get('done');
  await until(() => r().containers[MAIN].state.status === 'exited');
  expect(r().containers[MAIN].restartCount).toBe(0);
  await until(() => !h.pods.isRunning('done'));
  expect(Object.values(r().containers).map((c) => [c.state.status, c.restartCount])).toEqual([
    ['exited', 0],
    ['exited', 0],
  ]);
});

test('a daemon restart while the main container waits for its restart: re-adopted, it restarts, the sidecar was not touched', async () => {
  await pod('keep', ['sh', '-c', 'exit 5'], ['sleep', '100'], ALWAYS);
  await h.pods.start('keep');
  await until(
    () =>
      h.pods.get('keep').containers[MAIN].restartCount >= 3 &&
      h.pods.get('keep').containers[MAIN].state.status === 'restarting',
  );
  const before = h.pods.get('keep');
  const sidePid = before.containers[SIDE].state.pid;
  const count = before.containers[MAIN].restartCount;
  const vm = before.sandbox.vmId;
  const pods = await h.restartDaemon();
  await pods.whenAdopted('keep');
  await until(() => pods.get('keep').containers[MAIN].restartCount > count);
  const after = pods.get('keep');
  expect(after.sandbox.vmId).toBe(vm);
  expect(after.containers[SIDE]).toMatchObject({ restartCount: 0, state: { status: 'running', pid: sidePid } });
  await pods.stop('keep', 0);
  expect(Object.values(pods.get('keep').containers).map((c) => c.state.status)).toEqual(['exited', 'exited']);
});

test('each container of a pod of several has its own events, under its own id and the name POD.CONTAINER', async () => {
  await pod('ev', ['sleep', '100'], ['sh', '-c', 'sleep 0.05; exit 7'], { name: 'on-failure', maximumRetryCount: 1 });
  await h.pods.start('ev');
  await until(() => actions(SIDE).filter((a) => a === 'die').length === 2);
  expect(h.pods.get('ev').containers[SIDE]).toMatchObject({
    restartCount: 1,
    state: { status: 'exited', exitCode: 7 },
  });
  const side = seen.filter((e) => e.id === SIDE);
  expect(side.map((e) => e.action)).toEqual(['start', 'die', 'start', 'die']);
  for (const e of side)
    expect(e.attributes).toMatchObject({ name: 'ev.side', 'io.podvisor.container': 'side', image: 'busybox' });
  expect(side[1].attributes.exitCode).toBe('7');
  const x = await h.pods.execCreate('ev', {
    args: ['true'],
    env: [],
    workingDir: '',
    user: '',
    tty: false,
    attachStdin: false,
    attachStdout: false,
    attachStderr: false,
    detachKeys: '',
    privileged: false,
    container: 'app',
  });
  expect(seen.some((e) => e.id === MAIN && e.action === 'exec_create: true' && e.attributes.execID === x.id)).toBe(
    true,
  );
  await h.pods.remove('ev', { force: true });
  expect(actions(SIDE).slice(-1)).toEqual(['destroy']);
  expect(actions(MAIN).slice(-3)).toEqual(['kill', 'die', 'destroy']);
});

test('under Never a daemon restart after the main container exited keeps the pod running with its sidecar', async () => {
  await pod('nev', ['sh', '-c', 'exit 2'], ['sleep', '100'], { name: 'no', maximumRetryCount: 0 });
  await h.pods.start('nev');
  await until(() => h.pods.get('nev').containers[MAIN].state.status === 'exited');
  const sidePid = h.pods.get('nev').containers[SIDE].state.pid;
  await h.state.flush();
  const pods = await h.restartDaemon();
  await pods.whenAdopted('nev');
  expect(pods.isRunning('nev')).toBe(true);
  const r = pods.get('nev');
  expect(r.containers[MAIN]).toMatchObject({ restartCount: 0, state: { status: 'exited', exitCode: 2 } });
  expect(r.containers[SIDE].state).toMatchObject({ status: 'running', pid: sidePid });
  expect((await pods.wait('nev', 'not-running')).exitCode).toBe(2);
  await pods.stop('nev', 0);
  expect(pods.isRunning('nev')).toBe(false);
});

test("a wait for a container of a pod of several answers that container's exits, each one, with its own code", async () => {
  await pod('waits', ['sleep', '100'], ['sh', '-c', 'sleep 0.1; exit 6'], { name: 'on-failure', maximumRetryCount: 1 });
  await h.pods.start('waits');
  const first = h.pods.wait('waits', 'next-exit', 'side');
  const main = h.pods.wait('waits', 'next-exit');
  expect(await first).toEqual({ exitCode: 6 });
  // It restarts in place (on-failure:1): a new wait answers its next exit.
  expect(await h.pods.wait('waits', 'next-exit', SIDE)).toEqual({ exitCode: 6 });
  await until(() => h.pods.get('waits').containers[SIDE].state.status === 'exited');
  expect(await h.pods.wait('waits', 'not-running', 'side')).toEqual({ exitCode: 6 });
  expect(() => h.pods.wait('waits', 'not-running', 'nope')).toThrow(/nope/);
  // The main container's waiter was not woken by the sidecar: it answers the main's exit.
  await h.pods.kill('waits', 9);
  expect(await main).toEqual({ exitCode: 137 });
});
