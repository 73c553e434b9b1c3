/**
 * Hostile input against the real compiled daemon (pool size 0: nothing here boots a VM):
 * at least 500 seeded requests from test/fuzz over every route the API serves, with a few
 * slow-loris connections and a /_ping probe alongside. The seed is printed; FUZZ_SEED
 * repeats a run, FUZZ_COUNT changes its size (the long run: `npm run fuzz`).
 *
 * Expected: no hang, no 5xx where dockerd answers 4xx (test/fuzz/expect.ts), Docker's
 * {"message"} on every error, /_ping answering throughout, the slow-loris connections closed
 * by the daemon after its header timeout, and the daemon alive at the end.
 *
 * The daemon runs in its default block mode. The target is a created container, whose layer
 * stays on the host until its first start (src/storage/rootfs.ts), so its cp, diff and export
 * boot no VM. Hostile tars into a started block-mode root: test/compat/rootfs-disk.test.ts.
 */
import * as http from 'node:http';
import { startDaemon, ping, type TestDaemon } from '../helpers/daemon';
import { runFuzz, summarize, type FuzzReport } from '../fuzz/run';
import { prepareTarget } from '../fuzz/target';
import { servedRoutes } from '../fuzz/routes';
import { HEADERS_TIMEOUT_MS } from '../../src/api/v1.41/limits';

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const COUNT = Math.max(500, Number(process.env.FUZZ_COUNT ?? 600));

describe('hostile requests (fuzz)', () => {
  let d: TestDaemon;
  let report: FuzzReport;
  /** A `GET /events` stream held through the run: the slow-loris guard must not cut it. */
  const events = { status: 0, closedAfterMs: -1, heldMs: 0, done: false };

  beforeAll(async () => {
    d = await startDaemon();
    const known = await prepareTarget(d.socketPath);
    const t0 = Date.now();
    const req = http.get({ socketPath: d.socketPath, path: '/v1.41/events' }, (res) => {
      events.status = res.statusCode ?? 0;
      res.resume();
      res.on('close', () => {
        if (!events.done) events.closedAfterMs = Date.now() - t0;
      });
    });
    req.on('error', () => undefined);
    report = await runFuzz({
      socketPath: d.socketPath,
      seed: SEED,
      count: COUNT,
      timeBudgetMs: 50_000,
      known,
      concurrency: 8,
      slowLoris: 3,
      slowLorisMaxMs: HEADERS_TIMEOUT_MS + 8000,
    });
    events.heldMs = Date.now() - t0;
    events.done = true;
    req.destroy();
    console.log(summarize(report));
  }, 120_000);

  afterAll(async () => {
    await d?.stop();
  });

  it(`sends at least 500 requests over every served route (seed ${SEED})`, () => {
    expect(report.sent).toBeGreaterThanOrEqual(500);
    const hit = new Set(report.results.map((r) => `${r.c.method} ${r.c.route}`));
    const missing = servedRoutes()
      .map((r) => `${r.method} ${r.path}`)
      .filter((r) => !hit.has(r));
    expect(missing).toEqual([]);
  });

  it('gets an answer or a close for every request, no 5xx where dockerd answers 4xx, errors as {"message"}', () => {
    const failures = report.failures.map(
      (f) => `#${f.c.n} ${f.c.kind} ${f.c.method} ${f.c.target.slice(0, 120)}: ${f.problem}`,
    );
    expect(failures).toEqual([]);
  });

  it('answers /_ping throughout and closes slow-loris connections after the header timeout', async () => {
    expect(report.pings.sent).toBeGreaterThan(10);
    expect(report.pings.failed).toBe(0);
    expect(report.slowLoris.length).toBe(3);
    for (const s of report.slowLoris) {
      expect(s.closedByDaemon).toBe(true);
      expect(s.ms).toBeLessThan(HEADERS_TIMEOUT_MS + 8000);
    }
    expect(await ping(d.socketPath)).toBe(true);
  });

  it('keeps a long-lived stream (GET /events) open past the header timeout', () => {
    expect(events.status).toBe(200);
    expect(events.heldMs).toBeGreaterThan(HEADERS_TIMEOUT_MS);
    expect(events.closedAfterMs).toBe(-1);
  });
});
