/**
 * The native API's checkpoint routes (src/api/native/checkpoints.ts) over the in-memory pod
 * layer, whose fake hypervisor saves nothing: each refusal in this API's words and status
 * (a missing checkpoint 404, a pod that does not run 409, a bad name or count 400, a VM that
 * cannot be saved 500 with its reason), and nothing made by any of them. A real save, restore
 * and fork: test/compat/checkpoint.test.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import request from 'supertest';
import { createNativeApp } from '../../../../src/api/native/server';
import { harness, type Harness } from '../../pod/fakes';

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(async () => {
  for (const r of h.pods.list()) await h.pods.remove(r.id, { force: true });
  await h.cleanup();
});

test("checkpoint routes refuse in this API's words and make nothing", async () => {
  const app = createNativeApp({ pods: h.pods, vms: h.pods.vms, engine: h.engine() });
  const made = await request(app)
    .post('/v1/pods')
    .send({ spec: { name: 'db', image: 'busybox', command: ['sleep', '60'] } });
  expect(made.status).toBe(201);
  const dir = path.join(h.pods.dir(made.body.id as string), 'checkpoints');

  expect((await request(app).get('/v1/pods/db/checkpoints')).body).toEqual([]);
  expect(await request(app).post('/v1/pods/db/checkpoints').send({ name: 'cp1' })).toMatchObject({
    status: 409,
    body: { message: 'pod db is not running' },
  });
  await request(app).post('/v1/pods/db/start').send({});
  expect(await request(app).post('/v1/pods/db/checkpoints').send({})).toMatchObject({
    status: 400,
    body: { message: 'field "name" is required' },
  });
  expect((await request(app).post('/v1/pods/db/checkpoints').send({ name: 'a/b' })).status).toBe(400);
  expect((await request(app).post('/v1/pods/db/checkpoints').send({ name: 'cp1', other: 1 })).status).toBe(400);
  const cannot = await request(app).post('/v1/pods/db/checkpoints').send({ name: 'cp1', leaveRunning: true });
  expect(cannot.status).toBe(500);
  expect(cannot.body.message).toMatch(
    /^checkpoint cp1 of pod db: its VM cannot be saved .*this daemon cannot save VMs/,
  );
  expect(h.pods.isRunning('db')).toBe(true);
  expect(fs.existsSync(dir) ? fs.readdirSync(dir) : []).toEqual([]);

  expect(await request(app).post('/v1/pods/db/checkpoints/nope/fork').send({ count: 2 })).toMatchObject({
    status: 404,
    body: { message: 'pod db has no checkpoint nope' },
  });
  expect((await request(app).post('/v1/pods/db/checkpoints/nope/fork').send({ count: 0 })).status).toBe(400);
  expect((await request(app).post('/v1/pods/db/checkpoints/nope/fork').send({ count: 65 })).status).toBe(400);
  expect(
    (
      await request(app)
        .post('/v1/pods/db/checkpoints/nope/fork')
        .send({ names: [1] })
    ).status,
  ).toBe(400);
  expect(await request(app).delete('/v1/pods/db/checkpoints/nope')).toMatchObject({
    status: 404,
    body: { message: 'pod db has no checkpoint nope' },
  });
  // A start from a checkpoint: of a pod that runs, 409 (as a start); of one it does not have, 404.
  expect(await request(app).post('/v1/pods/db/checkpoints/nope/restore').send({})).toMatchObject({
    status: 409,
    body: { message: 'pod db is already running' },
  });
  await request(app).post('/v1/pods/db/stop').send({ timeout: 0 });
  expect(await request(app).post('/v1/pods/db/checkpoints/nope/restore').send({})).toMatchObject({
    status: 404,
    body: { message: 'pod db has no checkpoint nope' },
  });
  expect((await request(app).post('/v1/pods/db/checkpoints/nope/restore').send({ other: 1 })).status).toBe(400);
  expect(h.pods.isRunning('db')).toBe(false);
  expect((await request(app).get('/v1/pods/nosuch/checkpoints')).status).toBe(404);
  expect(h.pods.list().map((p) => p.name)).toEqual(['db']);
});
