/**
 * Container workloads with the stock docker CLI: podvisor beside dockerd 20.10 (runc) in the
 * same run, printed as one table (podvisor, dockerd, ratio).
 *
 * Both daemons get the fixture busybox from the fixture registry (test/fixtures/registry.ts). Then, each
 * workload on one daemon after the other (podvisor first), with no pause inside a workload:
 *  - warm pool: `docker run --rm busybox true`, WARM_RUNS times, waiting SETTLE_MS (untimed)
 *    before each podvisor run so its pool's refill is done: one run from a full pool;
 *  - back to back: RUNS x `docker run --rm busybox true` with no pause (median), with the host
 *    CPU per run split by the processes of each daemon's tree, and podvisor's time per phase of
 *    a start from its debug log (bench/start-phases.ts; podvisord runs at --log-level debug);
 *  - `docker run -d busybox sleep 60`, 10 in a row (median of each command);
 *  - 10 x `docker run -d busybox sleep 60` started at once: wall time until all ten CLIs
 *    returned (each returns once its container runs);
 *  - `docker exec <c> true` in a running container, EXEC_RUNS times (median);
 *  - attach: `docker run --rm busybox dd if=/dev/zero bs=64k count=3200` (200 MiB to stdout),
 *    bytes counted as they reach the CLI's stdout, 3 runs (median MB/s).
 * Between workloads (untimed) the containers are removed and podvisor's pool is given
 * SETTLE_MS per pool VM to refill, so every workload starts from a full pool.
 *
 * With BENCH_BASELINE_ROOT=<another podvisor checkout with dist/ built> (e.g. the main
 * branch), that daemon runs too, as "podvisor-base" (an A/B of two podvisor builds in the
 * same run). BENCH_ARGS adds daemon flags to podvisor (e.g. "--kernel /path/vmlinux"),
 * BENCH_BASELINE_ARGS to the baseline (e.g. this checkout with "--vm-templates=false"). A
 * podvisor run with flags is labelled with them in the table, and a baseline that is this
 * checkout is labelled "podvisor (<its flags>)" rather than "podvisor-base".
 *
 *   npm run bench:run        (needs bootstrap --bench: docker.io, docker-registry)
 *   BENCH_RUNS=20 BENCH_WARM_RUNS=5 BENCH_POOL=2 BENCH_SETTLE_MS=5000 BENCH_BASELINE_ROOT=/work/main
 *
 * Images read from their image disk (block mode's default) against the layers share (9p), in
 * one run, this checkout against itself:
 *
 *   BENCH_BASELINE_ROOT=$PWD BENCH_BASELINE_ARGS="--storage-opt image=layers" npm run bench:run
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { startDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, fixtureRegistry } from '../test/fixtures/registry';
import { hostBusyMs, median, sleep, startDockerd, runMain } from './common';
import { cpuBetween, cpuLines, logSince, phaseTable, treeCpuByName } from './start-phases';
import { dockerdContainerPss, podvisorVmPss, podvisorVmPssParts } from './idle-memory';

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const WARM_RUNS = Number(process.env.BENCH_WARM_RUNS ?? 5);
const POOL = Number(process.env.BENCH_POOL ?? 2);
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 5000);
const IMAGE = (): string => `${fixtureRegistry()}/busybox`;
const BASELINE_ROOT = process.env.BENCH_BASELINE_ROOT;
const ARGS = (process.env.BENCH_ARGS ?? '').split(' ').filter(Boolean);
/** Daemon flags of the baseline podvisor (e.g. "--vm-templates=false" with this checkout as the baseline). */
const BASELINE_ARGS = (process.env.BENCH_BASELINE_ARGS ?? '').split(' ').filter(Boolean);
/**
 * How the table names each podvisor: with its flags when it has any; the baseline as
 * "podvisor-base" when it is another checkout (another build), as "podvisor (<its flags>)" when
 * it is this checkout with flags of its own (only the flags differ).
 */
function podvisorLabels(): Record<string, string> {
  const withArgs = (name: string, args: string[]) => (args.length ? `${name} (${args.join(' ')})` : name);
  const sameCheckout = BASELINE_ROOT !== undefined && path.resolve(BASELINE_ROOT) === path.resolve(__dirname, '..');
  return {
    podvisor: withArgs('podvisor', ARGS),
    'podvisor-base':
      sameCheckout && BASELINE_ARGS.length
        ? withArgs('podvisor', BASELINE_ARGS)
        : withArgs('podvisor-base', BASELINE_ARGS),
  };
}
const EXEC_RUNS = Number(process.env.BENCH_EXEC_RUNS ?? 10);
const PARALLEL = 10;
const STREAM_BYTES = 3200 * 65536;

/**
 * Run the docker CLI and wait for it, without blocking this process: the daemons' output
 * pipes are read meanwhile (podvisord at debug level writes a few KiB per start; a pipe nobody
 * reads would stop it once full).
 */
function docker(env: NodeJS.ProcessEnv, args: string[], timeout = 120_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn('docker', args, { env, stdio: 'ignore', timeout });
    c.on('error', reject);
    c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`docker ${args.join(' ')}: exit ${code}`))));
  });
}

/** Seconds `docker args` took. */
async function timeDocker(env: NodeJS.ProcessEnv, args: string[]): Promise<number> {
  const t = process.hrtime.bigint();
  await docker(env, args);
  return Number(process.hrtime.bigint() - t) / 1e9;
}
/** Remove containers (untimed; on a loaded 2-core machine ten VM teardowns can take minutes). */
const removeAll = (env: NodeJS.ProcessEnv, names: string[]) => docker(env, ['rm', '-f', ...names], 600_000);

/** Run the docker CLI asynchronously; resolves with the bytes it wrote to stdout. */
function dockerAsync(env: NodeJS.ProcessEnv, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = spawn('docker', args, { env, stdio: ['ignore', 'pipe', 'ignore'] });
    let bytes = 0;
    c.stdout.on('data', (b: Buffer) => (bytes += b.length));
    c.on('error', reject);
    c.on('close', (code) =>
      code === 0 ? resolve(bytes) : reject(new Error(`docker ${args.join(' ')}: exit ${code}`)),
    );
  });
}

const now = (): number => Number(process.hrtime.bigint()) / 1e9;

interface Row {
  what: string;
  unit: 's' | 'MB/s' | 'MiB';
  /** Per daemon: the samples; the row shows their median. */
  samples: Record<string, number[]>;
}

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-run-'));
  const registries = await ensureFixtureRegistries();
  // At debug level the daemon logs each phase of a start (bench/start-phases.ts).
  const podvisor = await startDaemon({
    vmPoolSize: POOL,
    args: ARGS.includes('--log-level') ? ARGS : [...ARGS, '--log-level', 'debug'],
  });
  let baseline: Awaited<ReturnType<typeof startDaemon>> | undefined;
  let dockerd: Awaited<ReturnType<typeof startDockerd>> | undefined;
  const load0 = os.loadavg();
  try {
    if (BASELINE_ROOT) {
      // That checkout's own test helper starts that checkout's dist/ daemon.
      const helper = (await import(path.join(path.resolve(BASELINE_ROOT), 'test/helpers/daemon'))) as {
        startDaemon: typeof startDaemon;
      };
      baseline = await helper.startDaemon({ vmPoolSize: POOL, args: BASELINE_ARGS });
    }
    dockerd = await startDockerd(path.join(base, 'dockerd'));
    const clients: Record<string, NodeJS.ProcessEnv> = {
      podvisor: podvisor.env,
      ...(baseline ? { 'podvisor-base': baseline.env } : {}),
      dockerd: dockerd.env,
    };
    const names = Object.keys(clients);
    const labels: Record<string, string> = { ...podvisorLabels(), dockerd: 'dockerd' };
    const isPodvisor = (name: string) => name.startsWith('podvisor');
    const settle = (name: string) => (isPodvisor(name) ? sleep(SETTLE_MS * POOL) : Promise.resolve());
    for (const env of Object.values(clients)) await docker(env, ['pull', '-q', IMAGE()]);
    await sleep(SETTLE_MS * POOL * (baseline ? 2 : 1));
    const rows: Row[] = [];
    const row = (what: string, unit: Row['unit'] = 's'): Row => {
      const r: Row = { what, unit, samples: Object.fromEntries(names.map((n) => [n, []])) };
      rows.push(r);
      return r;
    };
    const say = (text: string) => process.stdout.write(`${text}\n`);
    const list = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' ');

    const warm = row('`docker run --rm true`, from a full pool');
    for (let r = 0; r < WARM_RUNS; r++) {
      for (const [name, env] of Object.entries(clients)) {
        await settle(name);
        warm.samples[name].push(await timeDocker(env, ['run', '--rm', IMAGE(), 'true']));
      }
    }
    say(`warm: ${names.map((n) => `${labels[n]} ${list(warm.samples[n])}`).join('; ')}`);

    const b2b = row(`${RUNS} x \`docker run --rm true\`, back to back`);
    // The whole host's CPU time over each series: what one start costs the cores, which bounds
    // how many starts a second the host can sustain.
    const cpuPerRun: Record<string, { ms: number; cores: number }> = {};
    // Each daemon's process tree (bench/start-phases.ts): the daemon, QEMUs and helpers, or
    // dockerd, containerd and shims; the rest of the host is the CLI and everything else.
    const daemonPid: Record<string, () => number | undefined> = {
      podvisor: () => podvisor.pid(),
      ...(baseline ? { 'podvisor-base': () => baseline!.pid() } : {}),
      dockerd: () => Number(fs.readFileSync(path.join(base, 'dockerd', 'pid'), 'utf8').trim()),
    };
    const b2bLines: string[] = [];
    for (const [name, env] of Object.entries(clients)) {
      await settle(name);
      const pid = daemonPid[name]()!;
      const since = new Date().toISOString();
      const tree0 = treeCpuByName(pid);
      const cpu0 = hostBusyMs();
      const t0 = now();
      for (let r = 0; r < RUNS; r++) b2b.samples[name].push(await timeDocker(env, ['run', '--rm', IMAGE(), 'true']));
      cpuPerRun[name] = { ms: (hostBusyMs() - cpu0) / RUNS, cores: (hostBusyMs() - cpu0) / 1000 / (now() - t0) };
      const tree = cpuBetween(tree0, treeCpuByName(pid));
      const treeMs = [...tree.values()].reduce((a, b) => a + b, 0);
      say(
        `back to back ${labels[name]}: ${list(b2b.samples[name])}; host CPU ${cpuPerRun[name].ms.toFixed(0)} ms per run, ${cpuPerRun[name].cores.toFixed(2)} of ${os.cpus().length} cores busy`,
      );
      b2bLines.push(
        `host CPU per back-to-back run, ${labels[name]}: ${cpuPerRun[name].ms.toFixed(0)} ms, of which the daemon's process tree:`,
        ...cpuLines(tree, RUNS).map((l) => `  ${l}`),
        `  the rest of the host (the docker CLI, other processes): ${Math.max(0, (cpuPerRun[name].ms * RUNS - treeMs) / RUNS).toFixed(0)} ms per start`,
      );
      if (name === 'podvisor') {
        b2bLines.push(
          `phases of podvisor's back-to-back starts (median wall ${(median(b2b.samples[name]) * 1000).toFixed(0)} ms):`,
          ...phaseTable(logSince(podvisor.logs(), since), median(b2b.samples[name]) * 1000),
        );
      }
    }

    const inRow = row(`${PARALLEL} x \`docker run -d sleep 60\` in a row`);
    for (const [name, env] of Object.entries(clients)) {
      await settle(name);
      for (let r = 0; r < PARALLEL; r++)
        inRow.samples[name].push(
          await timeDocker(env, ['run', '-d', '--name', `bench-row-${r}`, IMAGE(), 'sleep', '60']),
        );
      say(`run -d in a row ${labels[name]}: ${list(inRow.samples[name])}`);
      await removeAll(
        env,
        Array.from({ length: PARALLEL }, (_, r) => `bench-row-${r}`),
      );
    }

    const par = row(`${PARALLEL} x \`docker run -d\` in parallel, until all run`);
    const idle = row(
      'PSS of an idle container (median; podvisor: each QEMU, the pool VMs too; dockerd: shim and its processes)',
      'MiB',
    );
    for (const [name, env] of Object.entries(clients)) {
      await settle(name);
      const t = now();
      await Promise.all(
        Array.from({ length: PARALLEL }, (_, r) =>
          dockerAsync(env, ['run', '-d', '--name', `bench-par-${r}`, IMAGE(), 'sleep', '60']),
        ),
      );
      par.samples[name].push(now() - t);
      say(`run -d in parallel ${labels[name]}: ${par.samples[name][0].toFixed(2)} s`);
      // The ten, idle: what each holds of the host's memory (bench/idle-memory.ts).
      await sleep(3000);
      const pss =
        name === 'dockerd' ? dockerdContainerPss(path.join(base, 'dockerd')) : podvisorVmPss(daemonPid[name]()!);
      idle.samples[name].push(...pss);
      say(`idle PSS ${labels[name]} (MiB, each ${name === 'dockerd' ? 'container' : 'VM'}): ${list(pss)}`);
      if (name !== 'dockerd') {
        // What bounds it: TCG's translated code (absent under KVM), guest RAM, QEMU's own.
        const parts = podvisorVmPssParts(daemonPid[name]()!);
        const mid = (k: 'jit' | 'guestRam' | 'qemu') => median(parts.map((p) => p[k])).toFixed(1);
        say(
          `idle PSS parts ${labels[name]} (median MiB): TCG code buffer ${mid('jit')}, guest RAM ${mid('guestRam')}, ` +
            `QEMU's own ${mid('qemu')}; without the code buffer (as under KVM) ` +
            median(parts.map((p) => p.guestRam + p.qemu)).toFixed(1),
        );
      }
      await removeAll(
        env,
        Array.from({ length: PARALLEL }, (_, r) => `bench-par-${r}`),
      );
    }

    const exec = row('`docker exec c true`');
    for (const env of Object.values(clients))
      await docker(env, ['run', '-d', '--name', 'bench-exec', IMAGE(), 'sleep', '3600']);
    for (let r = 0; r < EXEC_RUNS; r++) {
      for (const [name, env] of Object.entries(clients))
        exec.samples[name].push(await timeDocker(env, ['exec', 'bench-exec', 'true']));
    }
    for (const env of Object.values(clients)) await removeAll(env, ['bench-exec']);

    const attach = row('200 MiB of stdout through `docker run` (attach)', 'MB/s');
    for (let r = 0; r < 3; r++) {
      for (const [name, env] of Object.entries(clients)) {
        await settle(name);
        const t = now();
        const bytes = await dockerAsync(env, [
          'run',
          '--rm',
          IMAGE(),
          'dd',
          'if=/dev/zero',
          'bs=65536',
          `count=${STREAM_BYTES / 65536}`,
        ]);
        if (bytes !== STREAM_BYTES) throw new Error(`${name}: attach delivered ${bytes} of ${STREAM_BYTES} bytes`);
        attach.samples[name].push(bytes / 1e6 / (now() - t));
      }
    }

    const fmt = (x: number, unit: Row['unit']) =>
      unit === 's' ? `${x >= 10 ? x.toFixed(2) : x.toFixed(3)} s` : `${x.toFixed(1)} ${unit}`;
    say(
      `\nmedians (stock docker CLI, wall time), podvisor pool ${POOL} (${ARGS.join(' ') || 'default flags'}), ` +
        `load average ${load0.map((l) => l.toFixed(1)).join(' ')} at the start, ${os
          .loadavg()
          .map((l) => l.toFixed(1))
          .join(' ')} at the end:\n`,
    );
    // With a baseline podvisor, a last column compares the two podvisors (a ratio above 1: podvisor's figure is higher).
    const vsBase = names.includes('podvisor-base');
    const baseHead = vsBase ? ` ${labels.podvisor} / ${labels['podvisor-base']} |` : '';
    const baseCell = (a: number, b: number) => (vsBase ? ` ${(a / b).toFixed(2)}x |` : '');
    say(`| workload | ${names.map((n) => labels[n]).join(' | ')} | ${labels.podvisor} / dockerd |${baseHead}`);
    say(`|---|${names.map(() => '---').join('|')}|---|${vsBase ? '---|' : ''}`);
    for (const r of rows) {
      const m = Object.fromEntries(names.map((n) => [n, median(r.samples[n])]));
      const ratio = r.unit === 's' ? m.podvisor / m.dockerd : m.podvisor / m.dockerd;
      const verdict =
        r.unit === 's'
          ? `${ratio.toFixed(2)}x the time`
          : r.unit === 'MiB'
            ? `${ratio.toFixed(2)}x the memory`
            : `${ratio.toFixed(2)}x the throughput`;
      say(
        `| ${r.what} | ${names.map((n) => fmt(m[n], r.unit)).join(' | ')} | ${verdict} |${baseCell(m.podvisor, m['podvisor-base'])}`,
      );
    }
    say(
      `| host CPU per back-to-back run (cores busy) | ${names.map((n) => `${cpuPerRun[n].ms.toFixed(0)} ms (${cpuPerRun[n].cores.toFixed(2)})`).join(' | ')} | ${(cpuPerRun.podvisor.ms / cpuPerRun.dockerd.ms).toFixed(2)}x the CPU |` +
        (vsBase ? baseCell(cpuPerRun.podvisor.ms, cpuPerRun['podvisor-base'].ms) : ''),
    );
    say('');
    for (const l of b2bLines) say(l);
  } catch (err) {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  } finally {
    // Whatever a failed workload left running (a stopped daemon leaves running containers' VMs up).
    const leftovers = [
      'bench-exec',
      ...Array.from({ length: PARALLEL }, (_, r) => [`bench-row-${r}`, `bench-par-${r}`]).flat(),
    ];
    for (const env of [podvisor.env, ...(baseline ? [baseline.env] : [])]) {
      // Most of them do not exist (rm -f still removes those that do).
      await removeAll(env, leftovers).catch(() => undefined);
    }
    await dockerd?.stop().catch(() => undefined);
    await baseline?.stop().catch(() => undefined);
    await podvisor.stop();
    for (const r of registries) await r.stop().catch(() => undefined);
    fs.rmSync(base, { recursive: true, force: true });
  }
}

runMain(main);
