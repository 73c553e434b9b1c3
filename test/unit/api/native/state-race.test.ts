/**
 * The native API's start and stop over the in-memory pod layer, sent twice at once: whether
 * the pod already runs (or no longer does) is decided inside the pod's operation queue, so
 * exactly one of the two acts and the other gets this API's 409, worded for a pod.
 */
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

test('two starts at once: one starts the pod, the other is told it is already running; the same for two stops', async () => {
  const app = createNativeApp({ pods: h.pods, vms: h.pods.vms, engine: h.engine() });
  const made = await request(app)
    .post('/v1/pods')
    .send({ spec: { name: 'racer', image: 'busybox', command: ['sleep', '60'] } });
  expect(made.status).toBe(201);
  const starts = await Promise.all([1, 2].map(() => request(app).post('/v1/pods/racer/start').send({})));
  expect(starts.map((r) => r.status).sort()).toEqual([200, 409]);
  expect(starts.find((r) => r.status === 409)?.body).toEqual({ message: 'pod racer is already running' });
  expect(h.pods.isRunning('racer')).toBe(true);
  const stops = await Promise.all([1, 2].map(() => request(app).post('/v1/pods/racer/stop').send({ timeout: 1 })));
  expect(stops.map((r) => r.status).sort()).toEqual([200, 409]);
  expect(stops.find((r) => r.status === 409)?.body).toEqual({ message: 'pod racer is not running' });
  expect(h.pods.isRunning('racer')).toBe(false);
});
