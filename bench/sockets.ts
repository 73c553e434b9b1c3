/**
 * Unix sockets across the container's edge, beside dockerd 20.10 + runc (Debian's docker.io,
 * in a network namespace of its own: ./netns-dockerd.ts) in the same run, the same image (the
 * fixture debian:bookworm) and the same clients on both:
 *  - host -> container: an echo server of this process on a unix socket, bind-mounted into the
 *    container as a single file; perl in the container makes ROUND_TRIPS round trips of 64
 *    bytes on one connection (round trips per second), and CONNECTIONS connections of one
 *    round trip each (connections per second). Timed inside the container (clock_gettime), so
 *    `docker exec`'s own cost is not in them. Sockets the container listens on, reached from
 *    the host, and sockets inside shared directories: bench/share.ts.
 *  - `docker ps` through the daemon's socket bind-mounted into a container (the host's static
 *    CLI, bind-mounted too), each daemon's own socket; the same with the CLI copied to a
 *    tmpfs of the container (no file reads from the bind mount); `docker --version` and
 *    `docker -H unix:///nonexistent.sock ps` (no daemon) there, the CLI's own cost without
 *    the socket; and `docker ps` from the host for scale.
 * Each figure is the median of RUNS runs (docker ps: of PS_RUNS).
 *
 *   npm run bench:sockets
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile, spawnSync } from 'node:child_process';
import { startDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, fixtureRegistry } from '../test/fixtures/registry';
import { median, runMain, startDockerd, stopBench, type BaselineDockerd } from './common';

const RUNS = Number(process.env.RUNS ?? 5);
const PS_RUNS = Number(process.env.PS_RUNS ?? 20);
const ROUND_TRIPS = Number(process.env.ROUND_TRIPS ?? 2000);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 200);
/** The host's docker CLI: a static binary, so it runs in the Debian image. */
const DOCKER_CLI = '/usr/local/bin/docker';
const NAME = 'bench-sockets';

/** Core perl only (the image has perl-base: no Time::HiRes): clock_gettime(CLOCK_MONOTONIC) by its x86-64 syscall number. */
const NOW =
  'sub now { my $t = "\\0" x 16; syscall(228, 1, $t) == 0 or die "clock_gettime: $!\\n"; ' +
  'my ($s, $n) = unpack("q q", $t); $s + $n / 1e9 } ';
const MSG = 'my $m = ("x" x 63) . "\\n"; ';
const CONNECT = 'IO::Socket::UNIX->new(Peer => "/run/echo.sock") or die "connect: $!\\n"';
const ROUND = 'print $s $m; $l = <$s>; die "answer: $l\\n" unless $l eq $m;';
/** Seconds for ROUND_TRIPS round trips on one connection (after one not timed). */
const ROUND_TRIPS_SCRIPT =
  NOW + MSG + `$s = ${CONNECT}; ${ROUND} $t = now(); for (1..${ROUND_TRIPS}) { ${ROUND} } printf "%.6f\\n", now() - $t`;
/** Seconds for CONNECTIONS connections of one round trip each. */
const CONNECTIONS_SCRIPT =
  NOW + MSG + `$t = now(); for (1..${CONNECTIONS}) { $s = ${CONNECT}; ${ROUND} close $s } printf "%.6f\\n", now() - $t`;
/** `CLI ARGS` PS_RUNS times in the container: the start and end time of each (bash's clock). */
const timesScript = (cli: string, args: string, mayFail = false): string =>
  `for i in $(seq ${PS_RUNS}); do a=$EPOCHREALTIME; ${cli} ${args} >/dev/null 2>&1 ${mayFail ? '' : '|| exit 1'}; ` +
  `b=$EPOCHREALTIME; echo "$a $b"; done`;
/** The CLI copied to a tmpfs of the container (exec allowed): its start then costs no file reads. */
const TMPFS = '/cli';
const SHM_CLI = `${TMPFS}/docker`;

/** The docker CLI without blocking this process (its echo server answers meanwhile). */
function docker(env: NodeJS.ProcessEnv, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('docker', args, { env, encoding: 'utf8', timeout: 600000, maxBuffer: 16 << 20 }, (err, out, errOut) => {
      if (err) reject(new Error(`docker ${args.slice(0, 4).join(' ')}...: ${err.message} ${errOut}`));
      else resolve(out.trim());
    });
  });
}

/** Milliseconds of each `docker ps` in `lines` ("start end" in seconds, one a line). */
function spans(lines: string): number[] {
  return lines
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [a, b] = l.split(' ').map(Number);
      return (b - a) * 1000;
    });
}

/** What one daemon measures. */
interface Figures {
  roundTripsPerS: number;
  connectionsPerS: number;
  psInsideMs: number;
  psShmMs: number;
  versionInsideMs: number;
  psNoDaemonMs: number;
  psHostMs: number;
}

async function measure(env: NodeJS.ProcessEnv, daemonSocket: string, echoSocket: string): Promise<Figures> {
  const image = `${fixtureRegistry()}/debian:bookworm`;
  await docker(env, ['pull', '-q', image]);
  await docker(env, ['rm', '-f', NAME]).catch(() => undefined);
  await docker(env, [
    'run',
    '-d',
    '--name',
    NAME,
    '-e',
    'DOCKER_CONFIG=/tmp/docker-config',
    '-v',
    `${echoSocket}:/run/echo.sock`,
    '-v',
    `${daemonSocket}:/var/run/docker.sock`,
    '-v',
    `${DOCKER_CLI}:/usr/local/bin/docker:ro`,
    '--tmpfs',
    `${TMPFS}:exec,size=100m`,
    image,
    'sleep',
    '3600',
  ]);
  try {
    const perl = async (script: string): Promise<number> =>
      Number(await docker(env, ['exec', NAME, 'perl', '-MIO::Socket::UNIX', '-e', script]));
    await perl(CONNECTIONS_SCRIPT); // warm: the relay's first connections, perl's pages
    const rt: number[] = [];
    const conns: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      rt.push(ROUND_TRIPS / (await perl(ROUND_TRIPS_SCRIPT)));
      conns.push(CONNECTIONS / (await perl(CONNECTIONS_SCRIPT)));
    }
    await docker(env, ['exec', NAME, 'docker', 'ps']); // warm
    const inside = spans(await docker(env, ['exec', NAME, 'bash', '-c', timesScript('docker', 'ps')]));
    // The CLI's own start in the container (its binary on a bind mount), no socket involved.
    const version = spans(await docker(env, ['exec', NAME, 'bash', '-c', timesScript('docker', '--version')]));
    // docker ps with no daemon behind the socket path (it fails): the CLI without the socket.
    const noDaemon = spans(
      await docker(env, ['exec', NAME, 'bash', '-c', timesScript('docker', '-H unix:///nonexistent.sock ps', true)]),
    );
    // The same docker ps with the CLI on tmpfs: what the socket and the daemon cost.
    await docker(env, ['exec', NAME, 'cp', DOCKER_CLI, SHM_CLI]);
    await docker(env, ['exec', NAME, SHM_CLI, 'ps']); // warm
    const shm = spans(await docker(env, ['exec', NAME, 'bash', '-c', timesScript(SHM_CLI, 'ps')]));
    const host: number[] = [];
    for (let i = 0; i < PS_RUNS; i++) {
      const t = process.hrtime.bigint();
      const r = spawnSync('docker', ['ps'], { env, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`docker ps: ${r.stderr}`);
      host.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    return {
      roundTripsPerS: median(rt),
      connectionsPerS: median(conns),
      psInsideMs: median(inside),
      psShmMs: median(shm),
      versionInsideMs: median(version),
      psNoDaemonMs: median(noDaemon),
      psHostMs: median(host),
    };
  } finally {
    await docker(env, ['rm', '-f', NAME]).catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-sockets-'));
  const registries = await ensureFixtureRegistries();
  const podvisor = await startDaemon({ vmPoolSize: 1 });
  let dockerd: BaselineDockerd | undefined;
  const echoSocket = path.join(base, 'echo.sock');
  const echo = net.createServer((c) => {
    c.on('error', () => undefined);
    c.pipe(c);
  });
  try {
    await new Promise<void>((resolve) => echo.listen(echoSocket, resolve));
    dockerd = await startDockerd(path.join(base, 'dockerd'));
    const dockerdSocket = (dockerd.env.DOCKER_HOST ?? '').replace(/^unix:\/\//, '');
    const p = await measure(podvisor.env, podvisor.socketPath, echoSocket);
    const d = await measure(dockerd.env, dockerdSocket, echoSocket);
    const row = (what: string, a: string, b: string): string =>
      `  ${what.padEnd(58)} ${a.padStart(10)} ${b.padStart(10)}\n`;
    process.stdout.write(
      `\nmedians (round trips and connections: of ${RUNS} runs; docker ps: of ${PS_RUNS}), ` +
        `load average at the end ${os
          .loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}:\n` +
        row('', 'podvisor', 'dockerd') +
        row(
          `host -> container round trips/s (64 B, one connection, ${ROUND_TRIPS})`,
          p.roundTripsPerS.toFixed(0),
          d.roundTripsPerS.toFixed(0),
        ) +
        row(
          `host -> container connections/s (one round trip each, ${CONNECTIONS})`,
          p.connectionsPerS.toFixed(0),
          d.connectionsPerS.toFixed(0),
        ) +
        row('docker ps in a container, daemon socket mounted (ms)', p.psInsideMs.toFixed(1), d.psInsideMs.toFixed(1)) +
        row("  the same, the CLI copied to the container's tmpfs (ms)", p.psShmMs.toFixed(1), d.psShmMs.toFixed(1)) +
        row(
          'docker --version in the container: the CLI alone (ms)',
          p.versionInsideMs.toFixed(1),
          d.versionInsideMs.toFixed(1),
        ) +
        row(
          'docker -H unix:///nonexistent.sock ps in it: no daemon (ms)',
          p.psNoDaemonMs.toFixed(1),
          d.psNoDaemonMs.toFixed(1),
        ) +
        row('docker ps on the host, for scale (ms)', p.psHostMs.toFixed(1), d.psHostMs.toFixed(1)) +
        '  container -> host, and sockets inside shared directories: npm run bench:share\n',
    );
  } finally {
    echo.close();
    await stopBench({ dockerd, podvisor, registries, base });
  }
}

runMain(main);
