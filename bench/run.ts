/**
 * Container run and exec latency: podvisor beside dockerd 20.10 (runc) in the same run.
 *
 * Both daemons get the fixture busybox from the fixture registry (127.0.0.1:5000). Then, with
 * the stock docker CLI, alternating between the daemons:
 *  - `docker run --rm 127.0.0.1:5000/busybox true`, RUNS times. podvisor keeps a warm pool of
 *    POOL VMs; before each podvisor run the bench waits SETTLE_MS so the pool's background
 *    refill (one TCG boot, ~2.5 s of CPU) is done and the run starts from a warm pool. This
 *    pause is not timed.
 *  - the same RUNS back to back without the pause (podvisor then waits for boots: with TCG a
 *    boot costs ~2.5 s of CPU on a 2-core machine, so this is boot-bound).
 *  - `docker exec <c> true` in a running container, RUNS times.
 * Prints the medians (wall time of the CLI command, as a user sees it).
 *
 * With BENCH_BASELINE_ROOT=<another podvisor checkout with dist/ built> (e.g. the main
 * branch), that daemon runs too, as "podvisor-base", interleaved with the others in every
 * round (an A/B of two podvisor builds in the same run); the pause between rounds then covers
 * both pools' refills.
 *
 *   npm run bench:run        (needs bootstrap --bench: docker.io, docker-registry)
 *   BENCH_RUNS=20 BENCH_POOL=2 BENCH_SETTLE_MS=5000 BENCH_BASELINE_ROOT=/work/main
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, FIXTURE_REGISTRY } from '../test/fixtures/registry';
import { median, sleep, startDockerd, timeIt } from './common';

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const POOL = Number(process.env.BENCH_POOL ?? 2);
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 5000);
const IMAGE = `${FIXTURE_REGISTRY}/busybox`;
const BASELINE_ROOT = process.env.BENCH_BASELINE_ROOT;

const docker = (env: NodeJS.ProcessEnv, args: string[]) => execFileSync('docker', args, { env, stdio: 'ignore', timeout: 120000 });

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-run-'));
  const registries = await ensureFixtureRegistries();
  const podvisor = await startDaemon({ vmPoolSize: POOL });
  let baseline: Awaited<ReturnType<typeof startDaemon>> | undefined;
  let dockerd: Awaited<ReturnType<typeof startDockerd>> | undefined;
  try {
    if (BASELINE_ROOT) {
      // That checkout's own test helper starts that checkout's dist/ daemon.
      const helper = (await import(path.join(path.resolve(BASELINE_ROOT), 'test/helpers/daemon'))) as { startDaemon: typeof startDaemon };
      baseline = await helper.startDaemon({ vmPoolSize: POOL });
    }
    dockerd = await startDockerd(path.join(base, 'dockerd'));
    const clients: Record<string, NodeJS.ProcessEnv> = {
      podvisor: podvisor.env,
      ...(baseline ? { 'podvisor-base': baseline.env } : {}),
      dockerd: dockerd.env,
    };
    const pools = baseline ? 2 : 1;
    for (const env of Object.values(clients)) docker(env, ['pull', '-q', IMAGE]);
    await sleep(SETTLE_MS * POOL * pools);

    const series = (): Record<string, number[]> => Object.fromEntries(Object.keys(clients).map((k) => [k, [] as number[]]));
    const warm = series();
    for (let r = 0; r < RUNS; r++) {
      for (const [name, env] of Object.entries(clients)) {
        const t = timeIt(() => docker(env, ['run', '--rm', IMAGE, 'true']));
        warm[name].push(t);
        process.stdout.write(`run --rm (warm pool) ${r + 1}/${RUNS} ${name}: ${t.toFixed(3)} s\n`);
      }
      await sleep(SETTLE_MS * pools);
    }

    const b2b = series();
    for (const [name, env] of Object.entries(clients)) {
      for (let r = 0; r < RUNS; r++) b2b[name].push(timeIt(() => docker(env, ['run', '--rm', IMAGE, 'true'])));
      process.stdout.write(`run --rm back to back ${name}: ${b2b[name].map((t) => t.toFixed(2)).join(' ')}\n`);
    }

    const exec = series();
    for (const env of Object.values(clients)) docker(env, ['run', '-d', '--name', 'bench-exec', IMAGE, 'sleep', '3600']);
    for (let r = 0; r < RUNS; r++) {
      for (const [name, env] of Object.entries(clients)) exec[name].push(timeIt(() => docker(env, ['exec', 'bench-exec', 'true'])));
    }
    for (const env of Object.values(clients)) docker(env, ['rm', '-f', 'bench-exec']);

    const line = (what: string, m: Record<string, number[]>) =>
      `  ${what.padEnd(44)} ${Object.entries(m).map(([k, v]) => `${k} ${median(v).toFixed(3)} s`).join('   ')}\n`;
    process.stdout.write(`\nmedians of ${RUNS} runs (docker CLI wall time), podvisor pool ${POOL}, accel TCG, load average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}:\n`);
    process.stdout.write(line('docker run --rm busybox true (warm pool)', warm));
    process.stdout.write(line('docker run --rm busybox true (back to back)', b2b));
    process.stdout.write(line('docker exec <c> true', exec));
  } finally {
    await dockerd?.stop().catch(() => undefined);
    await baseline?.stop().catch(() => undefined);
    await podvisor.stop();
    for (const r of registries) await r.stop().catch(() => undefined);
    fs.rmSync(base, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
