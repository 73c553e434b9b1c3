/**
 * What a guest that floods its share with socket and watch events costs everyone else, beside
 * dockerd 20.10 + runc (Debian's docker.io, in a network namespace of its own:
 * ./netns-dockerd.ts) in the same run:
 *  - quiet: `docker run --rm busybox true`, RUNS times (SETTLE_MS between, so podvisor's pool
 *    is refilled each time), median;
 *  - busy: the same while a container of the same image only spins a CPU (the control: on
 *    2 cores any busy neighbour slows a start, a TCG VM more than a runc process);
 *  - flood: the same while a `--privileged` container (the fixture debian:bookworm, perl only;
 *    not privileged under runc, where it needs no privilege and these machines refuse it)
 *    with a bind mount loops without pause over: a bind of a socket 1,800 directories deep
 *    and its unlink, a connect to that file, a bind of one of 300 shallow sockets, a new file
 *    and an inotify_add_watch on it (up to 5000 files), timed once its deep tree is made and
 *    FLOOD_WARM_MS more have passed. On podvisor each of those crosses the
 *    VM's edge (src/pod/network/share-sockets.ts, src/pod/network/share-events.ts); under runc they stay in
 *    the kernel.
 * It prints the medians per daemon, the flood's slow-down against quiet and against the
 * spinning neighbour, the flooder's rounds, and podvisord's open fds and RSS before the flood,
 * at its end, and FLOOD_SETTLE_MS after it stopped. Goal: a start at most 20% slower than
 * beside a busy neighbour, and no fds or memory kept once the flood is over.
 *
 *   npm run bench:flood      (RUNS, FLOOD_WARM_MS, SETTLE_MS, DEPTH in the environment)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { startDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, fixtureRegistry } from '../test/fixtures/registry';
import { hostBusyMs, median, runMain, sleep, startDockerd, stopBench, type BaselineDockerd } from './common';

const RUNS = Number(process.env.RUNS ?? 10);
const SETTLE_MS = Number(process.env.SETTLE_MS ?? 3000);
const FLOOD_WARM_MS = Number(process.env.FLOOD_WARM_MS ?? 15000);
const FLOOD_SETTLE_MS = Number(process.env.FLOOD_SETTLE_MS ?? 10000);
const DEPTH = Number(process.env.DEPTH ?? 1800);
const FLOODER = 'bench-flood';

/**
 * The flooding guest, core perl (x86-64 syscall numbers: inotify_init1 294, inotify_add_watch
 * 254): once its tree is made, a deep loop (a bind, unlink and connect of a socket and a watch,
 * DEPTH levels down) and a shallow one (binds of 300 sockets, connects to them, new files
 * watched) side by side. Each prints its rounds (deep every 10, shallow every 100).
 */
const FLOOD = `
use IO::Socket::UNIX; use Socket; $| = 1;
chdir "/h" or die "chdir /h: $!";
mkdir "top"; chdir "top" or die;
my $top = "/h/top";
for (1..${DEPTH}) { mkdir "d"; chdir "d" or die "depth $_: $!"; }
print "deep 0\\n";
my $in = syscall(294, 0);
if (fork() == 0) {
  my $j = 0;
  while (1) {
    $j++;
    my $t = "$top/t" . ($j % 300);
    unlink $t;
    my $b = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $t, Listen => 1);
    my $c = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => "$top/t" . (($j + 150) % 300));
    close $c if $c;
    my $f = "$top/w" . ($j % 5000);
    if (open(my $fh, ">", $f)) { close $fh; }
    syscall(254, $in, $f, 2) if $in >= 0;
    print "shallow $j\\n" if $j % 100 == 0;
  }
}
my $i = 0;
while (1) {
  $i++;
  unlink "s";
  my $l = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => "s", Listen => 1);
  close $l if $l;
  my $c = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => "s");
  close $c if $c;
  my $dot = ".";
  syscall(254, $in, $dot, 2) if $in >= 0;
  print "deep $i\\n" if $i % 10 == 0;
}
`;

/** The control: a container of the same image that only spins a CPU (no files, no sockets). */
const BUSY = '1 while 1';

/** The docker CLI, without blocking this process; resolves with its stdout. */
function docker(env: NodeJS.ProcessEnv, args: string[], timeout = 300_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn('docker', args, { env, stdio: ['ignore', 'pipe', 'pipe'], timeout });
    let out = '';
    let err = '';
    c.stdout.on('data', (b: Buffer) => (out += b.toString()));
    c.stderr.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-2000)));
    c.on('error', reject);
    c.on('exit', (code) =>
      code === 0 ? resolve(out.trim()) : reject(new Error(`docker ${args.slice(0, 3).join(' ')}: ${code} ${err}`)),
    );
  });
}

/** Seconds of each of RUNS `docker run --rm busybox true`, SETTLE_MS apart. */
async function starts(env: NodeJS.ProcessEnv): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    await sleep(SETTLE_MS);
    const t = process.hrtime.bigint();
    await docker(env, ['run', '--rm', `${fixtureRegistry()}/busybox`, 'true']);
    times.push(Number(process.hrtime.bigint() - t) / 1e9);
  }
  return times;
}

/** rm -rf (a tree 1,800 levels deep is beyond fs.rmSync's recursion). */
function removeTree(dir: string): void {
  spawnSync('rm', ['-rf', dir]);
}

/** A process's open fds and resident memory (KiB), or undefined once it is gone. */
function usage(pid: number | undefined): { fds: number; rssKiB: number } | undefined {
  if (!pid) return undefined;
  try {
    const fds = fs.readdirSync(`/proc/${pid}/fd`).length;
    const rss = /^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { fds, rssKiB: Number(rss?.[1] ?? 0) };
  } catch {
    return undefined;
  }
}

/** What one daemon measures. */
interface Figures {
  quiet: number;
  /** While a container only spins a CPU: what any busy neighbour costs. */
  busy: number;
  flood: number;
  /** podvisord's fds and RSS: before the flood, at its end, after it settled. */
  use?: ({ fds: number; rssKiB: number } | undefined)[];
  /** The flooder's rounds, as it last reported them. */
  rounds: string;
  /** Cores podvisord used while the starts were timed: beside the spinning neighbour / the flooder. */
  cpu: string;
  /** Cores the whole host used meanwhile (the same two). */
  hostCpu: string;
}

async function measure(
  env: NodeJS.ProcessEnv,
  shareDir: string,
  privileged: boolean,
  pid?: () => number | undefined,
): Promise<Figures> {
  await docker(env, ['pull', '-q', `${fixtureRegistry()}/busybox`]);
  await docker(env, ['pull', '-q', `${fixtureRegistry()}/debian:bookworm`]);
  removeTree(shareDir);
  fs.mkdirSync(shareDir, { recursive: true });
  await docker(env, ['rm', '-f', FLOODER]).catch(() => undefined);
  const quiet = median(await starts(env));
  const busyPhase = await whileRunning(env, [BUSY], shareDir, privileged, async () => undefined, undefined, pid);
  const busy = median(busyPhase.times);
  const before = usage(pid?.());
  let during: ReturnType<typeof usage>;
  let rounds = '';
  const floodPhase = await whileRunning(
    env,
    [FLOOD],
    shareDir,
    privileged,
    async () => {
      // The deep tree first: the flood proper begins at round 0.
      for (let t = Date.now(); Date.now() - t < FLOOD_WARM_MS * 10; await sleep(1000))
        if (/^deep /m.test(await lastLines(env))) break;
      await sleep(FLOOD_WARM_MS);
    },
    async () => {
      during = usage(pid?.());
      const out = await lastLines(env);
      const last = (what: string): string => [...out.matchAll(new RegExp(`^${what} (\\d+)$`, 'gm'))].pop()?.[1] ?? '0';
      rounds = `${last('deep')} deep, ${last('shallow')} shallow`;
    },
    pid,
  );
  const flood = median(floodPhase.times);
  const cores = (x?: number): string => (x === undefined ? '-' : x.toFixed(2));
  const cpu = `${cores(busyPhase.daemonCpu)} / ${cores(floodPhase.daemonCpu)}`;
  const hostCpu = `${cores(busyPhase.hostCpu)} / ${cores(floodPhase.hostCpu)}`;
  return { quiet, busy, flood, rounds, cpu, hostCpu, use: pid ? [before, during] : undefined };
}

/** The flooder's last lines of output. */
function lastLines(env: NodeJS.ProcessEnv): Promise<string> {
  return docker(env, ['logs', '--tail', '50', FLOODER], 30_000).catch((e: Error) => e.message);
}

/** The starts' times while the neighbour ran, and the CPU (cores) podvisord and the whole host used meanwhile. */
interface Phase {
  times: number[];
  daemonCpu?: number;
  hostCpu: number;
}

/** CPU time (ms) process `pid()` has used so far, 0 when there is none. */
function cpuMs(pid?: () => number | undefined): number {
  const p = pid?.();
  if (!p) return 0;
  try {
    const f = fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
}

/** The starts' times while a container runs `perl -e SCRIPT` (after `ready`; `atEnd` before it is removed). */
async function whileRunning(
  env: NodeJS.ProcessEnv,
  script: string[],
  shareDir: string,
  privileged: boolean,
  ready: () => Promise<void>,
  atEnd?: () => Promise<void>,
  pid?: () => number | undefined,
): Promise<Phase> {
  await docker(env, [
    'run',
    '-d',
    ...(privileged ? ['--privileged'] : []),
    '--name',
    FLOODER,
    '-v',
    `${shareDir}:/h`,
    `${fixtureRegistry()}/debian:bookworm`,
    'perl',
    '-e',
    ...script,
  ]);
  try {
    await ready();
    const cpu0 = cpuMs(pid);
    const host0 = hostBusyMs();
    const t0 = Date.now();
    const times = await starts(env);
    const wall = Date.now() - t0;
    await atEnd?.();
    return {
      times,
      daemonCpu: pid ? (cpuMs(pid) - cpu0) / wall : undefined,
      hostCpu: (hostBusyMs() - host0) / wall,
    };
  } finally {
    await docker(env, ['rm', '-f', FLOODER]).catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-flood-'));
  const registries = await ensureFixtureRegistries();
  const podvisor = await startDaemon({ vmPoolSize: 2 });
  let dockerd: BaselineDockerd | undefined;
  try {
    await sleep(SETTLE_MS * 2);
    const p = await measure(podvisor.env, path.join(base, 'share-podvisor'), true, () => podvisor.pid());
    await sleep(FLOOD_SETTLE_MS);
    p.use?.push(usage(podvisor.pid()));
    process.stdout.write(`podvisor: ${JSON.stringify(p)}\n`);
    dockerd = await startDockerd(path.join(base, 'dockerd'));
    // runc here cannot start a --privileged container (its capabilities cannot be applied in
    // this machine's own container); the flood needs no privilege under runc.
    const d = await measure(dockerd.env, path.join(base, 'share-dockerd'), false);
    const pct = (f: Figures, than: 'quiet' | 'busy'): string =>
      `${(((f.flood - f[than]) / f[than]) * 100).toFixed(0)}%`;
    const row = (what: string, a: string, b: string): string =>
      `  ${what.padEnd(52)} ${a.padStart(12)} ${b.padStart(12)}\n`;
    const use = (i: number): string => {
      const u = p.use?.[i];
      return u ? `${u.fds} fds, ${(u.rssKiB / 1024).toFixed(0)} MiB` : 'gone';
    };
    process.stdout.write(
      `\nmedians of ${RUNS} runs (${SETTLE_MS} ms apart), a path ${DEPTH} levels deep, load average at the end ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}:\n` +
        row('', 'podvisor', 'dockerd') +
        row('docker run --rm busybox true, quiet (s)', p.quiet.toFixed(3), d.quiet.toFixed(3)) +
        row('the same while another container spins a CPU (s)', p.busy.toFixed(3), d.busy.toFixed(3)) +
        row('the same while another container floods (s)', p.flood.toFixed(3), d.flood.toFixed(3)) +
        row('  flood against quiet', pct(p, 'quiet'), pct(d, 'quiet')) +
        row('  flood against a spinning neighbour', pct(p, 'busy'), pct(d, 'busy')) +
        row('the flooder got to (rounds)', p.rounds, d.rounds) +
        row('cores the daemon used: busy / flood', p.cpu, d.cpu) +
        row('cores the host used: busy / flood', p.hostCpu, d.hostCpu) +
        `  podvisord before the flood: ${use(0)}; at its end: ${use(1)}; ${FLOOD_SETTLE_MS} ms after: ${use(2)}\n`,
    );
  } finally {
    removeTree(path.join(base, 'share-podvisor'));
    removeTree(path.join(base, 'share-dockerd'));
    await stopBench({ dockerd, podvisor, registries, base });
  }
}

runMain(main);
