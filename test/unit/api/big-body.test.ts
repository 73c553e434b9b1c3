/**
 * No request stalls the daemon (issue 19): a ~1 MB create body with 100,000 Env entries, and
 * one with 100,000 Cmd arguments, is decoded, merged and stored while another client pings;
 * every ping answers within the bound of 100 ms (measured from the ping's send to its
 * answer, the pinger and the API in this one process, so the bound covers the API's longest
 * hold of the event loop), plus the slowest ping of the same pinger on the idle API just after
 * (the scheduling noise of a loaded shared machine, not ours). Before the fix, mergeEnv alone
 * held the loop for minutes. The API runs on the in-memory fakes; the cost measured is ours.
 */
import * as http from 'node:http';
import * as path from 'node:path';
import { createApiApp } from '../../../src/api/v1.41/server';
import { harness, type Harness } from '../pod/fakes';

/** The bound for a ping answered while a big create is under way. */
const PING_BOUND_MS = 100;

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

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function request(method: string, p: string, body?: Buffer, a?: http.Agent): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock, method, path: p, agent: a, headers: body ? { 'Content-Type': 'application/json', 'Content-Length': body.length } : {} }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Ping in a loop until `until` settles; the slowest answer (ms) and the count. */
async function pingWhile(until: Promise<unknown>): Promise<{ worst: number; count: number }> {
  let over = false;
  void until.finally(() => (over = true));
  let worst = 0;
  let count = 0;
  while (!over) {
    const t0 = performance.now();
    const r = await request('GET', '/_ping', undefined, agent);
    expect(r.text).toBe('OK');
    worst = Math.max(worst, performance.now() - t0);
    count++;
    await new Promise((res) => setTimeout(res, 5));
  }
  return { worst, count };
}

test.each([
  ['Env', (i: number) => ({ Image: 'busybox', Cmd: ['true'], Env: Array.from({ length: 100000 }, (_, j) => `K${j % 50000}=${i}${j}`) })],
  ['Cmd', () => ({ Image: 'busybox', Cmd: Array.from({ length: 100000 }, (_, j) => `arg${j}`) })],
])('a 1 MB create body with 100,000 %s entries: created, and every ping answers within 100 ms', async (_what, make) => {
  await request('GET', '/_ping', undefined, agent); // warm the pinger's connection
  const body = Buffer.from(JSON.stringify(make(1)));
  expect(body.length).toBeGreaterThan(900 * 1000);
  // The machine is shared (2 cores, other tests' VMs): the pinger's own scheduling noise is
  // measured first, idle, for as long as the create will take, and allowed on top of the bound.
  const t0 = performance.now();
  const create = request('POST', '/containers/create', body);
  const { worst, count } = await pingWhile(create);
  const createMs = performance.now() - t0;
  const idle = await pingWhile(new Promise((r) => setTimeout(r, Math.max(300, createMs))));
  console.log(`create ${createMs.toFixed(0)} ms; slowest ping ${worst.toFixed(0)} ms during it (${count} pings), ${idle.worst.toFixed(0)} ms idle`);
  const r = await create;
  expect(r.status).toBe(201);
  expect(count).toBeGreaterThan(0);
  expect(worst).toBeLessThan(PING_BOUND_MS + idle.worst);
});
