/**
 * docker build with the classic builder (DOCKER_BUILDKIT=0): podvisor beside dockerd 20.10 in
 * the same run. A 6-step Dockerfile (FROM, ENV, WORKDIR, COPY, RUN, CMD) on the fixture
 * busybox; per round, each daemon builds it once with --no-cache (the first build: the RUN
 * step boots a VM on podvisor, starts runc on dockerd) and once again from the cache. Prints
 * the medians of the CLI's wall time.
 *
 *   npm run bench:build        (needs bootstrap --bench: docker.io, docker-registry)
 *   BENCH_RUNS=5
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, fixtureRegistry } from '../test/fixtures/registry';
import { median, startDockerd, timeIt, stopBench, runMain } from './common';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const IMAGE = (): string => `${fixtureRegistry()}/busybox`;

const docker = (env: NodeJS.ProcessEnv, args: string[]) =>
  execFileSync('docker', args, { env: { ...env, DOCKER_BUILDKIT: '0' }, stdio: 'ignore', timeout: 300000 });

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-build-'));
  const ctx = path.join(base, 'ctx');
  fs.mkdirSync(ctx);
  fs.writeFileSync(
    path.join(ctx, 'Dockerfile'),
    `FROM ${IMAGE()}\nENV GREETING=hello\nWORKDIR /app\nCOPY data.txt ./\nRUN wc -c data.txt > size.txt && echo "$GREETING" >> size.txt\nCMD ["cat", "size.txt"]\n`,
  );
  fs.writeFileSync(path.join(ctx, 'data.txt'), 'x'.repeat(100000));
  const registries = await ensureFixtureRegistries();
  const podvisor = await startDaemon({ vmPoolSize: 0 });
  let dockerd: Awaited<ReturnType<typeof startDockerd>> | undefined;
  try {
    dockerd = await startDockerd(path.join(base, 'dockerd'));
    const clients: Record<string, NodeJS.ProcessEnv> = { podvisor: podvisor.env, dockerd: dockerd.env };
    for (const env of Object.values(clients)) docker(env, ['pull', '-q', IMAGE()]);
    const first: Record<string, number[]> = { podvisor: [], dockerd: [] };
    const cached: Record<string, number[]> = { podvisor: [], dockerd: [] };
    for (let r = 0; r < RUNS; r++) {
      for (const [name, env] of Object.entries(clients)) {
        first[name].push(timeIt(() => docker(env, ['build', '--no-cache', '-q', '-t', 'bench-build', ctx])));
        cached[name].push(timeIt(() => docker(env, ['build', '-q', '-t', 'bench-build', ctx])));
        process.stdout.write(
          `round ${r + 1}/${RUNS} ${name}: first ${first[name][r].toFixed(3)} s, cached ${cached[name][r].toFixed(3)} s\n`,
        );
      }
    }
    const line = (what: string, m: Record<string, number[]>) =>
      `  ${what.padEnd(36)} ${Object.entries(m)
        .map(([k, v]) => `${k} ${median(v).toFixed(3)} s`)
        .join('   ')}\n`;
    process.stdout.write(
      `\nmedians of ${RUNS} rounds (docker CLI wall time, DOCKER_BUILDKIT=0), load average at the end ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}:\n`,
    );
    process.stdout.write(line('build, 6 steps, --no-cache', first));
    process.stdout.write(line('build, 6 steps, all cached', cached));
  } finally {
    await stopBench({ dockerd, podvisor, registries, base });
  }
}

runMain(main);
