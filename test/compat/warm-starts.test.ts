/**
 * Warm starts (issue 69, docs/warm-starts.md) with the stock docker CLI on a daemon run with
 * --warm-starts:
 * - the first `docker run -d` of a kind is saved once quiet (it listens on nothing); a later
 *   run of the same kind (another name, port and label) starts from that save: the token the
 *   first run's start drew is in it, its start's output is not run again, and it is a
 *   container of its own (its ID, hostname and disk), marked by the label
 *   org.podvisor.warm-start.state;
 * - a first run with a health check is saved once healthy, and one that listens late once it
 *   listens: a warm run has what it wrote just before, is healthy at once, answers at once;
 * - a daemon restart keeps the state; a daemon killed while it saves leaves none half made;
 * - two warm runs at once each start from the save, with disks of their own;
 * - docker-py's run of the same kind starts warm, and so does Compose v2's second `up` of a
 *   service with a named volume (after a `down -v`: the volume made anew);
 * - a new named volume over one of the image's VOLUME paths goes with the kind: a run with the
 *   volume made anew starts warm with what the first start wrote in it, and leaves what it
 *   wrote in the volume when removed; a run whose volume holds data starts cold; one over
 *   another path stays on the share, live for a later container that mounts it;
 * - another env, a bind mount, or the label org.podvisor.warm-start=false start cold;
 * - `docker system df` shows the states as build cache, and `docker system prune` removes
 *   those no container started from;
 * - the state goes once its image loses its last tag to another image, and once its image is
 *   removed and no container of it is left.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { execFileSync } from 'node:child_process';
import { dockerCli, dockerOk, dockerSync } from '../helpers/docker-cli';
import { composeV2, composeV2Env, composeV2Plugin } from '../helpers/compose-v2';

jest.setTimeout(900000);

const BASE = `${fixtureRegistry()}/busybox`;
/** The first start draws a token, says so, then waits for work. */
const PROGRAM = 'cat /proc/sys/kernel/random/uuid > /token; echo started; exec sleep 100000';
const STATE_LABEL = 'org.podvisor.warm-start.state';

let d: TestDaemon;

/** busybox with `VOLUME /data`: its program's data, as a database's image declares it. */
const WITH_VOLUME = `warm-volume-${process.pid}:1`;

beforeAll(async () => {
  d = await startDaemon({ args: ['--warm-starts'] });
  dockerOk(d, ['pull', '-q', BASE], 300000);
  const ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-warm-volume-'));
  fs.writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${BASE}\nVOLUME /data\n`);
  dockerOk(d, ['build', '-q', '-t', WITH_VOLUME, ctx], 300000);
  fs.rmSync(ctx, { recursive: true, force: true });
});

afterAll(async () => {
  if (d) await stopDaemonLeavingNothing(d);
});

/** The whole warm states in the daemon's data root (not those being saved). */
function states(): string[] {
  try {
    return fs.readdirSync(path.join(d.dataRoot, 'warm-starts')).filter((n) => !n.startsWith('.'));
  } catch {
    return [];
  }
}

/** Wait until the daemon holds `n` whole warm states. */
async function statesAtLeast(n: number, timeoutMs = 300000): Promise<string[]> {
  const until = Date.now() + timeoutMs;
  while (states().length < n) {
    if (Date.now() > until) throw new Error(`only ${states().length} warm states after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
  return states();
}

/** Container `name`'s /token, once its program wrote it. */
async function tokenOf(name: string): Promise<string> {
  for (let i = 0; i < 120; i++) {
    const r = dockerSync(d, ['exec', name, 'cat', '/token']);
    if (r.code === 0 && r.out.trim()) return r.out.trim();
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${name} wrote no token`);
}

/** Container `name`'s warm-state label ('' for a cold start). */
function warmLabel(name: string): string {
  return dockerOk(d, ['inspect', '-f', `{{index .Config.Labels "${STATE_LABEL}"}}`, name]).trim();
}

let firstToken = '';

test('a later run of the same kind starts from the first one’s save, as a container of its own', async () => {
  dockerOk(d, ['run', '-d', '--name', 'w1', BASE, 'sh', '-c', PROGRAM]);
  firstToken = await tokenOf('w1');
  expect(warmLabel('w1')).toBe('');
  const [key] = await statesAtLeast(1);
  // The first run goes on after its save.
  expect(dockerOk(d, ['inspect', '-f', '{{.State.Status}}', 'w1']).trim()).toBe('running');
  expect(await tokenOf('w1')).toBe(firstToken);

  dockerOk(d, ['run', '-d', '--name', 'w2', '-p', '8080', '--label', 'x=y', BASE, 'sh', '-c', PROGRAM]);
  expect(warmLabel('w2')).toBe(key.slice(0, 12));
  expect(await tokenOf('w2')).toBe(firstToken);
  // Its start did not run again, and it is its own container.
  expect(dockerOk(d, ['logs', 'w2'])).not.toContain('started');
  const id = dockerOk(d, ['inspect', '-f', '{{.Id}}', 'w2']).trim();
  expect(id).not.toBe(dockerOk(d, ['inspect', '-f', '{{.Id}}', 'w1']).trim());
  expect(dockerOk(d, ['exec', 'w2', 'hostname']).trim()).toBe(id.slice(0, 12));
  expect(dockerOk(d, ['inspect', '-f', '{{index .Config.Labels "x"}}', 'w2']).trim()).toBe('y');
  expect(dockerOk(d, ['port', 'w2', '8080'])).toMatch(/:\d+/);
  dockerOk(d, ['exec', 'w2', 'sh', '-c', 'echo mine > /written']);
  expect(dockerSync(d, ['exec', 'w1', 'cat', '/written']).code).not.toBe(0);
});

test('a first run with a health check is saved once healthy: a warm run has what it wrote then, and is healthy at once', async () => {
  const before = states();
  // Healthy only once it wrote /ready, late: the CPU stays quiet before (it sleeps).
  const program = 'sleep 8; cat /proc/sys/kernel/random/uuid > /ready; exec sleep 100000';
  const health = ['--health-cmd', 'test -s /ready', '--health-interval', '1s', '--health-retries', '1000'];
  const since = Math.floor(Date.now() / 1000) - 1;
  dockerOk(d, ['run', '-d', '--name', 'h1', ...health, BASE, 'sh', '-c', program]);
  const [key] = (await statesAtLeast(before.length + 1)).filter((k) => !before.includes(k));
  // The state was made after the first run was first healthy.
  const healthyAt = dockerOk(d, [
    'events',
    '--since',
    String(since),
    '--until',
    String(Math.ceil(Date.now() / 1000)),
    '--filter',
    'container=h1',
    '--filter',
    'event=health_status',
    '--format',
    '{{.TimeNano}} {{.Action}}',
  ])
    .split('\n')
    .filter((l) => l.endsWith('health_status: healthy'))
    .map((l) => Number(BigInt(l.split(' ')[0]) / 1000000n))[0];
  expect(healthyAt).toBeGreaterThan(0);
  expect(fs.statSync(path.join(d.dataRoot, 'warm-starts', key, 'saved.json')).mtimeMs).toBeGreaterThanOrEqual(
    healthyAt,
  );
  const ready = dockerOk(d, ['exec', 'h1', 'cat', '/ready']).trim();

  dockerOk(d, ['run', '-d', '--name', 'h2', ...health, BASE, 'sh', '-c', program]);
  expect(warmLabel('h2')).toBe(key.slice(0, 12));
  expect(dockerOk(d, ['exec', 'h2', 'cat', '/ready']).trim()).toBe(ready);
  // Its first probe passes: no failure before it is healthy.
  let status = 'starting';
  for (let i = 0; i < 60 && status === 'starting'; i++) {
    await new Promise((r) => setTimeout(r, 500));
    status = dockerOk(d, ['inspect', '-f', '{{.State.Health.Status}}', 'h2']).trim();
  }
  expect(status).toBe('healthy');
  const log = JSON.parse(dockerOk(d, ['inspect', '-f', '{{json .State.Health.Log}}', 'h2'])) as Array<{
    ExitCode: number;
  }>;
  expect(log.map((r) => r.ExitCode).filter((c) => c !== 0)).toEqual([]);
  dockerOk(d, ['rm', '-f', 'h1', 'h2']);
});

test('a first run that listens late is saved once it listens: a warm run’s port answers at once', async () => {
  const before = states();
  // It listens after a quiet wait (the quiet rule alone would save it while it sleeps), and
  // serves a token drawn just before.
  const program = 'mkdir -p /www; sleep 5; cat /proc/sys/kernel/random/uuid > /www/t; exec httpd -f -p 8080 -h /www';
  dockerOk(d, ['run', '-d', '--name', 'l1', BASE, 'sh', '-c', program]);
  const [key] = (await statesAtLeast(before.length + 1)).filter((k) => !before.includes(k));
  const token = dockerOk(d, ['exec', 'l1', 'cat', '/www/t']).trim();
  expect(token).not.toBe('');

  dockerOk(d, ['run', '-d', '--name', 'l2', '-p', '127.0.0.1::8080', BASE, 'sh', '-c', program]);
  expect(warmLabel('l2')).toBe(key.slice(0, 12));
  const port = dockerOk(d, ['port', 'l2', '8080']).trim().split(':').pop();
  // At once: well before its own sleep would have ended, had it started from before the listen.
  const until = Date.now() + 3000;
  let body = '';
  while (!body && Date.now() < until) {
    body = await fetch(`http://127.0.0.1:${port}/t`, { signal: AbortSignal.timeout(2000) })
      .then((r) => (r.ok ? r.text() : ''))
      .catch(() => '');
    if (!body) await new Promise((r) => setTimeout(r, 200));
  }
  expect(body.trim()).toBe(token);
  dockerOk(d, ['rm', '-f', 'l1', 'l2']);
});

test('a daemon restart keeps the state: the next run of the kind starts warm', async () => {
  const before = states();
  await d.restart();
  expect(states()).toEqual(before);
  dockerOk(d, ['run', '-d', '--name', 'w5', BASE, 'sh', '-c', PROGRAM]);
  expect(warmLabel('w5')).not.toBe('');
  expect(await tokenOf('w5')).toBe(firstToken);
  dockerOk(d, ['rm', '-f', 'w5']);
});

test('a daemon killed while it saves a first run leaves no state half made; a later run is the first again', async () => {
  const before = states();
  // A kind of its own.
  const program = PROGRAM.replace('started', 'killed one started');
  dockerOk(d, ['run', '-d', '--name', 'k1', BASE, 'sh', '-c', program]);
  const id = dockerOk(d, ['inspect', '-f', '{{.Id}}', 'k1']).trim();
  const saving = path.join(d.dataRoot, 'containers', id, 'checkpoints');
  // Killed as soon as the save has begun (its checkpoint is written under a .new- name).
  let seen = false;
  for (let i = 0; i < 6000 && !seen; i++) {
    seen = fs.existsSync(saving) && fs.readdirSync(saving).some((n) => n.startsWith('.new-'));
    if (!seen) await new Promise((r) => setTimeout(r, 20));
  }
  expect(seen).toBe(true);
  await d.kill9();
  await d.restart();
  expect(states()).toEqual(before);
  expect(fs.readdirSync(path.join(d.dataRoot, 'warm-starts')).filter((n) => n.startsWith('.'))).toEqual([]);
  dockerOk(d, ['rm', '-f', 'k1']);
  // The next run of the kind is cold, and its save is made.
  dockerOk(d, ['run', '-d', '--name', 'k2', BASE, 'sh', '-c', program]);
  expect(warmLabel('k2')).toBe('');
  await statesAtLeast(before.length + 1);
  dockerOk(d, ['rm', '-f', 'k2']);
});

test('two warm runs at once each start from the save, with disks of their own', async () => {
  const runs = ['w3', 'w4'].map((n) => ['run', '-d', '--name', n, BASE, 'sh', '-c', PROGRAM]);
  const results = await Promise.all(runs.map((args) => dockerCli(d, args)));
  expect(results.map((r) => r.code)).toEqual([0, 0]);
  for (const n of ['w3', 'w4']) {
    expect(warmLabel(n)).not.toBe('');
    expect(await tokenOf(n)).toBe(firstToken);
  }
  dockerOk(d, ['exec', 'w3', 'sh', '-c', 'echo three > /written']);
  expect(dockerSync(d, ['exec', 'w4', 'cat', '/written']).code).not.toBe(0);
  dockerOk(d, ['rm', '-f', 'w2', 'w3', 'w4']);
});

test("docker-py's run of the same kind starts warm; Compose v2's second up (after down -v) starts warm, its named volume with it", async () => {
  const script = [
    'import docker, sys',
    'c = docker.from_env()',
    'x = c.containers.run(sys.argv[1], ["sh", "-c", sys.argv[2]], detach=True, name="dpy")',
    'print(x.id)',
  ].join('\n');
  execFileSync('python3', ['-c', script, BASE, PROGRAM], { env: d.env, timeout: 300000 });
  expect(warmLabel('dpy')).not.toBe('');
  expect(await tokenOf('dpy')).toBe(firstToken);
  dockerOk(d, ['rm', '-f', 'dpy']);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-warm-compose-'));
  const env = composeV2Env(d.env, composeV2Plugin());
  // Another command than the runs above: a kind of its own, whose first is the first up's; its
  // token also in the project's named volume (Compose mounts it with HostConfig.Mounts).
  const program = PROGRAM.replace('started', 'app started').replace('> /token;', '> /token; cp /token /data/token;');
  fs.writeFileSync(
    path.join(dir, 'compose.yaml'),
    `services:\n  app:\n    image: ${WITH_VOLUME}\n    command: ["sh", "-c", ${JSON.stringify(program)}]\n` +
      `    volumes: [appdata:/data]\nvolumes:\n  appdata:\n`,
  );
  try {
    const before = states().length;
    expect((await composeV2(env, dir, 'warmv2', ['up', '-d'])).code).toBe(0);
    const first = await tokenOf('warmv2-app-1');
    expect(warmLabel('warmv2-app-1')).toBe('');
    await statesAtLeast(before + 1);
    // `down -v`: the volume goes, and the next `up` makes it anew, empty: the kind's.
    expect((await composeV2(env, dir, 'warmv2', ['down', '-v', '-t', '1'])).code).toBe(0);
    expect((await composeV2(env, dir, 'warmv2', ['up', '-d'])).code).toBe(0);
    expect(warmLabel('warmv2-app-1')).not.toBe('');
    expect(await tokenOf('warmv2-app-1')).toBe(first);
    expect(dockerOk(d, ['exec', 'warmv2-app-1', 'cat', '/data/token']).trim()).toBe(first);
  } finally {
    await composeV2(env, dir, 'warmv2', ['down', '-v', '-t', '1']);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a new named volume over the image's VOLUME goes with the kind: a run with it made anew starts warm, holding what the first start wrote there, and leaves its data in it; one that holds data starts cold; one elsewhere stays shared", async () => {
  const program =
    'cat /proc/sys/kernel/random/uuid > /data/token; cp /data/token /token; echo started; exec sleep 100000';
  const run = (name: string) =>
    dockerOk(d, ['run', '-d', '--name', name, '-v', 'wdata:/data', WITH_VOLUME, 'sh', '-c', program]);
  const before = states().length;
  // Made by `docker volume create` (as Compose makes a project's volumes), empty.
  dockerOk(d, ['volume', 'create', 'wdata']);
  run('v1');
  const first = await tokenOf('v1');
  expect(warmLabel('v1')).toBe('');
  await statesAtLeast(before + 1);
  dockerOk(d, ['rm', '-f', 'v1']);
  // The volume now holds the first run's data: a run of the kind starts cold, over it.
  run('v2');
  expect(warmLabel('v2')).toBe('');
  expect(await tokenOf('v2')).not.toBe(first);
  dockerOk(d, ['rm', '-f', 'v2']);
  dockerOk(d, ['volume', 'rm', 'wdata']);
  // Made anew (by the run, as after `compose down -v`): warm, the volume as the first start left it.
  run('v3');
  expect(warmLabel('v3')).not.toBe('');
  expect(await tokenOf('v3')).toBe(first);
  expect(dockerOk(d, ['exec', 'v3', 'cat', '/data/token']).trim()).toBe(first);
  dockerOk(d, ['exec', 'v3', 'sh', '-c', 'echo mine > /data/mine']);
  dockerOk(d, ['rm', '-f', 'v3'], 300000);
  // What it wrote is the volume's once it is gone.
  expect(dockerOk(d, ['run', '--rm', '-v', 'wdata:/data', BASE, 'cat', '/data/mine', '/data/token']).trim()).toBe(
    `mine\n${first}`,
  );
  dockerOk(d, ['volume', 'rm', 'wdata']);
  // A named volume over a path the image does not declare (a socket's directory that
  // containers share) stays on the share, live for a later container: its run is cold.
  const share = 'while true; do date > /run/x/now; sleep 1; done';
  dockerOk(d, ['run', '-d', '--name', 's1', '-v', 'wshared:/run/x', WITH_VOLUME, 'sh', '-c', share]);
  expect(warmLabel('s1')).toBe('');
  dockerOk(d, ['run', '-d', '--name', 's2', '-v', 'wshared:/run/x', BASE, 'sleep', '100000']);
  let seen = '';
  for (let i = 0; i < 60 && !seen; i++) {
    seen = dockerSync(d, ['exec', 's2', 'cat', '/run/x/now']).out.trim();
    if (!seen) await new Promise((r) => setTimeout(r, 500));
  }
  expect(seen).not.toBe('');
  dockerOk(d, ['rm', '-f', 's1', 's2']);
  dockerOk(d, ['volume', 'rm', 'wshared']);
});

test('another env, a bind mount, or the opt-out label start cold', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-warm-bind-'));
  try {
    const cases: Array<[string, string[]]> = [
      ['c-env', ['-e', 'X=1']],
      ['c-bind', ['-v', `${dir}:/mnt`]],
      ['c-off', ['--label', 'org.podvisor.warm-start=false']],
    ];
    for (const [name, opts] of cases) {
      dockerOk(d, ['run', '-d', '--name', name, ...opts, BASE, 'sh', '-c', PROGRAM]);
      expect(warmLabel(name)).toBe('');
      expect(await tokenOf(name)).not.toBe(firstToken);
      dockerOk(d, ['rm', '-f', name]);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('docker system df shows the states as build cache; docker system prune removes those no container started from', async () => {
  const kept = ['run', '-d', '--name', 'kept', BASE, 'sh', '-c', PROGRAM];
  dockerOk(d, kept);
  expect(warmLabel('kept')).not.toBe('');
  const all = states();
  expect(all.length).toBeGreaterThanOrEqual(2);
  const rows = dockerOk(d, ['system', 'df', '--format', '{{.Type}} {{.TotalCount}} {{.Size}}']).split('\n');
  const cache = rows.find((r) => r.startsWith('Build Cache'));
  expect(cache).toMatch(new RegExp(`^Build Cache ${all.length} [1-9][0-9.]*[kMG]?B$`));
  const verbose = dockerOk(d, ['system', 'df', '-v']);
  expect(verbose).toContain('warm-start');
  const pruned = dockerOk(d, ['system', 'prune', '-f']);
  expect(pruned).toMatch(/Total reclaimed space: [1-9]/);
  // The state the running warm container started from stays; the others went.
  expect(states()).toEqual([all.find((k) => k.startsWith(warmLabel('kept')))]);
  dockerOk(d, ['rm', '-f', 'kept']);
});

test('the state goes once its image loses its last tag to another image (docker tag, as a re-pull moves one)', async () => {
  const before = states();
  const image = `warm-retag-${process.pid}:1`;
  dockerOk(d, ['commit', '-c', 'LABEL retag=1', 'w1', image]);
  const id = dockerOk(d, ['image', 'inspect', '-f', '{{.Id}}', image]).trim();
  dockerOk(d, ['run', '-d', '--name', 't1', image, 'sh', '-c', PROGRAM]);
  const own = (await statesAtLeast(before.length + 1)).filter((k) => !before.includes(k));
  expect(own).toHaveLength(1);
  dockerOk(d, ['rm', '-f', 't1']);
  // The tag now names another image: the saved one is still stored, with no tag.
  dockerOk(d, ['tag', BASE, image]);
  expect(dockerOk(d, ['image', 'inspect', '-f', '{{len .RepoTags}}', id]).trim()).toBe('0');
  for (let i = 0; i < 60 && states().includes(own[0]); i++) await new Promise((r) => setTimeout(r, 500));
  expect(states()).toEqual(before);
  dockerOk(d, ['rmi', image, id]);
});

test('the state goes once its image is removed and no container of it is left', async () => {
  const before = states();
  // An image of its own: removing it takes nothing from the other tests.
  const image = `warm-own-${process.pid}:1`;
  dockerOk(d, ['commit', '-c', 'LABEL own=1', 'w1', image]);
  dockerOk(d, ['run', '-d', '--name', 'o1', image, 'sh', '-c', PROGRAM]);
  const after = await statesAtLeast(before.length + 1);
  const own = after.filter((k) => !before.includes(k));
  expect(own).toHaveLength(1);
  dockerOk(d, ['run', '-d', '--name', 'o2', image, 'sh', '-c', PROGRAM]);
  expect(warmLabel('o2')).toBe(own[0].slice(0, 12));
  dockerOk(d, ['rm', '-f', 'o1', 'o2']);
  dockerOk(d, ['rmi', image]);
  for (let i = 0; i < 60 && states().includes(own[0]); i++) await new Promise((r) => setTimeout(r, 500));
  expect(states()).toEqual(before);
  dockerOk(d, ['rm', '-f', 'w1']);
});
