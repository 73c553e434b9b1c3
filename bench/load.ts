/**
 * API latency under load: 50 concurrent clients, each with its own
 * keep-alive connection, make a bounded, seeded mix of `GET /containers/json` (list),
 * `GET /containers/{id}/json` (inspect), `GET /containers/{id}/logs?tail=100` (logs) and
 * `GET /version` while CONTAINERS containers run and print a line every 0.2 s. The same
 * load runs against podvisor and against dockerd 20.10 + runc (a private dockerd, as the other
 * benchmarks), one after the other, in the same run. Prints errors (goal 0) and p50/p99 per
 * endpoint for both.
 *
 *   npm run bench:load      (needs bootstrap --bench: docker.io, docker-registry)
 *   BENCH_CLIENTS=50 BENCH_REQUESTS=40 BENCH_CONTAINERS=3 BENCH_ROUNDS=3
 *
 * Each daemon gets BENCH_ROUNDS rounds (alternating), and the figures are over all of them.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startDaemon } from '../test/helpers/daemon';
import { ENDPOINTS, quantile, runLoad, type Endpoint } from '../test/helpers/load';
import { ensureFixtureRegistries, fixtureRegistry } from '../test/fixtures/registry';
import { startDockerd, stopBench, runMain } from './common';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 50);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 40);
const CONTAINERS = Number(process.env.BENCH_CONTAINERS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const IMAGE = (): string => `${fixtureRegistry()}/busybox`;
const TICKER = ['sh', '-c', 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done'];

const docker = (env: NodeJS.ProcessEnv, args: string[]) =>
  execFileSync('docker', args, { env, encoding: 'utf8', timeout: 120000 }).trim();

interface Target {
  name: string;
  socketPath: string;
  env: NodeJS.ProcessEnv;
  ids: string[];
  latencies: Record<Endpoint, number[]>;
  errors: string[];
}

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-load-'));
  const registries = await ensureFixtureRegistries();
  const podvisor = await startDaemon({ vmPoolSize: 0 });
  let dockerd: Awaited<ReturnType<typeof startDockerd>> | undefined;
  const targets: Target[] = [];
  try {
    dockerd = await startDockerd(path.join(base, 'dockerd'));
    const dockerdSock = (dockerd.env.DOCKER_HOST as string).replace('unix://', '');
    for (const [name, socketPath, env] of [
      ['podvisor', podvisor.socketPath, podvisor.env],
      ['dockerd', dockerdSock, dockerd.env],
    ] as const) {
      docker(env, ['pull', '-q', IMAGE()]);
      const ids = Array.from({ length: CONTAINERS }, () => docker(env, ['run', '-d', IMAGE(), ...TICKER]));
      targets.push({
        name,
        socketPath,
        env,
        ids,
        latencies: Object.fromEntries(ENDPOINTS.map((e) => [e, []])) as unknown as Record<Endpoint, number[]>,
        errors: [],
      });
    }
    // Some log to read back.
    await new Promise((r) => setTimeout(r, 3000));
    for (let round = 1; round <= ROUNDS; round++) {
      for (const t of targets) {
        const r = await runLoad({
          socketPath: t.socketPath,
          containerIds: t.ids,
          clients: CLIENTS,
          requestsPerClient: REQUESTS,
          seed: round,
        });
        for (const e of ENDPOINTS) t.latencies[e].push(...r.latencies[e]);
        t.errors.push(...r.errors);
        process.stdout.write(
          `round ${round}/${ROUNDS} ${t.name}: ${CLIENTS * REQUESTS} requests in ${(r.wallMs / 1000).toFixed(2)} s, ${r.errors.length} errors\n`,
        );
      }
    }
    for (const t of targets) docker(t.env, ['rm', '-f', ...t.ids]);

    process.stdout.write(
      `\n${CLIENTS} clients x ${REQUESTS} requests x ${ROUNDS} rounds per daemon, ${CONTAINERS} containers running, load average at the end ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}\n`,
    );
    process.stdout.write(
      `  ${'endpoint'.padEnd(36)} ${targets.map((t) => `${t.name} p50 / p99 ms (n)`.padEnd(30)).join(' ')}\n`,
    );
    const label: Record<Endpoint, string> = {
      list: 'GET /containers/json',
      inspect: 'GET /containers/{id}/json',
      logs: 'GET /containers/{id}/logs?tail=100',
      version: 'GET /version',
    };
    for (const e of ENDPOINTS) {
      const cells = targets.map((t) =>
        `${quantile(t.latencies[e], 0.5).toFixed(1)} / ${quantile(t.latencies[e], 0.99).toFixed(1)} (${t.latencies[e].length})`.padEnd(
          30,
        ),
      );
      process.stdout.write(`  ${label[e].padEnd(36)} ${cells.join(' ')}\n`);
    }
    process.stdout.write(
      `  ${'errors'.padEnd(36)} ${targets.map((t) => String(t.errors.length).padEnd(30)).join(' ')}\n`,
    );
    for (const t of targets) for (const e of t.errors.slice(0, 10)) process.stdout.write(`  ${t.name} error: ${e}\n`);
  } finally {
    await stopBench({ dockerd, podvisor, registries, base });
  }
}

runMain(main);
