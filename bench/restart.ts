/**
 * Daemon restart with containers running: the time from starting the daemon's process to its
 * first answered /_ping, and to the first `docker exec` answered in a container that lived
 * through the restart. podvisor beside dockerd 20.10 with --live-restore (containers keep
 * running while dockerd is down: the comparable setup) in the same run.
 *
 *  - podvisor: N containers (`sleep`) in VMs, pool of 1; then RUNS times: SIGTERM the daemon
 *    (containers stay), start it again and poll /_ping every 5 ms. Started two ways:
 *    `bin/podvisord` (the compiled daemon) and `npm start` (bootstrap's fast path, then the
 *    same daemon; nothing to rebuild).
 *  - dockerd (--live-restore): N containers, then RUNS restarts the same way.
 *  - Before the restarts, on each daemon: 50 concurrent clients, 30 requests each, alternating
 *    GET /containers/{id}/json, /containers/json and /version: p50 and p99 per endpoint.
 * Prints each run and the medians.
 *
 *   npm run bench:restart          BENCH_RUNS=5 BENCH_CONTAINERS=3
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { ensureFixtureRegistries, fixtureRegistry } from '../test/fixtures/registry';
import { median, sleep } from './common';
import { makeDockerdNetns } from './netns-dockerd';
import { ping } from '../test/helpers/daemon';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const N = Number(process.env.BENCH_CONTAINERS ?? 3);
const IMAGE = (): string => `${fixtureRegistry()}/busybox`;
const ROOT = path.resolve(__dirname, '..');

const docker = (env: NodeJS.ProcessEnv, args: string[]) =>
  execFileSync('docker', args, { env, stdio: 'ignore', timeout: 180000 });

/** A daemon that can be stopped and started again on the same roots and socket. */
interface Restartable {
  env: NodeJS.ProcessEnv;
  /** Start; resolves with ms from spawn to the first answered /_ping. */
  start(how?: string): Promise<number>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
}

/** Whether any process of process group `pgid` is still alive. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function restartable(sock: string, cfg: string, spawnIt: (how?: string) => ChildProcess): Restartable {
  let child: ChildProcess | undefined;
  let exited: Promise<unknown> = Promise.resolve();
  return {
    env: { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: cfg, DOCKER_CLI_HINTS: 'false' },
    async start(how) {
      const t0 = performance.now();
      const c = spawnIt(how);
      child = c;
      exited = new Promise((r) => c.once('exit', r));
      let gone = false;
      void exited.then(() => (gone = true));
      while (!(await ping(sock))) {
        if (gone) throw new Error('the daemon exited before answering /_ping');
        if (performance.now() - t0 > 120_000) throw new Error('no /_ping within 120 s');
        await sleep(5);
      }
      return performance.now() - t0;
    },
    async stop() {
      // The whole process group: `npm start` runs the daemon as its grandchild.
      if (child?.pid && child.exitCode === null && child.signalCode === null) process.kill(-child.pid, 'SIGTERM');
      await exited;
      // ... and the daemon itself must be gone before the next one takes the socket.
      for (let i = 0; i < 600 && child?.pid && groupAlive(child.pid); i++) await sleep(10);
    },
  };
}

/** GET `p` on `sock`; resolves with the ms until the whole answer was read. */
function timedGet(sock: string, p: string): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath: sock, path: p, agent: false }, (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`${p}: ${res.statusCode}`)),
      );
    });
    req.on('error', reject);
  });
}

function percentile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

/** CLIENTS concurrent clients, each REQS requests alternating inspect / list / version. */
async function underLoad(name: string, sock: string, lines: string[]): Promise<void> {
  const CLIENTS = 50;
  const REQS = 30;
  const paths = {
    inspect: '/v1.41/containers/bench-restart-0/json',
    list: '/v1.41/containers/json',
    version: '/v1.41/version',
  };
  const times: Record<string, number[]> = { inspect: [], list: [], version: [] };
  const keys = Object.keys(paths) as Array<keyof typeof paths>;
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      for (let i = 0; i < REQS; i++) {
        const k = keys[(c + i) % keys.length];
        times[k].push(await timedGet(sock, paths[k]));
      }
    }),
  );
  for (const k of keys)
    lines.push(
      `  ${`${name}: GET ${k} under ${CLIENTS} clients`.padEnd(52)} p50 ${percentile(times[k], 0.5).toFixed(1)} ms   p99 ${percentile(times[k], 0.99).toFixed(1)} ms`,
    );
}

async function measure(
  name: string,
  d: Restartable,
  hows: string[],
  rows: Record<string, number[]>,
  load: string[],
): Promise<void> {
  docker(d.env, ['pull', '-q', IMAGE()]);
  for (let i = 0; i < N; i++) docker(d.env, ['run', '-d', '--name', `bench-restart-${i}`, IMAGE(), 'sleep', '3600']);
  await sleep(3000);
  await underLoad(name, (d.env.DOCKER_HOST as string).slice('unix://'.length), load);
  for (let r = 0; r < RUNS; r++) {
    for (const how of hows) {
      await d.stop();
      const ms = await d.start(how);
      const t0 = performance.now();
      docker(d.env, ['exec', 'bench-restart-0', 'true']);
      const execMs = performance.now() - t0 + ms;
      const label = `${name}${how ? ` (${how})` : ''}`;
      (rows[`${label}: first /_ping`] ??= []).push(ms);
      (rows[`${label}: first exec answered`] ??= []).push(execMs);
      process.stdout.write(
        `restart ${r + 1}/${RUNS} ${label}: /_ping after ${ms.toFixed(0)} ms, exec answered after ${execMs.toFixed(0)} ms\n`,
      );
      await sleep(1500);
    }
  }
  for (let i = 0; i < N; i++) docker(d.env, ['rm', '-f', `bench-restart-${i}`]);
}

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-restart-'));
  const registries = await ensureFixtureRegistries();
  const rows: Record<string, number[]> = {};
  const pv = path.join(base, 'pv');
  fs.mkdirSync(path.join(pv, 'cli'), { recursive: true });
  const pvFlags = [
    '--data-root',
    path.join(pv, 'data'),
    '--exec-root',
    path.join(pv, 'exec'),
    '-H',
    `unix://${path.join(pv, 'docker.sock')}`,
    '--vm-pool-size',
    '1',
  ];
  const podvisor = restartable(path.join(pv, 'docker.sock'), path.join(pv, 'cli'), (how) =>
    how === 'npm start'
      ? spawn('npm', ['start', '--silent', '--', ...pvFlags], { cwd: ROOT, stdio: 'ignore', detached: true })
      : spawn(path.join(ROOT, 'bin/podvisord'), pvFlags, { stdio: 'ignore', detached: true }),
  );
  const dd = path.join(base, 'dockerd');
  fs.mkdirSync(path.join(dd, 'cli'), { recursive: true });
  // In a network namespace of its own (./netns-dockerd.ts), kept across its restarts.
  const ddNetns = makeDockerdNetns(dd, [fixtureRegistry()]);
  const dockerd = restartable(path.join(dd, 'docker.sock'), path.join(dd, 'cli'), () =>
    ddNetns.spawnDockerd(
      [
        '--data-root',
        path.join(dd, 'data'),
        '--exec-root',
        path.join(dd, 'exec'),
        '-H',
        `unix://${path.join(dd, 'docker.sock')}`,
        '--pidfile',
        path.join(dd, 'pid'),
        '--bridge=none',
        '--iptables=false',
        '--live-restore',
      ],
      { stdio: 'ignore', detached: true },
    ),
  );
  // npm start's bootstrap finds nothing to do (as after any first start).
  execFileSync('bash', ['scripts/bootstrap.sh'], { cwd: ROOT, stdio: 'ignore' });
  try {
    await podvisor.start();
    const load: string[] = [];
    await measure('podvisor', podvisor, ['bin/podvisord', 'npm start'], rows, load);
    await podvisor.stop();
    await dockerd.start();
    await measure('dockerd', dockerd, [''], rows, load);
    await dockerd.stop();
    process.stdout.write(
      `\nmedians of ${RUNS} restarts with ${N} containers running (podvisor pool 1; load average at the end ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}):\n`,
    );
    for (const [k, v] of Object.entries(rows))
      process.stdout.write(
        `  ${k.padEnd(52)} ${median(v).toFixed(0)} ms   (min ${Math.min(...v).toFixed(0)}, max ${Math.max(...v).toFixed(0)})\n`,
      );
    process.stdout.write(`\nrequest latency under load (${N} containers running):\n${load.join('\n')}\n`);
  } finally {
    await podvisor.stop().catch(() => undefined);
    await dockerd.stop().catch(() => undefined);
    await ddNetns.remove();
    for (const r of registries) await r.stop().catch(() => undefined);
    // dockerd leaves its data root bind-mounted on itself.
    const mounts = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((m) => m?.startsWith(base));
    for (const m of mounts.reverse()) {
      try {
        execFileSync('umount', ['-l', m]);
      } catch {
        // gone already
      }
    }
    fs.rmSync(base, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench/restart: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
