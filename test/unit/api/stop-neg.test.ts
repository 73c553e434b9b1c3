/**
 * stop?t=-1 over HTTP (dockerd: send the stop signal, then wait with no deadline) answers 204
 * once the process's TERM trap has exited, on the in-memory fakes.
 */
import * as http from 'node:http';
import * as path from 'node:path';
import { createApiApp } from '../../../src/api/v1.41/server';
import { harness, type Harness } from '../pod/fakes';

let h: Harness;
let server: http.Server;
let sock: string;
beforeAll(async () => {
  h = await harness();
  const app = createApiApp({
    system: { version: '0.0.0-test', dataRoot: h.root, accel: 'tcg' },
    containers: { pods: h.pods, images: h.images, events: h.events, vmDefaults: { memoryMiB: 256, cpus: 1 }, hostCpus: 2 },
  });
  server = http.createServer(app);
  sock = path.join(h.root, 'api.sock');
  await new Promise<void>((r) => server.listen(sock, r));
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await h.cleanup();
});
function post(p: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock, method: 'POST', path: p }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}
test('POST stop?t=-1 over HTTP answers 204 once a TERM trap exits', async () => {
  const r = await h.create({ Image: 'busybox', Cmd: ['trap-term'] });
  expect(await post(`/containers/${r.id}/start`)).toBe(204);
  await new Promise((res) => setTimeout(res, 20));
  expect(await post(`/v1.41/containers/${r.id}/stop?t=-1`)).toBe(204);
});
