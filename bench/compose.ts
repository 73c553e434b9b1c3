/**
 * docker-compose (Debian's 1.29) on podvisor beside dockerd 20.10 (runc) in the same run, with
 * the compose test's project (test/fixtures/compose-project.ts): web built FROM the fixture
 * debian-nginx image with a published port, a named volume, a bind-mounted config file and a
 * health check; a busybox worker on a custom network, started once web is healthy. Both
 * daemons pull the same base images from the same fixture registry (127.0.0.1:5000) first,
 * so no timing includes a pull. For each daemon:
 *  - the first `up -d`, which builds web (FROM, COPY, RUN) then starts the project;
 *  - RUNS times: `down -v` then `up -d` with the image built (`up -d` returns once web is
 *    healthy and the worker started); the last `down -v` is timed too. `down` runs with
 *    `--timeout 0` (stop signal, then SIGKILL at once): the baseline dockerd runs without
 *    its firewall rules (--iptables=false), so the host's FORWARD policy drops its containers'
 *    traffic to each other, the worker's wget to web hangs, and a graceful stop would time
 *    the worker's 10-s stop timeout instead of the daemon.
 * After each `up -d`, the published port must serve the built page: how long after `up -d`
 * returned it first did is printed too (0 when at once). Prints the medians.
 *
 *   npm run bench:compose    (needs bootstrap --bench: docker.io, docker-compose)
 *   BENCH_RUNS=5
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, FIXTURE_REGISTRY } from '../test/fixtures/registry';
import { BUILT_PAGE, writeComposeProject } from '../test/fixtures/compose-project';
import { median, runMain, startDockerd, stopBench } from './common';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const PROJECT = 'pvbench';

/** Seconds that `docker-compose args` takes in `dir` (it must succeed). */
function compose(env: NodeJS.ProcessEnv, dir: string, args: string[]): number {
  const t = process.hrtime.bigint();
  execFileSync('docker-compose', ['-p', PROJECT, ...args], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'], timeout: 600000 });
  return Number(process.hrtime.bigint() - t) / 1e9;
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(`http://127.0.0.1:${port}/`, (res) => {
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/**
 * The project is up as a user would see it: the published port serves the built page.
 * Resolves with the seconds until it first did (0 when at once; at most 30 s of tries).
 */
async function check(name: string, port: number): Promise<number> {
  const t = process.hrtime.bigint();
  let last = '';
  for (let i = 0; i < 300; i++) {
    try {
      const page = await get(port);
      if (page === BUILT_PAGE) return i === 0 ? 0 : Number(process.hrtime.bigint() - t) / 1e9;
      last = `answered ${JSON.stringify(page)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name}: GET / never served the page: ${last}`);
}

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-compose-'));
  const registries = await ensureFixtureRegistries();
  const podvisor = await startDaemon({ vmPoolSize: 2 });
  let dockerd: Awaited<ReturnType<typeof startDockerd>> | undefined;
  const results: Record<string, { build: number; up: number[]; down: number[]; late: number[] }> = {};
  try {
    dockerd = await startDockerd(path.join(base, 'dockerd'));
    const clients: Array<[string, NodeJS.ProcessEnv, number]> = [['podvisor', podvisor.env, 18391], ['dockerd', dockerd.env, 18392]];
    for (const [name, env, port] of clients) {
      const dir = path.join(base, `project-${name}`);
      fs.mkdirSync(dir);
      writeComposeProject(dir, { registry: FIXTURE_REGISTRY, port, workerGreeting: 'bench' });
      for (const image of ['debian-nginx:latest', 'busybox:latest']) execFileSync('docker', ['pull', '-q', `${FIXTURE_REGISTRY}/${image}`], { env, stdio: 'ignore', timeout: 600000 });
      const r = (results[name] = { build: 0, up: [] as number[], down: [] as number[], late: [] as number[] });
      try {
        r.build = compose(env, dir, ['up', '-d']);
        r.late.push(await check(name, port));
        process.stdout.write(`${name}: first up -d (builds web) ${r.build.toFixed(2)} s\n`);
        for (let i = 0; i < RUNS; i++) {
          r.down.push(compose(env, dir, ['down', '-v', '--timeout', '0']));
          r.up.push(compose(env, dir, ['up', '-d']));
          r.late.push(await check(name, port));
          process.stdout.write(`${name}: down -v -t 0 ${r.down[i].toFixed(2)} s, up -d ${r.up[i].toFixed(2)} s, page served ${r.late[i + 1].toFixed(2)} s after\n`);
        }
        r.down.push(compose(env, dir, ['down', '-v', '--timeout', '0']));
      } finally {
        try {
          compose(env, dir, ['down', '-v', '--rmi', 'local', '--timeout', '1']);
        } catch {
          // Already down.
        }
      }
    }
    process.stdout.write(`\nmedians of ${RUNS} runs, load average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}:\n`);
    const line = (what: string, pick: (v: { build: number; up: number[]; down: number[]; late: number[] }) => number) =>
      process.stdout.write(`  ${what.padEnd(40)} ${Object.entries(results).map(([n, v]) => `${n} ${pick(v).toFixed(2)} s`).join('   ')}\n`);
    line('first up -d (build FROM debian-nginx)', (v) => v.build);
    line('up -d (web healthy, worker started)', (v) => median(v.up));
    line('down -v --timeout 0', (v) => median(v.down));
    line('published page served, after up -d', (v) => median(v.late));
  } finally {
    await stopBench({ dockerd, podvisor, registries, base });
  }
}

runMain(main);
