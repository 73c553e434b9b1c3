/**
 * Where the host CPU of a back-to-back `docker run --rm busybox true` goes, by process, for
 * podvisor and for dockerd 20.10 + runc in the same run (the cost bench:run's host-CPU row
 * sums up).
 *
 * Method: `perf record -a` samples every CPU on the cpu-clock event every 0.25 ms of CPU time
 * (so a sample is 0.25 ms) with CLOCK_MONOTONIC timestamps, while RUNS back-to-back runs go
 * through one daemon. perf also records every fork, exec and exit, from which the bench builds
 * the process tree: a sample counts for a daemon when its process descends from the daemon
 * (QEMU, the perl mount helper, ip, iptables, rm, runc, containerd-shim...), for the CLI when
 * it is a `docker` the bench started; kernel threads (kworkers, ksoftirqd, rcu) are one row,
 * whatever else ran on the host (other users, perf itself) another. Each row says how much of
 * its time was in the kernel, and how many processes of it started per run.
 *
 * With the daemon's debug log, each QEMU clone's samples are split by phase: restore to ready
 * (state load, handshake, ACTIVATE), the pool's warming step (rehearsal, idle trim), idle in
 * the pool, the user's container (hand-out to destroy), and the teardown.
 *
 *   npm run bench:start-cpu                  (under the VM lock; needs perf: linux-perf)
 *   BENCH_RUNS=20 BENCH_POOL=2 BENCH_DOCKERD=0 (podvisor only) BENCH_ARGS="--flag" BENCH_TOP=8
 *   (the top kernel and user symbols of each podvisor row)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { startDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, fixtureRegistry } from '../test/fixtures/registry';
import { sleep, startDockerd, runMain } from './common';
import { analyse, type Marker, type Profile } from './start-cpu-analysis';

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const POOL = Number(process.env.BENCH_POOL ?? 2);
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 5000);
const WITH_DOCKERD = process.env.BENCH_DOCKERD !== '0';
const ARGS = (process.env.BENCH_ARGS ?? '').split(' ').filter(Boolean);
const TOP = Number(process.env.BENCH_TOP ?? 0);
const IMAGE = (): string => `${fixtureRegistry()}/busybox`;
/** cpu-clock period of one sample, ns. */
const PERIOD_NS = 250_000;

const monoMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const docker = (env: NodeJS.ProcessEnv, args: string[]) =>
  execFileSync('docker', args, { env, stdio: 'ignore', timeout: 120_000 });

/** The pid of the process whose argv holds `arg` (the daemon, found by its exec root). */
function pidWithArg(arg: string): number {
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').includes(arg)) return Number(d);
    } catch {
      // gone
    }
  }
  throw new Error(`no process with argument ${arg}`);
}

/** Record the whole host with perf while `work` runs; returns perf script's text and the window. */
async function record(file: string, work: () => void): Promise<{ script: string; t0: number; t1: number }> {
  const perf = spawn(
    'perf',
    ['record', '-a', '-e', 'cpu-clock', '-c', String(PERIOD_NS), '-k', 'CLOCK_MONOTONIC', '-o', file],
    { stdio: 'ignore' },
  );
  const done = new Promise((r) => perf.once('exit', r));
  await sleep(700);
  const t0 = monoMs();
  work();
  const t1 = monoMs();
  perf.kill('SIGINT');
  await done;
  const script = execFileSync(
    'perf',
    ['script', '-i', file, '--show-task-events', '-F', 'comm,pid,tid,time,ip,sym,dso'],
    { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] },
  ).toString();
  return { script, t0, t1 };
}

/** Phase markers of the daemon's debug log (wall clock) on the monotonic clock. */
function markers(log: string, wallMinusMono: number): Marker[] {
  const out: Marker[] = [];
  for (const line of log.split('\n')) {
    const m = /^(\S+Z) \S+\s+\[\w+\] (.*)$/.exec(line);
    if (!m) continue;
    const t = Date.parse(m[1]) - wallMinusMono;
    let x: RegExpExecArray | null;
    if ((x = /^VM (\w+) cloned from template .* qemu pid (\d+)\)/.exec(m[2])))
      out.push({ t, vm: x[1], what: 'ready', pid: Number(x[2]) });
    else if ((x = /^VM (\w+) warmed in/.exec(m[2]))) out.push({ t, vm: x[1], what: 'warmed' });
    else if ((x = /^pod \w+: got VM (\w+)/.exec(m[2]))) out.push({ t, vm: x[1], what: 'handed out' });
    else if ((x = /^VM (\w+): destroying/.exec(m[2]))) out.push({ t, vm: x[1], what: 'destroying' });
  }
  return out;
}

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-cpu-'));
  const registries = await ensureFixtureRegistries();
  const podvisor = await startDaemon({ vmPoolSize: POOL, args: ['--log-level', 'debug', ...ARGS] });
  let dockerd: Awaited<ReturnType<typeof startDockerd>> | undefined;
  const say = (text: string) => process.stdout.write(`${text}\n`);
  try {
    const daemons: Array<{ name: string; env: NodeJS.ProcessEnv; pid: number }> = [
      { name: 'podvisor', env: podvisor.env, pid: pidWithArg(podvisor.execRoot) },
    ];
    if (WITH_DOCKERD) {
      dockerd = await startDockerd(path.join(base, 'dockerd'));
      daemons.push({
        name: 'dockerd',
        env: dockerd.env,
        pid: Number(fs.readFileSync(path.join(base, 'dockerd', 'pid'), 'utf8')),
      });
    }
    for (const d of daemons) docker(d.env, ['pull', '-q', IMAGE()]);
    const load0 = os.loadavg();
    const profiles: Profile[] = [];
    for (const d of daemons) {
      await sleep(d.name === 'podvisor' ? SETTLE_MS * POOL : 1000);
      const logStart = podvisor.logs().length;
      const wallMinusMono = Date.now() - monoMs();
      const { script, t0, t1 } = await record(path.join(base, `${d.name}.perf`), () => {
        for (let r = 0; r < RUNS; r++) docker(d.env, ['run', '--rm', IMAGE(), 'true']);
      });
      const marks = d.name === 'podvisor' ? markers(podvisor.logs().slice(logStart), wallMinusMono) : [];
      profiles.push(
        analyse({
          name: d.name,
          daemonPid: d.pid,
          benchPid: process.pid,
          script,
          t0,
          t1,
          periodMs: PERIOD_NS / 1e6,
          runs: RUNS,
          markers: marks,
          top: TOP,
        }),
      );
    }
    say(
      `\n${RUNS} x \`docker run --rm busybox true\` back to back per daemon, podvisor pool ${POOL} (${ARGS.join(' ') || 'default flags'}), ` +
        `load average ${load0.map((l) => l.toFixed(1)).join(' ')} at the start, ${os
          .loadavg()
          .map((l) => l.toFixed(1))
          .join(' ')} at the end`,
    );
    for (const p of profiles) say(`\n${p.text}`);
  } finally {
    await dockerd?.stop().catch(() => undefined);
    await podvisor.stop();
    for (const r of registries) await r.stop().catch(() => undefined);
    fs.rmSync(base, { recursive: true, force: true });
  }
}

runMain(main);
