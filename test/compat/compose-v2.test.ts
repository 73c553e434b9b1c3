/**
 * Docker Compose v2 (Debian 13's docker-compose 2.26, the stock docker CLI's `compose` plugin:
 * test/helpers/compose-v2.ts) with a real project (test/fixtures/compose-v2-project.ts) on
 * podvisor (real QEMU VMs) and, beside it, on the baseline dockerd 20.10 + runc: web built with
 * the classic builder, a worker started once web is healthy (depends_on: service_healthy), two
 * named volumes, two networks, a service in a profile. Then up -d, ps, the service DNS names
 * each network resolves, logs -f, exec, run --rm and down -v, each expected the same on both
 * daemons.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerCli, dockerSync, freePort, type CliResult } from '../helpers/docker-cli';
import { composeV2, composeV2Env, composeV2Plugin } from '../helpers/compose-v2';
import { fixtureRegistry } from '../fixtures/registry';
import { BUILT_PAGE, CONFIG_ANSWER } from '../fixtures/compose-project';
import { writeComposeV2Project } from '../fixtures/compose-v2-project';
import { startDockerd, type BaselineDockerd } from '../../bench/common';

jest.setTimeout(600000);

const PROJECT = 'pvc2';
const GREETING = 'worker-v1';

/** One daemon under test: its name and the environment that runs `docker compose` on it. */
interface Side {
  name: string;
  env: NodeJS.ProcessEnv;
}

let d: TestDaemon | undefined;
let base: BaselineDockerd | undefined;
let dir: string;
let port: number;
const sides: Side[] = [];

/** `docker compose ARGS` of the project on one side. */
const compose = (s: Side, args: string[]): Promise<CliResult> => composeV2(s.env, dir, PROJECT, args);

/** The same compose command on every side, at once; each must succeed. */
async function onBoth(args: string[]): Promise<CliResult[]> {
  const rs = await Promise.all(sides.map((s) => compose(s, args)));
  rs.forEach((r, i) => {
    if (r.code !== 0) throw new Error(`${sides[i].name}: docker compose ${args.join(' ')}: ${r.err}\n${r.out}`);
  });
  return rs;
}

/** `docker ARGS` on one side: its stdout (trimmed). */
const docker = (s: Side, args: string[]): string => dockerSync({ env: s.env }, args).out;

async function until(what: string, fn: () => Promise<boolean>, ms = 60000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 500)))
    if (await fn()) return;
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  const plugin = composeV2Plugin();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-compose-v2-'));
  port = await freePort();
  writeComposeV2Project(dir, { registry: fixtureRegistry(), port, workerGreeting: GREETING });
  if (!plugin) return;
  d = await startDaemon();
  base = await startDockerd(path.join(dir, 'dockerd'));
  sides.push({ name: 'podvisor', env: composeV2Env(d.env, plugin) });
  sides.push({ name: 'dockerd 20.10', env: composeV2Env(base.env, plugin) });
});

afterAll(async () => {
  for (const s of sides) await compose(s, ['down', '-v', '--timeout', '1']);
  await base?.stop().catch(() => undefined);
  if (d) await stopDaemonLeavingNothing(d);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('Compose v2 is there (scripts/compose-v2.sh, run by the bootstrap) as the CLI plugin', async () => {
  // Without it nothing below runs anything: that is a failure, not a pass.
  expect(sides.map((s) => s.name)).toEqual(['podvisor', 'dockerd 20.10']);
  const v = await dockerCli({ env: sides[0].env }, ['compose', 'version', '--short']);
  expect(v.out.trim()).toMatch(/^2\.26\./);
});

test('profiles: a plain project leaves out the service of the profile `tools`', async () => {
  const plain = await compose(sides[0], ['config', '--services']);
  expect(plain.out.split('\n').filter(Boolean).sort()).toEqual(['web', 'worker']);
  const tools = await compose(sides[0], ['--profile', 'tools', 'config', '--services']);
  expect(tools.out.split('\n').filter(Boolean).sort()).toEqual(['probe', 'web', 'worker']);
});

/** The lines of up's progress that say what was made, sorted (their order varies). */
const made = (err: string) =>
  err
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => / (Created|Started|Healthy)$/.test(l))
    .sort();

test('up -d: web built with the classic builder, networks and volumes created, worker started once web is healthy', async () => {
  const ups = await onBoth(['up', '-d']);
  for (const [i, up] of ups.entries()) {
    const s = sides[i];
    // The classic builder's log, web's base pulled from the registry.
    expect(up.out).toContain('Step 3/4 : RUN echo "written by RUN" > /srv/www/run.txt');
    expect(up.out).toContain(`Successfully tagged ${PROJECT}-web:latest`);
    expect(
      docker(s, [
        'image',
        'inspect',
        '-f',
        '{{index .Config.Labels "com.docker.compose.image.builder"}}',
        `${PROJECT}-web`,
      ]),
    ).toBe('classic');
    // depends_on: condition: service_healthy: web was healthy before worker started.
    const lines = up.err.split('\n').map((l) => l.trim());
    const healthy = lines.indexOf(`Container ${PROJECT}-web-1  Healthy`);
    expect(healthy).toBeGreaterThan(-1);
    expect(lines.indexOf(`Container ${PROJECT}-worker-1  Started`)).toBeGreaterThan(healthy);
    // The profile's service is not created.
    expect(docker(s, ['ps', '-a', '--format', '{{.Names}}']).split('\n').sort()).toEqual([
      `${PROJECT}-web-1`,
      `${PROJECT}-worker-1`,
    ]);
  }
  expect(made(ups[0].err)).toEqual(made(ups[1].err));
  expect(made(ups[0].err)).toEqual([
    `Container ${PROJECT}-web-1  Created`,
    `Container ${PROJECT}-web-1  Healthy`,
    `Container ${PROJECT}-web-1  Started`,
    `Container ${PROJECT}-worker-1  Created`,
    `Container ${PROJECT}-worker-1  Started`,
    `Network ${PROJECT}_back  Created`,
    `Network ${PROJECT}_front  Created`,
    `Volume "${PROJECT}_webdata"  Created`,
    `Volume "${PROJECT}_workdata"  Created`,
  ]);
  // podvisor's published port serves the built page (the baseline's lies in its namespace).
  const res = await fetch(`http://127.0.0.1:${port}/`);
  expect(await res.text()).toBe(BUILT_PAGE);
});

test('ps: the services, their state, health, networks and published ports', async () => {
  const views = await Promise.all(
    sides.map(async (s) => {
      const r = await compose(s, ['ps', '--format', 'json']);
      return r.out
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const c = JSON.parse(l) as Record<string, unknown>;
          return {
            Name: c.Name,
            Service: c.Service,
            State: c.State,
            Health: c.Health,
            Networks: String(c.Networks).split(',').sort(),
            Publishers: c.Publishers,
          };
        })
        .sort((a, b) => String(a.Name).localeCompare(String(b.Name)));
    }),
  );
  expect(views[0]).toEqual(views[1]);
  expect(views[0]).toEqual([
    {
      Name: `${PROJECT}-web-1`,
      Service: 'web',
      State: 'running',
      Health: 'healthy',
      Networks: [`${PROJECT}_back`, `${PROJECT}_front`],
      // debian-nginx exposes 80 (unpublished); the project publishes 8080.
      Publishers: [
        { URL: '', TargetPort: 80, PublishedPort: 0, Protocol: 'tcp' },
        { URL: '127.0.0.1', TargetPort: 8080, PublishedPort: port, Protocol: 'tcp' },
      ],
    },
    {
      Name: `${PROJECT}-worker-1`,
      Service: 'worker',
      State: 'running',
      Health: '',
      Networks: [`${PROJECT}_back`],
      Publishers: null,
    },
  ]);
  const table = (await compose(sides[0], ['ps'])).out;
  expect(table).toMatch(
    new RegExp(`^${PROJECT}-web-1 .* web .* Up .*\\(healthy\\) .*127\\.0\\.0\\.1:${port}->8080/tcp`, 'm'),
  );
});

/** A shell loop that prints `NAME ADDRESS` for each name busybox's nslookup resolves, `NAME -` else. */
const resolveScript = (names: string[]) =>
  `for n in ${names.join(' ')}; do a=$(nslookup $n 2>/dev/null | sed -n 's/^Address: //p' | head -n 1); echo "$n \${a:--}"; done`;

/** The address of `container` on the project's network `net`. */
const addressOn = (s: Side, container: string, net: string) =>
  docker(s, ['inspect', '-f', `{{(index .NetworkSettings.Networks "${PROJECT}_${net}").IPAddress}}`, container]);

test('service DNS: each network resolves the service and container names of its own members, not of the other network', async () => {
  const names = ['web', `${PROJECT}-web-1`, 'worker', `${PROJECT}-worker-1`];
  for (const s of sides) {
    const web = { back: addressOn(s, `${PROJECT}-web-1`, 'back'), front: addressOn(s, `${PROJECT}-web-1`, 'front') };
    const worker = addressOn(s, `${PROJECT}-worker-1`, 'back');
    // worker (on back) finds web and itself by both names, at their back addresses.
    const fromBack = await compose(s, ['exec', '-T', 'worker', 'sh', '-c', resolveScript(names)]);
    expect([s.name, fromBack.out]).toEqual([
      s.name,
      `web ${web.back}\n${PROJECT}-web-1 ${web.back}\nworker ${worker}\n${PROJECT}-worker-1 ${worker}\n`,
    ]);
    // A one-off probe on front finds web at its front address, and neither name of worker.
    const fromFront = await compose(s, ['run', '--rm', '-T', 'probe', 'sh', '-c', resolveScript(names)]);
    expect([s.name, fromFront.out]).toEqual([
      s.name,
      `web ${web.front}\n${PROJECT}-web-1 ${web.front}\nworker -\n${PROJECT}-worker-1 -\n`,
    ]);
  }
});

/** `docker compose logs -f --tail 0 worker` on `s` until it prints a line with `text`. */
function follow(s: Side, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'docker',
      ['compose', '--ansi', 'never', '-p', PROJECT, 'logs', '-f', '--no-color', '--tail', '0', 'worker'],
      {
        cwd: dir,
        env: s.env,
      },
    );
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${s.name}: logs -f printed only ${JSON.stringify(out)}`));
    }, 30000);
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes(text)) {
        clearTimeout(timer);
        child.kill('SIGINT');
        resolve(out);
      }
    });
  });
}

test('logs -f follows: a line the worker writes after it started shows up', async () => {
  const followed = await Promise.all(sides.map((s) => follow(s, `${GREETING} ${CONFIG_ANSWER}`)));
  for (const out of followed) expect(out).toMatch(new RegExp(`worker-1 +\\| ${GREETING} ${CONFIG_ANSWER}`));
});

test('exec: into web and worker, their named volumes written', async () => {
  for (const s of sides) {
    expect((await compose(s, ['exec', '-T', 'web', 'cat', '/data/starts'])).out).toBe('started\n');
    await until(
      `${s.name}: the worker's counted answers`,
      async () =>
        (await compose(s, ['exec', '-T', 'worker', 'sh', '-c', 'test -s /work/answers && echo counted'])).out ===
        'counted\n',
    );
    // exec's exit code is the command's.
    expect((await compose(s, ['exec', '-T', 'web', 'sh', '-c', 'exit 7'])).code).toBe(7);
  }
});

test('run --rm: a one-off of the profile service reaches web by name, is removed, and hands back its exit code', async () => {
  const runs = await onBoth(['run', '--rm', '-T', 'probe']);
  for (const r of runs) expect(r.out).toBe(`${CONFIG_ANSWER}\n`);
  const failed = await Promise.all(sides.map((s) => compose(s, ['run', '--rm', '-T', 'probe', 'sh', '-c', 'exit 3'])));
  expect(failed.map((r) => r.code)).toEqual([3, 3]);
  for (const s of sides)
    expect(docker(s, ['ps', '-a', '--filter', 'label=com.docker.compose.oneoff=True', '--format', '{{.Names}}'])).toBe(
      '',
    );
});

test('down -v: every container, network and volume of the project gone; the built image stays', async () => {
  const downs = await onBoth(['down', '-v', '--timeout', '1']);
  // (Compose v2 leaves a network that a removal finds in use, and says so, exiting 0.)
  for (const [i, r] of downs.entries())
    expect([sides[i].name, r.err]).not.toContainEqual(expect.stringContaining('still in use'));
  for (const s of sides) {
    const project = `label=com.docker.compose.project=${PROJECT}`;
    expect({
      side: s.name,
      containers: docker(s, ['ps', '-aq', '--filter', project]),
      networks: docker(s, ['network', 'ls', '--format', '{{.Name}}', '--filter', project]),
      volumes: docker(s, ['volume', 'ls', '-q']),
      image: docker(s, ['image', 'ls', '--format', '{{.Repository}}', `${PROJECT}-web`]),
    }).toEqual({ side: s.name, containers: '', networks: '', volumes: '', image: `${PROJECT}-web` });
  }
});
