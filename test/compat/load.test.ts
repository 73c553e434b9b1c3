/**
 * The load check (every answer right while 50 clients call at once), shortened (the full run with dockerd beside it and latency
 * figures is `npm run bench:load`): 50 concurrent clients make a seeded mix of list,
 * inspect, logs and version calls while two containers run and log. Every request must get
 * its right answer: 0 errors. No latency is asserted here.
 */
import Dockerode from 'dockerode';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { ENDPOINTS, runLoad } from '../helpers/load';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(180_000);

const IMAGE = `${fixtureRegistry()}/busybox`;
const TICKER = ['sh', '-c', 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done'];

let d: TestDaemon;

afterAll(async () => {
  if (!d) return;
  const docker = new Dockerode({ socketPath: d.socketPath });
  for (const c of await docker.listContainers({ all: true }).catch(() => []))
    await docker
      .getContainer(c.Id)
      .remove({ force: true })
      .catch(() => undefined);
  await stopDaemonLeavingNothing(d);
});

test('50 concurrent clients: list, inspect, logs and version with 0 errors', async () => {
  d = await startDaemon();
  const docker = new Dockerode({ socketPath: d.socketPath });
  await new Promise<void>((resolve, reject) => {
    docker.pull(IMAGE, (err: Error | null, s: NodeJS.ReadableStream) => {
      if (err) return reject(err);
      docker.modem.followProgress(s, (e: Error | null) => (e ? reject(e) : resolve()));
    });
  });
  const ids: string[] = [];
  for (let i = 0; i < 2; i++) {
    const c = await docker.createContainer({ Image: IMAGE, Cmd: TICKER });
    await c.start();
    ids.push(c.id);
  }
  const r = await runLoad({ socketPath: d.socketPath, containerIds: ids, clients: 50, requestsPerClient: 8 });
  expect(r.errors).toEqual([]);
  // The seeded mix reached every endpoint.
  for (const e of ENDPOINTS) expect(r.latencies[e].length).toBeGreaterThan(0);
  expect(ENDPOINTS.reduce((n, e) => n + r.latencies[e].length, 0)).toBe(400);
});
