/**
 * Exec latency, podvisor beside dockerd 20.10 (runc) in the same run: the wall time of
 *  - `docker exec c true` (no output: the stream ends at once),
 *  - `docker exec c echo hi` (output: since issue 41 it waits until the client has read the
 *    101, src/api/v1.41/peer-read.ts),
 *  - docker-py's exec_create + exec_start of `echo hi` (one Python process, each call timed
 *    inside it; the calls that lost their output are counted, not timed),
 * EXEC_RUNS times each, the daemons taking turns (median). With BENCH_BASELINE_ROOT=<another
 * podvisor checkout with dist/ built> that daemon runs too, as "podvisor-base" (an A/B).
 *
 *   npm run bench:exec        (needs bootstrap --bench: docker.io, docker-registry; python3-docker)
 *   BENCH_EXEC_RUNS=40 BENCH_BASELINE_ROOT=/work/main
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, fixtureRegistry } from '../test/fixtures/registry';
import { median, startDockerd, timeIt, runMain } from './common';

const RUNS = Number(process.env.BENCH_EXEC_RUNS ?? 30);
const BASELINE_ROOT = process.env.BENCH_BASELINE_ROOT;
const IMAGE = (): string => `${fixtureRegistry()}/busybox`;
const NAME = 'bench-exec-latency';

const docker = (env: NodeJS.ProcessEnv, args: string[]) =>
  execFileSync('docker', args, { env, stdio: 'ignore', timeout: 120_000 });

/** docker-py's exec_run("echo hi") `n` times in one process: each call's seconds, checked. */
const PY = `
import sys, time, docker
c = docker.APIClient(base_url=sys.argv[1], version="1.41")
for _ in range(int(sys.argv[2])):
    t = time.monotonic()
    x = c.exec_create("${NAME}", ["echo", "hi"])
    out = c.exec_start(x["Id"])
    print(time.monotonic() - t if out == b"hi\\n" else "lost")
`;

/** Each call's seconds, and how many calls lost their output (an old podvisor could). */
function dockerPy(env: NodeJS.ProcessEnv, n: number): { seconds: number[]; lost: number } {
  const out = execFileSync('/usr/bin/python3', ['-c', PY, String(env.DOCKER_HOST), String(n)], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  const lines = out.trim().split('\n');
  return { seconds: lines.filter((l) => l !== 'lost').map(Number), lost: lines.filter((l) => l === 'lost').length };
}

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-exec-'));
  const registries = await ensureFixtureRegistries();
  const podvisor = await startDaemon({ vmPoolSize: 1 });
  let baseline: Awaited<ReturnType<typeof startDaemon>> | undefined;
  let dockerd: Awaited<ReturnType<typeof startDockerd>> | undefined;
  const clients: Record<string, NodeJS.ProcessEnv> = {};
  try {
    if (BASELINE_ROOT) {
      const helper = (await import(path.join(path.resolve(BASELINE_ROOT), 'test/helpers/daemon'))) as {
        startDaemon: typeof startDaemon;
      };
      baseline = await helper.startDaemon({ vmPoolSize: 1 });
    }
    dockerd = await startDockerd(path.join(base, 'dockerd'));
    Object.assign(clients, {
      podvisor: podvisor.env,
      ...(baseline ? { 'podvisor-base': baseline.env } : {}),
      dockerd: dockerd.env,
    });
    const names = Object.keys(clients);
    for (const env of Object.values(clients)) {
      docker(env, ['pull', '-q', IMAGE()]);
      docker(env, ['run', '-d', '--name', NAME, IMAGE(), 'sleep', '3600']);
    }
    const rows: Array<{ what: string; samples: Record<string, number[]> }> = [];
    const row = (what: string) => {
      const r = { what, samples: Object.fromEntries(names.map((n) => [n, [] as number[]])) };
      rows.push(r);
      return r;
    };
    const t = row('`docker exec c true`');
    const e = row('`docker exec c echo hi`');
    for (let i = 0; i < RUNS; i++) {
      for (const [name, env] of Object.entries(clients)) {
        t.samples[name].push(timeIt(() => docker(env, ['exec', NAME, 'true'])));
        e.samples[name].push(timeIt(() => docker(env, ['exec', NAME, 'echo', 'hi'])));
      }
    }
    const py = row('docker-py `exec_create` + `exec_start` of `echo hi`');
    const lost: string[] = [];
    for (const [name, env] of Object.entries(clients)) {
      const r = dockerPy(env, RUNS);
      py.samples[name] = r.seconds;
      lost.push(`${name} ${r.lost}`);
    }
    const say = (text: string) => process.stdout.write(`${text}\n`);
    say(
      `\nmedians of ${RUNS}, load average ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} at the end:\n`,
    );
    say(`| workload | ${names.join(' | ')} | podvisor / dockerd |`);
    say(`|---|${names.map(() => '---').join('|')}|---|`);
    for (const r of rows) {
      const m = Object.fromEntries(names.map((n) => [n, median(r.samples[n])]));
      say(
        `| ${r.what} | ${names.map((n) => `${(m[n] * 1000).toFixed(1)} ms`).join(' | ')} | ${(m.podvisor / m.dockerd).toFixed(2)}x the time |`,
      );
    }
    say(`\ndocker-py calls that lost their output, of ${RUNS}: ${lost.join(', ')}`);
  } finally {
    for (const env of Object.values(clients)) {
      try {
        docker(env, ['rm', '-f', NAME]);
      } catch {
        // not created
      }
    }
    await dockerd?.stop().catch(() => undefined);
    await baseline?.stop().catch(() => undefined);
    await podvisor.stop();
    for (const r of registries) await r.stop().catch(() => undefined);
    fs.rmSync(base, { recursive: true, force: true });
  }
}

runMain(main);
