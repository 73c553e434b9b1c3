/**
 * Health checks on the fake hypervisor: the probe runs as an exec in the container, the
 * status goes starting -> healthy / unhealthy by dockerd's rules, a slow probe is killed and
 * counts as a failure, the monitor stops with the run and starts again with the next one, and
 * what the Docker API shows (State.Health, the ps Status, the events) reads like dockerd's.
 */
import { harness, type Harness } from './fakes';
import { recordProbe, type HealthState, type ProbeResult } from '../../../src/pod/health/health';
import { mainContainer } from '../../../src/pod/types';
import { containerJson, containerSummary } from '../../../src/api/v1.41/json/inspect';
import type { DaemonEvent } from '../../../src/pod/events';

let h: Harness;
let events: DaemonEvent[];
beforeEach(async () => {
  h = await harness();
  events = [];
  h.events.subscribe((e) => events.push(e));
});
afterEach(async () => {
  // The fake guests' `sleep` programs would keep jest up: remove every pod first.
  for (const r of h.pods.list()) await h.pods.remove(r.id, { force: true });
  await h.pods.settled();
  await h.cleanup();
});

const MS = 1000000;
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: () => boolean, ms = 3000): Promise<void> {
  for (let t = 0; t < ms && !what(); t += 10) await wait(10);
  expect(what()).toBe(true);
}

/** Create and start a busybox-like container with this Healthcheck. */
async function run(healthcheck: Record<string, unknown>, cmd = ['sleep', '30']): Promise<string> {
  const r = await h.create({ Image: 'busybox', Cmd: cmd, Healthcheck: healthcheck });
  await h.pods.start(r.id);
  return r.id;
}

const health = (id: string) => mainContainer(h.pods.get(id)).health;
const inspectHealth = (id: string) =>
  (containerJson(h.pods.get(id), { dataRoot: h.root, execIds: [] }).State as { Health?: Record<string, unknown> })
    .Health;
const psStatus = (id: string) => containerSummary(h.pods.get(id), {}).Status as string;
const actions = (id: string) => events.filter((e) => e.id === id).map((e) => e.action);

describe('the state machine', () => {
  const at = (ms: number, exitCode: number): ProbeResult => ({
    start: new Date(ms).toISOString(),
    end: new Date(ms + 1).toISOString(),
    exitCode,
    output: '',
  });
  const fresh = (): HealthState => ({ status: 'starting', failingStreak: 0, log: [] });

  test('one success makes it healthy; `retries` failures in a row unhealthy; the streak goes on counting', () => {
    const s = fresh();
    expect(recordProbe(s, at(1000, 0), { retries: 2, startPeriodMs: 0 }, 0)).toBe(true);
    expect(s).toMatchObject({ status: 'healthy', failingStreak: 0 });
    expect(recordProbe(s, at(2000, 1), { retries: 2, startPeriodMs: 0 }, 0)).toBe(false);
    expect(s).toMatchObject({ status: 'healthy', failingStreak: 1 });
    expect(recordProbe(s, at(3000, 1), { retries: 2, startPeriodMs: 0 }, 0)).toBe(true);
    expect(s).toMatchObject({ status: 'unhealthy', failingStreak: 2 });
    recordProbe(s, at(4000, -1), { retries: 2, startPeriodMs: 0 }, 0);
    expect(s).toMatchObject({ status: 'unhealthy', failingStreak: 3 });
    expect(recordProbe(s, at(5000, 0), { retries: 2, startPeriodMs: 0 }, 0)).toBe(true);
    expect(s).toMatchObject({ status: 'healthy', failingStreak: 0 });
  });

  test('failures within the start period do not count while starting; after it they do', () => {
    const s = fresh();
    const spec = { retries: 1, startPeriodMs: 5000 };
    recordProbe(s, at(11000, 1), spec, 10000);
    recordProbe(s, at(14000, 1), spec, 10000);
    expect(s).toMatchObject({ status: 'starting', failingStreak: 0 });
    recordProbe(s, at(15000, 1), spec, 10000);
    expect(s).toMatchObject({ status: 'unhealthy', failingStreak: 1 });
  });

  test('once healthy, a failure within the start period counts', () => {
    const s = fresh();
    const spec = { retries: 1, startPeriodMs: 60000 };
    recordProbe(s, at(11000, 0), spec, 10000);
    recordProbe(s, at(12000, 1), spec, 10000);
    expect(s).toMatchObject({ status: 'unhealthy', failingStreak: 1 });
  });

  test('only the last 5 results are kept', () => {
    const s = fresh();
    for (let i = 0; i < 7; i++) recordProbe(s, at(1000 * i, i), { retries: 3, startPeriodMs: 0 }, 0);
    expect(s.log.map((r) => r.exitCode)).toEqual([2, 3, 4, 5, 6]);
  });
});

describe('on a running pod', () => {
  test('a passing CMD-SHELL probe runs as an exec and makes the container healthy', async () => {
    // An interval long enough to see it before its first probe.
    const id = await run({ Test: ['CMD-SHELL', 'echo ok; exit 0'], Interval: 300 * MS });
    // Before the first probe: starting, an empty log.
    expect(inspectHealth(id)).toEqual({ Status: 'starting', FailingStreak: 0, Log: [] });
    expect(psStatus(id)).toMatch(/^Up .* \(health: starting\)$/);
    await until(() => health(id)?.status === 'healthy');
    const shown = inspectHealth(id) as { Status: string; Log: Array<Record<string, unknown>> };
    expect(shown.Status).toBe('healthy');
    expect(shown.Log[0]).toMatchObject({ ExitCode: 0, Output: 'ok\n' });
    expect(Date.parse(shown.Log[0].End as string)).toBeGreaterThanOrEqual(Date.parse(shown.Log[0].Start as string));
    expect(psStatus(id)).toMatch(/^Up .* \(healthy\)$/);
    // dockerd's events: the probe's exec events, then the status change.
    const a = actions(id);
    expect(a).toContain('exec_create: /bin/sh -c echo ok; exit 0');
    expect(a).toContain('exec_start: /bin/sh -c echo ok; exit 0');
    expect(a.indexOf('health_status: healthy')).toBeGreaterThan(a.indexOf('exec_die'));
    // Probes are not left in the container's exec list.
    await wait(50);
    expect(h.pods.execIds(id).length).toBeLessThanOrEqual(1);
  });

  test('a failing CMD probe makes it unhealthy after `Retries` failures, with the output kept', async () => {
    const id = await run({ Test: ['CMD', 'sh', '-c', 'echo bad >&2; exit 3'], Interval: 20 * MS, Retries: 2 });
    await until(() => health(id)?.status === 'unhealthy');
    const s = health(id) as HealthState;
    expect(s.failingStreak).toBeGreaterThanOrEqual(2);
    expect(s.log[0]).toMatchObject({ exitCode: 3, output: 'bad\n' });
    expect(actions(id).filter((a) => a.startsWith('health_status'))).toEqual(['health_status: unhealthy']);
    expect(psStatus(id)).toMatch(/\(unhealthy\)$/);
  });

  test('a probe that runs past its timeout is killed and counts as a failure', async () => {
    const id = await run({ Test: ['CMD', 'sleep', '10'], Interval: 10 * MS, Timeout: 30 * MS, Retries: 1 });
    await until(() => health(id)?.status === 'unhealthy');
    const entry = (inspectHealth(id) as { Log: Array<Record<string, unknown>> }).Log[0];
    expect(entry).toMatchObject({ ExitCode: -1, Output: 'Health check exceeded timeout (30ms)' });
    expect(Date.parse(entry.End as string) - Date.parse(entry.Start as string)).toBeLessThan(2000);
    // The killed probe's exec ended (exec_die with SIGKILL's code).
    await until(() => events.some((e) => e.id === id && e.action === 'exec_die' && e.attributes.exitCode === '137'));
  });

  test('a guest that stops answering: the probe whose start is never answered times out, and the container turns unhealthy', async () => {
    const id = await run({ Test: ['CMD', 'true'], Interval: 10 * MS, Timeout: 50 * MS, Retries: 2 });
    await until(() => health(id)?.status === 'healthy');
    // From now on the guest answers nothing (the watchdog would report it unresponsive).
    h.hv.hangAgents = true;
    try {
      await until(() => health(id)?.status === 'unhealthy');
      expect(
        health(id)
          ?.log.slice(-2)
          .map((l) => l.exitCode),
      ).toEqual([-1, -1]);
      expect(actions(id)).toContain('health_status: unhealthy');
    } finally {
      h.hv.hangAgents = false;
    }
  });

  test('a probe that cannot start counts as a failure with the reason as output', async () => {
    const id = await run({ Test: ['CMD', 'no-such-program'], Interval: 10 * MS, Retries: 1 });
    await until(() => health(id)?.status === 'unhealthy');
    expect(health(id)?.log[0].exitCode).not.toBe(0);
  });

  test('the monitor stops with the run (unhealthy, log kept) and starts again with the next', async () => {
    const id = await run({ Test: ['CMD', 'true'], Interval: 300 * MS });
    await until(() => health(id)?.status === 'healthy');
    await h.pods.stop(id, 0);
    expect(health(id)?.status).toBe('unhealthy');
    const logged = health(id)?.log.length ?? 0;
    expect(logged).toBeGreaterThan(0);
    // No probe runs while it is stopped.
    await wait(100);
    expect(health(id)?.log.length).toBe(logged);
    expect(psStatus(id)).toMatch(/^Exited/);
    await h.pods.start(id);
    expect(health(id)).toMatchObject({ status: 'starting', failingStreak: 0 });
    expect(health(id)?.log.length).toBe(logged);
    await until(() => health(id)?.status === 'healthy');
  });

  test('no probe runs while the pod is paused', async () => {
    const id = await run({ Test: ['CMD', 'true'], Interval: 20 * MS });
    await until(() => health(id)?.status === 'healthy');
    await h.pods.pause(id);
    await wait(30);
    const n = events.filter((e) => e.action.startsWith('exec_create')).length;
    await wait(100);
    expect(events.filter((e) => e.action.startsWith('exec_create')).length).toBe(n);
    await h.pods.unpause(id);
  });

  test('after a daemon restart the re-adopted pod is probed again, from starting', async () => {
    const id = await run({ Test: ['CMD', 'true'], Interval: 20 * MS });
    await until(() => health(id)?.status === 'healthy');
    await h.restartDaemon();
    // Reset to starting at the re-adoption (as dockerd does at its restart), then probed
    // again: a second starting -> healthy change.
    await until(() => actions(id).filter((a) => a === 'health_status: healthy').length === 2);
    expect(actions(id).filter((a) => a === 'health_status: healthy')).toHaveLength(2);
  });

  test('NONE and no Healthcheck: no State.Health, no probe', async () => {
    const none = await run({ Test: ['NONE'] });
    const plain = (await h.create({ Image: 'busybox', Cmd: ['sleep', '30'] })).id;
    await h.pods.start(plain);
    expect(inspectHealth(none)).toBeUndefined();
    expect(inspectHealth(plain)).toBeUndefined();
    expect(psStatus(none)).not.toMatch(/health/);
  });
});
