/**
 * A container that joins another's VM (`docker run --network container:X`): its start, and
 * the writes to its root filesystem, beside dockerd + runc's in the same run. Since issue 56's
 * joined disks such a container's layer is on a disk hot-plugged on X's VM (this build) where
 * it was a host directory over 9p (the build before, through BENCH_OTHER_MAIN).
 *
 * For each daemon (this tree's podvisor, BENCH_OTHER_MAIN's builds, dockerd + runc), X is a
 * busybox `sleep`; then BENCH_RUNS rounds, the daemons in turn (one at a time, each round in
 * another order):
 *   join     `docker run --rm --network container:X busybox true`, back to back
 *   writes   the same running a shell loop that creates BENCH_FILES files of a line each in
 *            its root (/w), each file's close a write to the layer
 * Prints the medians and the load average before and after.
 *
 *   npm run bench:joined   (BENCH_RUNS=10, BENCH_FILES=2000)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { DAEMON_MAIN, startDaemon, type TestDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, fixtureRegistry } from '../test/fixtures/registry';
import { dockerOut, loadAverage, median, runMain, startDockerd, stopBench, type BaselineDockerd } from './common';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const FILES = Number(process.env.BENCH_FILES ?? 2000);
const WRITES = `mkdir /w; i=0; while [ $i -lt ${FILES} ]; do echo $i > /w/f$i; i=$((i+1)); done`;

const docker = dockerOut;

const load = loadAverage;

/** One daemon under test, and its rounds' times. */
interface Side {
  label: string;
  env: NodeJS.ProcessEnv;
  join: number[];
  writes: number[];
}

/** ms that `args` took on `env`. */
function timed(env: NodeJS.ProcessEnv, args: string[]): number {
  const t0 = Date.now();
  docker(env, args);
  return Date.now() - t0;
}

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-joined-'));
  const registries = await ensureFixtureRegistries();
  const image = `${fixtureRegistry()}/busybox`;
  const others = (process.env.BENCH_OTHER_MAIN ?? '').split(',').filter(Boolean);
  const daemons: TestDaemon[] = [];
  let dockerd: BaselineDockerd | undefined;
  const sides: Side[] = [];
  try {
    for (const main of [DAEMON_MAIN, ...others.map((m) => path.resolve(m))]) {
      const pv = await startDaemon({ main });
      daemons.push(pv);
      sides.push({ label: `podvisor ${main}`, env: pv.env, join: [], writes: [] });
    }
    dockerd = await startDockerd(path.join(base, 'dockerd'));
    sides.push({ label: 'dockerd + runc', env: dockerd.env, join: [], writes: [] });
    for (const s of sides) {
      docker(s.env, ['pull', '-q', image]);
      docker(s.env, ['run', '-d', '--name', 'jx', image, 'sleep', '36000']);
      docker(s.env, ['exec', 'jx', 'true']);
    }
    const joined = ['run', '--rm', '--network', 'container:jx', image];
    process.stdout.write(`load average before: ${load()}\n`);
    for (let r = 0; r < RUNS; r++) {
      for (let k = 0; k < sides.length; k++) {
        const s = sides[(r + k) % sides.length];
        s.join.push(timed(s.env, [...joined, 'true']));
        s.writes.push(timed(s.env, [...joined, 'sh', '-c', WRITES]));
      }
      process.stdout.write(
        `round ${r + 1}: ${sides.map((s) => `${s.label}: join ${s.join[r]} ms, ${FILES} files ${s.writes[r]} ms`).join(' | ')}\n`,
      );
    }
    process.stdout.write(`load average after: ${load()}\n`);
    for (const s of sides)
      process.stdout.write(
        `${s.label}: medians of ${RUNS}: docker run --rm --network container:X true ${median(s.join)} ms; the same writing ${FILES} files ${median(s.writes)} ms\n`,
      );
  } finally {
    for (const s of sides) execFileSync('docker', ['rm', '-f', 'jx'], { env: s.env, stdio: 'ignore' });
    for (const pv of daemons.slice(1)) await pv.stop();
    await stopBench({ ...(dockerd ? { dockerd } : {}), podvisor: daemons[0], registries, base });
  }
}

runMain(main);
