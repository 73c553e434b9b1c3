/**
 * docker-compose (Debian's 1.29) on podvisor beside dockerd 20.10 (runc) in the same run, with
 * the compose test's project (test/fixtures/compose-project.ts): web built FROM the fixture
 * debian-nginx image with a published port, a named volume, a bind-mounted config file and a
 * health check; a busybox worker on a custom network, started once web is healthy. Both
 * daemons pull the same base images from the same fixture registry (test/fixtures/registry.ts) first,
 * so no timing includes a pull. For each daemon:
 *  - the first `up -d`, which builds web (FROM, COPY, RUN) then starts the project;
 *  - RUNS times: `down -v` then `up -d` with the image built (`up -d` returns once web is
 *    healthy and the worker started); the last `down -v` is timed too. `down` runs with
 *    `--timeout 0` (stop signal, then SIGKILL at once), so that a graceful stop's timeout never
 *    counts instead of the daemon (the baseline dockerd once ran on the host's network without
 *    firewall rules, where the FORWARD policy dropped the worker's wget to web and its stop
 *    waited the 10-s timeout; it now runs in a namespace of its own, ./netns-dockerd.ts).
 * After each `up -d`, the published port must serve the built page: how long after `up -d`
 * returned it first did is printed too (0 when at once). Prints the medians.
 *
 *   npm run bench:compose    (needs bootstrap --bench: docker.io, docker-compose)
 *   BENCH_RUNS=5
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile, execFileSync } from 'node:child_process';
import { startDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, fixtureRegistry } from '../test/fixtures/registry';
import { BUILT_PAGE, writeComposeProject } from '../test/fixtures/compose-project';
import { median, runMain, startDockerd, stopBench } from './common';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const PROJECT = 'pvbench';

/** Seconds that `docker-compose args` takes in `dir` (it must succeed). */
function compose(env: NodeJS.ProcessEnv, dir: string, args: string[]): number {
  const t = process.hrtime.bigint();
  execFileSync('docker-compose', ['-p', PROJECT, ...args], {
    cwd: dir,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 600000,
  });
  return Number(process.hrtime.bigint() - t) / 1e9;
}

/**
 * GET / on the published port, with curl run under `prefix` (the baseline's published ports are
 * in its network namespace: ./netns-dockerd.ts), the same way for both daemons.
 */
function get(port: number, prefix: string[]): Promise<string> {
  const argv = [...prefix, 'curl', '-sS', '-m', '5', `http://127.0.0.1:${port}/`];
  return new Promise((resolve, reject) => {
    execFile(argv[0], argv.slice(1), { encoding: 'utf8' }, (err, out, stderr) =>
      err ? reject(new Error(stderr.trim() || err.message)) : resolve(out),
    );
  });
}

/**
 * The project is up as a user would see it: the published port serves the built page.
 * Resolves with the seconds until it first did (0 when at once; at most 30 s of tries).
 */
async function check(name: string, port: number, prefix: string[]): Promise<number> {
  const t = process.hrtime.bigint();
  let last = '';
  for (let i = 0; i < 300; i++) {
    try {
      const page = await get(port, prefix);
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
    const clients: Array<[string, NodeJS.ProcessEnv, number, string[]]> = [
      ['podvisor', podvisor.env, 18391, []],
      ['dockerd', dockerd.env, 18392, dockerd.inNetns],
    ];
    for (const [name, env, port, prefix] of clients) {
      const dir = path.join(base, `project-${name}`);
      fs.mkdirSync(dir);
      writeComposeProject(dir, { registry: fixtureRegistry(), port, workerGreeting: 'bench' });
      for (const image of ['debian-nginx:latest', 'busybox:latest'])
        execFileSync('docker', ['pull', '-q', `${fixtureRegistry()}/${image}`], {
          env,
          stdio: 'ignore',
          timeout: 600000,
        });
      const r = (results[name] = { build: 0, up: [] as number[], down: [] as number[], late: [] as number[] });
      try {
        r.build = compose(env, dir, ['up', '-d']);
        r.late.push(await check(name, port, prefix));
        process.stdout.write(`${name}: first up -d (builds web) ${r.build.toFixed(2)} s\n`);
        for (let i = 0; i < RUNS; i++) {
          r.down.push(compose(env, dir, ['down', '-v', '--timeout', '0']));
          r.up.push(compose(env, dir, ['up', '-d']));
          r.late.push(await check(name, port, prefix));
          process.stdout.write(
            `${name}: down -v -t 0 ${r.down[i].toFixed(2)} s, up -d ${r.up[i].toFixed(2)} s, page served ${r.late[i + 1].toFixed(2)} s after\n`,
          );
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
    process.stdout.write(
      `\nmedians of ${RUNS} runs, load average at the end ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}:\n`,
    );
    const line = (what: string, pick: (v: { build: number; up: number[]; down: number[]; late: number[] }) => number) =>
      process.stdout.write(
        `  ${what.padEnd(40)} ${Object.entries(results)
          .map(([n, v]) => `${n} ${pick(v).toFixed(2)} s`)
          .join('   ')}\n`,
      );
    line('first up -d (build FROM debian-nginx)', (v) => v.build);
    line('up -d (web healthy, worker started)', (v) => median(v.up));
    line('down -v --timeout 0', (v) => median(v.down));
    line('published page served, after up -d', (v) => median(v.late));
  } finally {
    await stopBench({ dockerd, podvisor, registries, base });
  }
}

runMain(main);
