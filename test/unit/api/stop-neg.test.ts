/**
 * stop?t=-1 over HTTP (dockerd: send the stop signal, then wait with no deadline) answers 204
 * once the process's TERM trap has exited, on the in-memory fakes.
 */
import * as http from 'node:http';
import type { Harness } from '../pod/fakes';
import { startFakeApi, type FakeApi } from './fake-api';

let fake: FakeApi;
let h: Harness;
let sock: string;
beforeAll(async () => {
  fake = await startFakeApi();
  ({ h, sock } = fake);
});
afterAll(async () => {
  await fake.close();
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
