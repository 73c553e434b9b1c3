/**
 * Pods of several containers (on the fake hypervisor): each container has its own state, init
 * process and restart count; the pod's phase is derived from them. And the record of the
 * previous layout (one state per pod) is migrated at load.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { harness, type Harness } from './fakes';
import { RECORD_FILE } from '../../../src/storage/state';
import { mainContainer, podPhase, type PodContainerSpec, type PodSpec } from '../../../src/pod/types';
import { migrateV1 } from '../../../src/pod/records/record';
import { NoSuchPodError } from '../../../src/pod/errors';

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(async () => {
  await h.cleanup();
});

/** A two-container pod spec: the main container (the pod's id) and a sidecar. */
async function twoContainers(mainCmd: string[], sideCmd: string[]): Promise<PodSpec> {
  const one = await h.create({ Image: 'busybox', Cmd: mainCmd });
  await h.pods.remove(one.id, { force: true });
  const spec = structuredClone({ ...one.sandbox.spec, containers: [mainContainer(one).spec] }) as PodSpec;
  spec.id = 'f'.repeat(64);
  const side: PodContainerSpec = { ...spec.containers[0], id: 'e'.repeat(64), args: sideCmd };
  spec.containers = [{ ...spec.containers[0], id: spec.id }, side];
  return spec;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !what(); i++) await wait(10);
  expect(what()).toBe(true);
}

test('each container has its own state and init; the pod is Running while its main container runs', async () => {
  const spec = await twoContainers(['sleep', '10'], ['sh', '-c', 'exit 5']);
  const r = await h.pods.create(spec, 'duo', null);
  expect(Object.keys(r.containers)).toEqual([spec.id, 'e'.repeat(64)]);
  expect(podPhase(r)).toBe('created');
  await h.pods.start('duo');
  const side = () => h.pods.get('duo').containers['e'.repeat(64)];
  // The sidecar exits by itself with its own code; the pod goes on running.
  await until(() => side().state.status === 'exited');
  expect(side().state.exitCode).toBe(5);
  expect(mainContainer(h.pods.get('duo')).state.status).toBe('running');
  expect(podPhase(h.pods.get('duo'))).toBe('running');
  // Its own exit was persisted too.
  await h.state.flush();
  const onDisk = JSON.parse(fs.readFileSync(path.join(h.state.root, spec.id, RECORD_FILE), 'utf8'));
  expect(onDisk.containers['e'.repeat(64)].state).toMatchObject({ status: 'exited', exitCode: 5 });
  expect(onDisk.containers[spec.id].process).toMatch(/^init-/);
  // The main container's exit ends the run: the pod is Created again.
  await h.pods.kill('duo', 9);
  const after = h.pods.get('duo');
  expect(mainContainer(after).state).toMatchObject({ status: 'exited', exitCode: 137 });
  expect(after.containers['e'.repeat(64)].state.exitCode).toBe(5);
  expect(podPhase(after)).toBe('created');
  expect(after.sandbox.vmId).toBeUndefined();
});

test("the pod runs while any app container runs; its exit code is the main container's", async () => {
  const spec = await twoContainers(['sh', '-c', 'exit 2'], ['sleep', '1']);
  await h.pods.create(spec, 'pair', null);
  const w = h.pods.wait('pair', 'next-exit');
  await h.pods.start('pair');
  await until(() => h.pods.get('pair').containers[spec.id].state.status === 'exited');
  expect(h.pods.isRunning('pair')).toBe(true);
  expect(h.pods.get('pair').containers[spec.id].state.exitCode).toBe(2);
  expect((await w).exitCode).toBe(2);
  // The wait answered the main container's exit; the pod ran on until the sidecar's.
  await until(() => !h.pods.isRunning('pair'));
  const r = h.pods.get('pair');
  expect(r.containers['e'.repeat(64)].state).toMatchObject({ status: 'exited', exitCode: 0 });
  expect(Object.values(r.containers).every((c) => c.process === undefined)).toBe(true);
});

test('under on-failure a failing sidecar restarts in place, alone, with its backoff; one that exits 0 stays exited', async () => {
  const spec = await twoContainers(['sleep', '10'], ['sh', '-c', 'exit 5']);
  spec.containers.push({ ...spec.containers[1], id: 'd'.repeat(64), args: ['sh', '-c', 'exit 0'] });
  spec.restartPolicy = { name: 'on-failure', maximumRetryCount: 3 };
  await h.pods.create(spec, 'trio', null);
  await h.pods.start('trio');
  const main = () => h.pods.get('trio').containers[spec.id];
  const pid = main().state.pid;
  const vm = h.pods.get('trio').sandbox.vmId;
  const side = () => h.pods.get('trio').containers['e'.repeat(64)];
  // Three restarts (100 + 200 + 400 ms of backoff), then on-failure:3 gives up.
  await until(() => side().restartCount === 3 && side().state.status === 'exited');
  expect(side().state.exitCode).toBe(5);
  expect(h.pods.get('trio').containers['d'.repeat(64)]).toMatchObject({
    restartCount: 0,
    state: { status: 'exited', exitCode: 0 },
  });
  // The main container and the VM were not touched.
  expect(main()).toMatchObject({ restartCount: 0, state: { status: 'running', pid } });
  expect(h.pods.get('trio').sandbox.vmId).toBe(vm);
  await h.pods.stop('trio', 0);
  expect(podPhase(h.pods.get('trio'))).toBe('created');
});

test('a stop while a sidecar waits for its restart in place cancels that restart; nothing is left restarting', async () => {
  const spec = await twoContainers(['sleep', '10'], ['sh', '-c', 'exit 1']);
  spec.restartPolicy = { name: 'always', maximumRetryCount: 0 };
  await h.pods.create(spec, 'busy', null);
  await h.pods.start('busy');
  const side = () => h.pods.get('busy').containers['e'.repeat(64)];
  await until(() => side().restartCount >= 2 && side().state.status === 'restarting');
  await h.pods.stop('busy', 0);
  const count = side().restartCount;
  await wait(500);
  const r = h.pods.get('busy');
  expect(Object.values(r.containers).map((c) => c.state.status)).toEqual(['exited', 'exited']);
  expect(side().restartCount).toBe(count);
  expect(podPhase(r)).toBe('created');
});

test('a stop signals every app container and kills what is left at the deadline', async () => {
  const spec = await twoContainers(['sleep', '100'], ['sleep', '100']);
  await h.pods.create(spec, 'pair2', null);
  await h.pods.start('pair2');
  await h.pods.stop('pair2', 0);
  const r = h.pods.get('pair2');
  expect(h.pods.isRunning('pair2')).toBe(false);
  for (const c of Object.values(r.containers)) expect(c.state.status).toBe('exited');
});

test('a layout-1 record (one state per pod) is migrated at load and rewritten atomically', async () => {
  const r = await h.create(
    {
      Image: 'busybox',
      Cmd: ['true'],
      Labels: { a: 'b' },
      HostConfig: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 } },
    },
    'old',
  );
  await h.state.flush();
  const dir = path.join(h.state.root, r.id);
  // What the previous version wrote for this pod.
  const v1 = {
    id: r.id,
    name: 'old',
    created: r.created,
    spec: { ...r.sandbox.spec, containers: [mainContainer(r).spec] },
    state: { ...mainContainer(r).state, status: 'exited', exitCode: 4, finishedAt: '2026-01-01T00:00:00.000000000Z' },
    restartCount: 1,
    manuallyStopped: true,
    frontend: r.frontend,
  };
  fs.writeFileSync(path.join(dir, RECORD_FILE), JSON.stringify(v1));
  fs.writeFileSync(path.join(dir, 'hostconfig.json'), '{}');
  const back = (await h.restartDaemon()).get('old');
  expect(back).toEqual(migrateV1(v1 as Parameters<typeof migrateV1>[0]));
  expect(mainContainer(back)).toMatchObject({ state: { status: 'exited', exitCode: 4 }, restartCount: 1 });
  expect(back.sandbox.spec).toMatchObject({
    labels: { a: 'b' },
    restartPolicy: { name: 'on-failure', maximumRetryCount: 2 },
  });
  expect(back.manuallyStopped).toBe(true);
  // Written back in the new layout; the copy of the HostConfig is gone; no temp file is left.
  expect(JSON.parse(fs.readFileSync(path.join(dir, RECORD_FILE), 'utf8'))).toEqual(back);
  expect(fs.readdirSync(dir).filter((f) => f === 'hostconfig.json' || f.startsWith('.tmp'))).toEqual([]);
});

test('a record of a newer layout is left alone, not cleaned up as a broken one', async () => {
  const r = await h.create({ Image: 'busybox', Cmd: ['true'] }, 'future');
  await h.state.flush();
  const file = path.join(h.state.root, r.id, RECORD_FILE);
  const text = JSON.stringify({ ...r, version: 3 });
  fs.writeFileSync(file, text);
  const pods = await h.restartDaemon();
  expect(() => pods.get('future')).toThrow(NoSuchPodError);
  expect(fs.readFileSync(file, 'utf8')).toBe(text);
  expect(h.rootfs.prepared.has(r.id)).toBe(true);
});

test('init containers run in order before the app containers; a failing one fails the start with its code', async () => {
  const spec = await twoContainers(['sleep', '100'], ['sleep', '100']);
  const base = spec.containers[0];
  spec.containers = [
    { ...base, id: 'a'.repeat(64), name: 'first', init: true, args: ['sh', '-c', 'exit 0'] },
    { ...base, id: 'b'.repeat(64), name: 'second', init: true, args: ['sh', '-c', 'exit 3'] },
    { ...base, id: 'c'.repeat(64), name: 'never', init: true, args: ['sh', '-c', 'exit 0'] },
    ...spec.containers,
  ];
  await h.pods.create(spec, 'inits', null);
  await expect(h.pods.start('inits')).rejects.toThrow('init container second failed with exit code 3');
  const r = h.pods.get('inits');
  expect(h.pods.isRunning('inits')).toBe(false);
  expect(r.containers['a'.repeat(64)].state).toMatchObject({ status: 'exited', exitCode: 0 });
  expect(r.containers['b'.repeat(64)].state).toMatchObject({ status: 'exited', exitCode: 3 });
  expect(r.containers['c'.repeat(64)].state.status).toBe('created');
  expect(mainContainer(r).spec.id).toBe(spec.id);
  expect(mainContainer(r).state).toMatchObject({ exitCode: 3, error: expect.stringContaining('second') });
  // Fixed, the pod starts: inits exited 0, app containers running.
  const fixed = h.pods.get('inits');
  fixed.containers['b'.repeat(64)].spec.args = ['true'];
  await h.pods.start('inits');
  expect(h.pods.isRunning('inits')).toBe(true);
  expect(h.pods.get('inits').containers['c'.repeat(64)].state).toMatchObject({ status: 'exited', exitCode: 0 });
  await h.pods.remove('inits', { force: true });
});
