/**
 * Warm starts (issue 69, docs/warm-starts.md): PostgreSQL run as testcontainers runs it, again
 * and again, on a podvisor daemon with --warm-starts, beside dockerd 20.10 + runc in the same
 * run.
 *
 * The database: the fixture image debian-postgres:15 (Debian's PostgreSQL run as the official
 * image runs it), `docker run -d -p 5432 -e POSTGRES_PASSWORD=secret`, its data in the image's
 * VOLUME. A round is `docker run -d` to its first query answered (the host's `psql -c 'select
 * 1'` on the published port, polled every 50 ms), then `docker rm -fv`:
 *   podvisor, cold         the label org.podvisor.warm-start=false: a cold start without the
 *                          option's work (after an untimed one that makes the image's disk)
 *   podvisor, first run    the first of its kind with --warm-starts: a cold start, saved once ready
 *   podvisor, warm         later runs, each from the first run's save (BENCH_RUNS of them)
 *   dockerd + runc         the same runs, interleaved with podvisor's warm ones
 * Medians, each beside dockerd's, and the warm state's size on disk.
 *
 *   npm run bench:warm-starts     (needs bootstrap --bench: docker.io, docker-registry)
 *   BENCH_RUNS=20
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { startDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, fixtureRegistry } from '../test/fixtures/registry';
import { dockerOut, median, removeAllContainers, runMain, sleep, stopBench } from './common';
import { startNetnsDockerd, type NetnsDockerd } from './netns-dockerd';
import { timeTo, type Side } from './postgres-probe';

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const IMAGE = (): string => `${fixtureRegistry()}/debian-postgres:15`;
const docker = dockerOut;

/** Bytes on disk of the files under `dir` (their blocks: the states' disks are sparse). */
function diskBytes(dir: string): number {
  const out = execFileSync('du', ['-sB1', dir], { encoding: 'utf8' });
  return Number(out.split('\t')[0]);
}

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-warm-'));
  const registries = await ensureFixtureRegistries();
  const pv = await startDaemon({ args: ['--warm-starts'] });
  let dockerd: NetnsDockerd | undefined;
  const times: Record<string, number[]> = {
    'podvisor: first run of its kind (cold, saved once ready)': [],
    'podvisor: cold run (label org.podvisor.warm-start=false)': [],
    'podvisor: warm run (from the first run’s save)': [],
    'dockerd + runc: cold run': [],
  };
  const keys = Object.keys(times);
  try {
    dockerd = await startNetnsDockerd(path.join(base, 'dockerd'), { networkArgs: ['--iptables=true'] });
    const dd: Side = { env: dockerd.env, reach: dockerd.inNetns };
    const pp: Side = { env: pv.env, reach: [] };
    for (const env of [dockerd.env, pv.env]) docker(env, ['pull', '-q', IMAGE()]);
    const round = async (side: Side, name: string, extra: string[] = []): Promise<number> => {
      const args = ['run', '-d', '--name', name, '-p', '5432', '-e', 'POSTGRES_PASSWORD=secret', ...extra, IMAGE()];
      const ms = await timeTo(side, [name], 'select 1', '1', () => docker(side.env, args));
      return ms;
    };
    // An untimed cold run first: the image's disk and the VM template are made once, for all.
    const optOut = ['--label', 'org.podvisor.warm-start=false'];
    await round(pp, 'prime', optOut);
    docker(pv.env, ['rm', '-fv', 'prime']);
    times[keys[1]].push(await round(pp, 'cold', optOut));
    docker(pv.env, ['rm', '-fv', 'cold']);
    // The first run of the kind; its save is made in the background once it is ready.
    times[keys[0]].push(await round(pp, 'first'));
    const states = path.join(pv.dataRoot, 'warm-starts');
    const whole = () => (fs.existsSync(states) ? fs.readdirSync(states).filter((n) => !n.startsWith('.')) : []);
    for (let i = 0; i < 600 && whole().length === 0; i++) await sleep(500);
    if (whole().length === 0) throw new Error('the first run was never saved');
    docker(pv.env, ['rm', '-fv', 'first']);
    for (let r = 0; r < RUNS; r++) {
      times[keys[2]].push(await round(pp, 'warm'));
      docker(pv.env, ['rm', '-fv', 'warm']);
      times[keys[3]].push(await round(dd, 'pgd'));
      docker(dd.env, ['rm', '-fv', 'pgd']);
      process.stdout.write(`round ${r + 1}/${RUNS}: warm ${times[keys[2]][r]} ms, dockerd ${times[keys[3]][r]} ms\n`);
    }
    const cold = median(times[keys[3]]);
    process.stdout.write(
      `\nmedians (first and cold: one run each; warm and dockerd: ${RUNS} rounds), load average at the end ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}:\n`,
    );
    for (const k of keys)
      process.stdout.write(
        `  ${k.padEnd(60)} ${median(times[k]).toFixed(0).padStart(7)} ms  (${(median(times[k]) / cold).toFixed(2)}x dockerd's)\n`,
      );
    const [key] = whole();
    process.stdout.write(
      `the warm state on disk: ${(diskBytes(path.join(states, key)) / 1048576).toFixed(1)} MiB (its RAM state, disk copy and fork template)\n`,
    );
  } finally {
    if (dockerd) spawnSync('docker', ['rm', '-fv', 'pgd'], { env: dockerd.env });
    removeAllContainers(pv.env);
    await stopBench({ dockerd, podvisor: pv, registries, base });
  }
}

runMain(main);
