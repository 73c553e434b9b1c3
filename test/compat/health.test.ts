/**
 * Health checks through the stock docker CLI on real VMs: `--health-cmd` probes run in the
 * container's VM; `docker inspect` shows State.Health as dockerd does, `docker ps` the
 * `(healthy)` / `(unhealthy)` status and the `health` filter, `docker events` the
 * `health_status: ...` changes; a probe past its timeout fails; a stopped container is
 * unhealthy; `--no-healthcheck` has no State.Health.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerCli, type CliResult } from '../helpers/docker-cli';

jest.setTimeout(180000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox`;

function docker(d: TestDaemon, args: string[]): Promise<CliResult> {
  return dockerCli(d, args, undefined, 60000);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `docker inspect` of State.Health, parsed. */
async function health(
  d: TestDaemon,
  name: string,
): Promise<{ Status: string; FailingStreak: number; Log: Array<Record<string, unknown>> } | null> {
  const r = await docker(d, ['inspect', '-f', '{{json .State.Health}}', name]);
  expect(r.code).toBe(0);
  return JSON.parse(r.out);
}

/** Poll State.Health.Status until it is `status` (30 s at most). */
async function untilStatus(d: TestDaemon, name: string, status: string): Promise<void> {
  const deadline = Date.now() + 30000;
  while ((await health(d, name))?.Status !== status) {
    if (Date.now() > deadline)
      throw new Error(`${name} never became ${status}: ${JSON.stringify(await health(d, name))}`);
    await sleep(250);
  }
}

describe('health checks (docker CLI, real VMs)', () => {
  let d: TestDaemon;
  let events: ChildProcess | undefined;
  let eventLines = '';
  beforeAll(async () => {
    d = await startDaemon({ vmPoolSize: 0 });
    expect((await docker(d, ['pull', '-q', IMAGE])).code).toBe(0);
    events = spawn('docker', ['events', '--format', '{{.Actor.Attributes.name}} {{.Action}}'], {
      env: d.env,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    events.stdout?.on('data', (c: Buffer) => (eventLines += c.toString()));
  });
  afterAll(async () => {
    events?.kill('SIGKILL');
    if (d) await stopDaemonLeavingNothing(d);
  });

  test('a passing probe: healthy in inspect, ps, the health filter and the events; unhealthy once stopped', async () => {
    const run = await docker(d, [
      'run',
      '-d',
      '--name',
      'good',
      '--health-cmd',
      'echo ok',
      '--health-interval',
      '1s',
      '--health-retries',
      '2',
      IMAGE,
      'sleep',
      '300',
    ]);
    expect(run).toMatchObject({ code: 0 });
    expect((await docker(d, ['ps', '--filter', 'name=good', '--format', '{{.Status}}'])).out).toMatch(
      /\((health: starting|healthy)\)\n$/,
    );
    await untilStatus(d, 'good', 'healthy');
    const h = await health(d, 'good');
    expect(h).toMatchObject({ Status: 'healthy', FailingStreak: 0 });
    expect(h?.Log[0]).toMatchObject({ ExitCode: 0, Output: 'ok\n' });
    expect(Object.keys(h?.Log[0] ?? {})).toEqual(['Start', 'End', 'ExitCode', 'Output']);
    const cfg = await docker(d, ['inspect', '-f', '{{json .Config.Healthcheck}}', 'good']);
    expect(JSON.parse(cfg.out)).toEqual({ Test: ['CMD-SHELL', 'echo ok'], Interval: 1000000000, Retries: 2 });
    const ps = await docker(d, ['ps', '--filter', 'health=healthy', '--format', '{{.Names}} {{.Status}}']);
    expect(ps.out).toMatch(/^good Up .* \(healthy\)\n$/);
    expect((await docker(d, ['ps', '--filter', 'health=unhealthy', '--format', '{{.Names}}'])).out).toBe('');
    // The probe's exec events, then the status change, as dockerd words them.
    const deadline = Date.now() + 5000;
    while (!eventLines.includes('good health_status: healthy') && Date.now() < deadline) await sleep(100);
    expect(eventLines).toContain('good exec_create: /bin/sh -c echo ok');
    expect(eventLines).toContain('good health_status: healthy');
    // Stopped: no probe vouches for it any more.
    expect((await docker(d, ['stop', '-t', '0', 'good'])).code).toBe(0);
    expect((await health(d, 'good'))?.Status).toBe('unhealthy');
    expect(
      (await docker(d, ['ps', '-a', '--filter', 'health=unhealthy', '--format', '{{.Names}} {{.Status}}'])).out,
    ).toMatch(/^good Exited \(137\)/);
    expect((await docker(d, ['rm', 'good'])).code).toBe(0);
  });

  test('a probe past its timeout is killed and makes the container unhealthy', async () => {
    const args = [
      'run',
      '-d',
      '--name',
      'slow',
      '--health-cmd',
      'sleep 5',
      '--health-interval',
      '1s',
      '--health-timeout',
      '500ms',
      '--health-retries',
      '1',
      IMAGE,
      'sleep',
      '300',
    ];
    expect((await docker(d, args)).code).toBe(0);
    await untilStatus(d, 'slow', 'unhealthy');
    const h = await health(d, 'slow');
    expect(h?.Log[0]).toMatchObject({ ExitCode: -1, Output: 'Health check exceeded timeout (500ms)' });
    expect((await docker(d, ['ps', '--filter', 'health=unhealthy', '--format', '{{.Names}} {{.Status}}'])).out).toMatch(
      /^slow Up .* \(unhealthy\)\n$/,
    );
    expect((await docker(d, ['rm', '-f', 'slow'])).code).toBe(0);
  });

  test('--no-healthcheck: no State.Health, health=none; a bad health filter is refused', async () => {
    expect((await docker(d, ['create', '--name', 'plain', '--no-healthcheck', IMAGE, 'true'])).code).toBe(0);
    expect(await health(d, 'plain')).toBeNull();
    expect((await docker(d, ['inspect', '-f', '{{json .Config.Healthcheck}}', 'plain'])).out).toBe(
      '{"Test":["NONE"]}\n',
    );
    expect((await docker(d, ['ps', '-a', '--filter', 'health=none', '--format', '{{.Names}}'])).out).toBe('plain\n');
    const bad = await docker(d, ['ps', '--filter', 'health=bogus']);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toContain('Unrecognised filter value for health: bogus');
    const tooShort = await docker(d, ['create', '--health-interval', '1us', '--health-cmd', 'true', IMAGE, 'true']);
    expect(tooShort.err).toContain('Interval in Healthcheck cannot be less than 1ms');
    expect((await docker(d, ['rm', 'plain'])).code).toBe(0);
  });
});
