/**
 * Warm starts with Compose (issue 69's second goal, docs/warm-starts.md): a project of
 * PostgreSQL, Redis and a Python app that uses both, written as users write one, brought up
 * again and again with Compose v2 (`down -v`, then `up -d`), on a podvisor daemon with
 * --warm-starts beside dockerd 20.10 + runc in the same run.
 *
 * The project: db is the fixture debian-postgres:15 (Debian's PostgreSQL run as the official
 * image runs it) with its data in the named volume `pgdata` and a pg_isready health check;
 * cache is debian-redis:7; app is debian-python:3 running a small HTTP server (Python's
 * http.server) that, for each request, connects to db and to cache by their service names,
 * counts the database's connections and increments a counter in Redis; it starts once db is
 * healthy, and publishes its port on 127.0.0.1. A round is `up -d` to the app's first answer
 * with both figures (curl every 100 ms; the baseline's in its network namespace), then
 * `down -v -t 0`, timed apart:
 *   podvisor, first up     the project's first `up`: every service the first of its kind
 *                          (cold, each saved once ready: db once healthy, the others once
 *                          they listen)
 *   podvisor, later ups    BENCH_RUNS of them, once the three states are whole: each service
 *                          from its state, `pgdata` made anew by Compose and empty, so db's
 *                          kind holds it (the initialised cluster of the first up)
 *   dockerd + runc         the same rounds, interleaved with the later ups
 * Medians, each beside dockerd's.
 *
 *   npm run bench:warm-compose     (needs bootstrap --bench and --test: docker.io, Compose v2)
 *   BENCH_RUNS=5
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile, execFileSync } from 'node:child_process';
import { startDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, fixtureRegistry } from '../test/fixtures/registry';
import { composeV2, composeV2Env, composeV2Plugin } from '../test/helpers/compose-v2';
import { freePort } from '../test/helpers/docker-cli';
import { dockerOut, median, runMain, sleep, stopBench } from './common';
import { startNetnsDockerd, type NetnsDockerd } from './netns-dockerd';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const PROJECT = 'pvwarmc';

/** The app: one request is a connection to each of db and cache, by their service names. */
const APP = `
import http.server, psycopg2, redis
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with psycopg2.connect(host='db', user='postgres', password='secret', dbname='postgres') as db:
            cur = db.cursor()
            cur.execute('select count(*) from pg_stat_activity')
            n = cur.fetchone()[0]
        hits = redis.Redis(host='cache').incr('hits')
        body = ('db %d hits %d\\n' % (n, hits)).encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(('', 8080), H).serve_forever()
`;

function composeFile(registry: string, port: number): string {
  return `services:
  db:
    image: ${registry}/debian-postgres:15
    environment:
      POSTGRES_PASSWORD: secret
    volumes:
      - pgdata:/var/lib/postgresql/data
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U postgres"]
      interval: 1s
      timeout: 30s
      retries: 300
  cache:
    image: ${registry}/debian-redis:7
  app:
    image: ${registry}/debian-python:3
    command: ["python3", "-c", ${JSON.stringify(APP)}]
    ports:
      - "127.0.0.1:${port}:8080"
    depends_on:
      db:
        condition: service_healthy
      cache:
        condition: service_started
volumes:
  pgdata:
`;
}

/** GET / on the app's port, with curl under `prefix` (the baseline's namespace); its body or ''. */
function get(port: number, prefix: string[]): Promise<string> {
  const argv = [...prefix, 'curl', '-sf', '-m', '5', `http://127.0.0.1:${port}/`];
  return new Promise((resolve) =>
    execFile(argv[0], argv.slice(1), { encoding: 'utf8' }, (err, out) => resolve(err ? '' : out)),
  );
}

/** One side of the comparison. */
interface Side {
  env: NodeJS.ProcessEnv;
  dir: string;
  port: number;
  reach: string[];
}

/** Milliseconds from `up -d` to the app's first answer (db and cache both reached). */
async function upToAnswer(side: Side): Promise<number> {
  const t0 = Date.now();
  const up = composeV2(side.env, side.dir, PROJECT, ['up', '-d'], 900000);
  let done = false;
  void up.then(() => (done = true));
  for (;;) {
    const body = await get(side.port, side.reach);
    if (/^db \d+ hits \d+$/m.test(body)) break;
    if (done) {
      const r = await up;
      if (r.code !== 0) throw new Error(`compose up: ${r.err}`);
    }
    if (Date.now() - t0 > 900000) throw new Error('the app never answered');
    await sleep(100);
  }
  const ms = Date.now() - t0;
  const r = await up;
  if (r.code !== 0) throw new Error(`compose up: ${r.err}`);
  return ms;
}

/** `down -v -t 0`; its milliseconds. */
async function down(side: Side): Promise<number> {
  const t0 = Date.now();
  const r = await composeV2(side.env, side.dir, PROJECT, ['down', '-v', '-t', '0'], 600000);
  if (r.code !== 0) throw new Error(`compose down: ${r.err}`);
  return Date.now() - t0;
}

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-warm-compose-'));
  const registries = await ensureFixtureRegistries();
  const pv = await startDaemon({ args: ['--warm-starts'] });
  let dockerd: NetnsDockerd | undefined;
  const plugin = composeV2Plugin();
  const sides: Side[] = [];
  try {
    dockerd = await startNetnsDockerd(path.join(base, 'dockerd'), { networkArgs: ['--iptables=true'] });
    for (const [name, env, reach] of [
      ['podvisor', pv.env, []],
      ['dockerd', dockerd.env, dockerd.inNetns],
    ] as const) {
      const dir = path.join(base, `${name}-project`);
      fs.mkdirSync(dir);
      const port = await freePort();
      fs.writeFileSync(path.join(dir, 'compose.yaml'), composeFile(fixtureRegistry(), port));
      const cenv = composeV2Env(env, plugin);
      for (const img of ['debian-postgres:15', 'debian-redis:7', 'debian-python:3'])
        dockerOut(cenv, ['pull', '-q', `${fixtureRegistry()}/${img}`]);
      sides.push({ env: cenv, dir, port, reach: [...reach] });
    }
    const [pp, dd] = sides;
    const first = await upToAnswer(pp);
    process.stdout.write(`podvisor first up (each service cold, saved once ready): ${first} ms\n`);
    const states = path.join(pv.dataRoot, 'warm-starts');
    const whole = () => (fs.existsSync(states) ? fs.readdirSync(states).filter((n) => !n.startsWith('.')) : []);
    for (let i = 0; i < 1200 && whole().length < 3; i++) await sleep(500);
    process.stdout.write(`warm states whole: ${whole().length} of 3\n`);
    await down(pp);
    const warm: number[] = [];
    const cold: number[] = [];
    const downs: Record<'podvisor' | 'dockerd', number[]> = { podvisor: [], dockerd: [] };
    for (let r = 0; r < RUNS; r++) {
      warm.push(await upToAnswer(pp));
      const labels = dockerOut(pp.env, [
        'ps',
        '--filter',
        `label=com.docker.compose.project=${PROJECT}`,
        '--format',
        '{{.Names}} {{.Label "org.podvisor.warm-start.state"}}',
      ]);
      downs.podvisor.push(await down(pp));
      cold.push(await upToAnswer(dd));
      downs.dockerd.push(await down(dd));
      process.stdout.write(
        `round ${r + 1}/${RUNS}: podvisor ${warm[r]} ms (warm: ${labels.trim().split('\n').join(', ')}), dockerd ${cold[r]} ms\n`,
      );
    }
    const d = median(cold);
    process.stdout.write(
      `\nmedians of ${RUNS} rounds, load average at the end ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}:\n` +
        `  podvisor, first up (cold, saved)      ${first.toFixed(0).padStart(7)} ms  (${(first / d).toFixed(2)}x dockerd's)\n` +
        `  podvisor, later up (warm)             ${median(warm).toFixed(0).padStart(7)} ms  (${(median(warm) / d).toFixed(2)}x dockerd's)\n` +
        `  dockerd + runc, up                    ${d.toFixed(0).padStart(7)} ms\n` +
        `  down -v (timed apart from the up): podvisor ${median(downs.podvisor).toFixed(0)} ms (pgdata moved off the db's disk first), dockerd ${median(downs.dockerd).toFixed(0)} ms\n`,
    );
    for (const key of whole()) {
      const dir = path.join(states, key);
      const image = (JSON.parse(fs.readFileSync(path.join(dir, 'image'), 'utf8')) as { id: string }).id;
      const ref = dockerOut(pp.env, ['image', 'inspect', '-f', '{{index .RepoTags 0}}', image]).trim();
      const bytes = Number(execFileSync('du', ['-sB1', dir], { encoding: 'utf8' }).split('\t')[0]);
      process.stdout.write(`  the warm state of ${ref}: ${(bytes / 1048576).toFixed(1)} MiB on disk\n`);
    }
  } finally {
    for (const s of sides) await composeV2(s.env, s.dir, PROJECT, ['down', '-v', '-t', '0']).catch(() => undefined);
    await stopBench({ dockerd, podvisor: pv, registries, base });
  }
}

runMain(main);
