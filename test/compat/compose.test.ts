/**
 * A docker-compose project (Debian's docker-compose 1.29) against the real daemon (real QEMU
 * VMs), the one of test/fixtures/compose-project.ts: a web service built from a Dockerfile
 * FROM the Debian nginx fixture image (COPY and RUN), serving its page on a published port,
 * with a named volume, a bind-mounted nginx config file and a health check; a busybox worker
 * that reaches web by its service name on a custom network and starts only once web is
 * healthy (depends_on: condition: service_healthy). Then up -d (which builds web), ps, logs,
 * logs -f, exec, restart, stop, start, a second up -d that recreates only the changed
 * service, down (the volume stays) and down -v (every container, network and volume of the
 * project gone; the built image stays, as compose leaves it).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { BUILT_PAGE, CONFIG_ANSWER, composeFile, writeComposeProject } from '../fixtures/compose-project';

jest.setTimeout(600000);

const REGISTRY = fixtureRegistry();
const PROJECT = 'pvcompose';
const PORT = 18380;
const project = (workerGreeting: string) => ({ registry: REGISTRY, port: PORT, workerGreeting });

let d: TestDaemon;
let dir: string;

function compose(args: string[]): { out: string; err: string; code: number } {
  const r = spawnSync('docker-compose', ['-p', PROJECT, ...args], {
    cwd: dir,
    env: d.env,
    encoding: 'utf8',
    timeout: 300000,
  });
  return { out: (r.stdout ?? '').trim(), err: (r.stderr ?? '').trim(), code: r.status ?? -1 };
}

function ok(args: string[]): string {
  const r = compose(args);
  if (r.code !== 0) throw new Error(`docker-compose ${args.join(' ')}: ${r.err}`);
  return `${r.out}\n${r.err}`;
}

function docker(args: string[]): string {
  return (spawnSync('docker', args, { env: d.env, encoding: 'utf8', timeout: 60000 }).stdout ?? '').trim();
}

const lines = (s: string) => s.split('\n').filter(Boolean).sort();
const projectFilter = `label=com.docker.compose.project=${PROJECT}`;

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.on('data', (b: Buffer) => (body += b.toString()));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

async function until(what: string, fn: () => boolean, ms = 60000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 500))) if (fn()) return;
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  d = await startDaemon();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-compose-'));
  writeComposeProject(dir, project('worker-v1'));
});

afterAll(async () => {
  compose(['down', '-v', '--timeout', '1']);
  await stopDaemonLeavingNothing(d);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('up -d, ps, logs, logs -f, exec, restart, stop, start, a second up -d, down, down -v', async () => {
  const up = ok(['up', '-d']);
  // web is built from its Dockerfile (its base pulled from the registry), then run.
  expect(up).toContain('Building web');
  expect(up).toContain('Step 3/3 : RUN echo "written by RUN" > /srv/www/run.txt');
  expect(up).toContain(`Successfully tagged ${PROJECT}_web:latest`);
  expect(docker(['image', 'inspect', '-f', '{{index .Config.Labels "org.podvisor.fixture"}}', `${PROJECT}_web`])).toBe(
    'debian-nginx',
  );
  expect(up).toContain(`Creating network "${PROJECT}_appnet"`);
  expect(up).toContain(`Creating volume "${PROJECT}_webdata"`);
  // The worker was started only after web was healthy.
  expect(docker(['inspect', '-f', '{{.State.Health.Status}}', `${PROJECT}_web_1`])).toBe('healthy');

  const ps = ok(['ps']);
  expect(ps).toMatch(new RegExp(`${PROJECT}_web_1 .* Up \\(healthy\\) .*127\\.0\\.0\\.1:${PORT}->8080/tcp`));
  expect(ps).toMatch(new RegExp(`${PROJECT}_worker_1 .* Up`));

  // The published port serves the page built into the image, the one RUN wrote, and what the
  // bind-mounted config file says.
  expect(await get(`http://127.0.0.1:${PORT}/`)).toBe(BUILT_PAGE);
  expect(await get(`http://127.0.0.1:${PORT}/run.txt`)).toBe('written by RUN\n');
  expect(await get(`http://127.0.0.1:${PORT}/config`)).toBe(`${CONFIG_ANSWER}\n`);
  // The worker reaches web by its service name.
  await until("the worker's first answer", () =>
    compose(['logs', '--no-color', 'worker']).out.includes(`worker-v1 ${CONFIG_ANSWER}`),
  );
  // nginx's access log goes to the container's stdout, so web's logs show the requests.
  await until("web's access log", () =>
    /web_1 +\| .*"GET \/config HTTP\/1\.1" 200/.test(compose(['logs', '--no-color', 'web']).out),
  );

  // logs -f keeps following: a line the worker writes after it started shows up.
  const follow = spawn('docker-compose', ['-p', PROJECT, 'logs', '-f', '--no-color', '--tail', '0', 'worker'], {
    cwd: dir,
    env: d.env,
  });
  let followed = '';
  follow.stdout.on('data', (b: Buffer) => (followed += b.toString()));
  await until('a followed log line', () => followed.includes(`worker-v1 ${CONFIG_ANSWER}`), 30000);
  follow.kill('SIGINT');

  expect(ok(['exec', '-T', 'web', 'cat', '/data/starts']).trim()).toBe('started');

  // restart keeps the named volume's data: web has started twice now.
  ok(['restart', 'web']);
  await until(
    'web healthy again',
    () => docker(['inspect', '-f', '{{.State.Health.Status}}', `${PROJECT}_web_1`]) === 'healthy',
  );
  expect(lines(ok(['exec', '-T', 'web', 'cat', '/data/starts']))).toEqual(['started', 'started']);

  ok(['stop', '-t', '1']);
  expect(docker(['ps', '-q', '--filter', projectFilter])).toBe('');
  ok(['start']);
  await until('both running again', () => lines(docker(['ps', '-q', '--filter', projectFilter])).length === 2);

  // A second up -d after a change to the worker only: web is kept, the worker recreated.
  const webId = docker(['inspect', '-f', '{{.Id}}', `${PROJECT}_web_1`]);
  fs.writeFileSync(path.join(dir, 'docker-compose.yml'), composeFile(project('worker-v2')));
  const again = ok(['up', '-d']);
  expect(again).toContain(`${PROJECT}_web_1 is up-to-date`);
  expect(again).toContain(`Recreating ${PROJECT}_worker_1`);
  expect(docker(['inspect', '-f', '{{.Id}}', `${PROJECT}_web_1`])).toBe(webId);
  await until("the new worker's answer", () =>
    compose(['logs', '--no-color', 'worker']).out.includes(`worker-v2 ${CONFIG_ANSWER}`),
  );

  // down: containers and network gone, the named volume kept; down -v: the volume too.
  ok(['down', '--timeout', '1']);
  expect(docker(['ps', '-aq', '--filter', projectFilter])).toBe('');
  expect(docker(['network', 'ls', '-q', '--filter', `name=${PROJECT}_appnet`])).toBe('');
  expect(docker(['volume', 'ls', '-q'])).toBe(`${PROJECT}_webdata`);
  ok(['up', '-d']);
  // The kept volume counts every start of web: up, restart, stop/start, and this up.
  expect(lines(ok(['exec', '-T', 'web', 'cat', '/data/starts']))).toEqual(['started', 'started', 'started', 'started']);
  ok(['down', '-v', '--timeout', '1']);
  expect(docker(['ps', '-aq', '--filter', projectFilter])).toBe('');
  expect(docker(['network', 'ls', '-q', '--filter', `name=${PROJECT}_appnet`])).toBe('');
  expect(docker(['volume', 'ls', '-q'])).toBe('');
});
