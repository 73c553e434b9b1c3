/**
 * Unix sockets and inotify events across the VM's edge through shared directories, beside
 * dockerd 20.10 + runc (Debian's docker.io, in a network namespace of its own:
 * ./netns-dockerd.ts) in the same run, with the same images and clients on both:
 *  - host -> container: an echo server of this process on a socket in a bind-mounted
 *    directory; perl in the container makes ROUND_TRIPS round trips of 64 bytes on one
 *    connection, and CONNECTIONS connections of one round trip each (timed in the container);
 *  - container -> host: perl's echo server in the container binds its socket in the bind
 *    mount; this process makes the same round trips and connections (timed here);
 *  - container -> container: the server in one container, the client in another, the socket
 *    in a named volume both mount (under podvisor: two VMs);
 *  - inotify: a watcher in a container (Python's ctypes over libc's inotify) on a
 *    bind-mounted directory answers each file the host makes there with a file of its own;
 *    the time from the host's write to the answer's appearance on the host (EVENTS of them).
 * Each figure is the median of RUNS runs (inotify: of EVENTS events).
 *
 *   npm run bench:share
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { startDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, fixtureRegistry } from '../test/fixtures/registry';
import { median, runMain, sleep, startDockerd, stopBench, type BaselineDockerd } from './common';

const RUNS = Number(process.env.RUNS ?? 5);
const ROUND_TRIPS = Number(process.env.ROUND_TRIPS ?? 2000);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 200);
const EVENTS = Number(process.env.EVENTS ?? 30);

/** Core perl only: clock_gettime(CLOCK_MONOTONIC) by its x86-64 syscall number. */
const NOW =
  'sub now { my $t = "\\0" x 16; syscall(228, 1, $t) == 0 or die "clock_gettime: $!\\n"; ' +
  'my ($s, $n) = unpack("q q", $t); $s + $n / 1e9 } ';
const MSG = 'my $m = ("x" x 63) . "\\n"; ';
const ROUND = 'print $s $m; $l = <$s>; die "answer: $l\\n" unless $l eq $m;';
const connect = (sock: string): string => `IO::Socket::UNIX->new(Peer => "${sock}") or die "connect: $!\\n"`;
/** Seconds for ROUND_TRIPS round trips on one connection, and for CONNECTIONS connections. */
const clientScript = (sock: string): string =>
  NOW +
  MSG +
  `$s = ${connect(sock)}; ${ROUND} $t = now(); for (1..${ROUND_TRIPS}) { ${ROUND} } printf "%.6f ", now() - $t; ` +
  `$t = now(); for (1..${CONNECTIONS}) { $s = ${connect(sock)}; ${ROUND} close $s } printf "%.6f\\n", now() - $t`;
/** An echo server on `sock`, forking one child per connection. */
const serverScript = (sock: string): string =>
  `unlink "${sock}"; $SIG{CHLD} = "IGNORE"; $l = IO::Socket::UNIX->new(Local => "${sock}", Listen => 128) or die "listen: $!\\n"; ` +
  `$| = 1; print "listening\\n"; while ($c = $l->accept) { if (!fork) { $c->autoflush(1); while (defined($x = <$c>)) { print $c $x } exit } close $c }`;
/** A watcher that answers each file `ping-N` made in DIR with `ack-N`. */
const WATCHER = `
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
d = sys.argv[1]
fd = libc.inotify_init()
if libc.inotify_add_watch(fd, d.encode(), 0x8 | 0x100) < 0: sys.exit('inotify_add_watch')
print('ready', flush=True)
while True:
    buf = os.read(fd, 65536)
    i = 0
    while i < len(buf):
        _, mask, _, n = struct.unpack_from('iIII', buf, i)
        name = buf[i + 16:i + 16 + n].rstrip(b'\\0').decode()
        i += 16 + n
        if name.startswith('ping-'):
            open(os.path.join(d, 'ack-' + name[5:]), 'w').close()
`;

function docker(env: NodeJS.ProcessEnv, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('docker', args, { env, encoding: 'utf8', timeout: 600000, maxBuffer: 16 << 20 }, (err, out, errOut) => {
      if (err) reject(new Error(`docker ${args.slice(0, 4).join(' ')}...: ${err.message} ${errOut}`));
      else resolve(out.trim());
    });
  });
}

async function waitForLog(env: NodeJS.ProcessEnv, name: string, text: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if ((await docker(env, ['logs', name]).catch(() => '')).includes(text)) return;
    await sleep(100);
  }
  throw new Error(`${name} never logged ${text}`);
}

/** Round trips and connections from this process to `sock`: seconds of each batch. */
async function hostClient(sock: string): Promise<[number, number]> {
  const m = `${'x'.repeat(63)}\n`;
  const roundTrip = (c: net.Socket): Promise<void> =>
    new Promise((resolve, reject) => {
      let got = '';
      const on = (b: Buffer): void => {
        got += b.toString();
        if (got.length >= m.length) {
          c.off('data', on);
          if (got === m) resolve();
          else reject(new Error(`answer: ${got}`));
        }
      };
      c.on('data', on);
      c.write(m);
    });
  const open = (): Promise<net.Socket> =>
    new Promise((resolve, reject) => {
      const c = net.createConnection(sock, () => resolve(c));
      c.once('error', reject);
    });
  const c = await open();
  await roundTrip(c);
  let t = process.hrtime.bigint();
  for (let i = 0; i < ROUND_TRIPS; i++) await roundTrip(c);
  const rt = Number(process.hrtime.bigint() - t) / 1e9;
  c.destroy();
  t = process.hrtime.bigint();
  for (let i = 0; i < CONNECTIONS; i++) {
    const k = await open();
    await roundTrip(k);
    k.destroy();
  }
  return [rt, Number(process.hrtime.bigint() - t) / 1e9];
}

/** What one daemon measures: [round trips/s, connections/s] per direction, and the inotify latency. */
interface Figures {
  hostToContainer: [number, number];
  containerToHost: [number, number];
  containerToContainer: [number, number];
  eventMs: number;
}

async function measure(env: NodeJS.ProcessEnv, base: string, tag: string): Promise<Figures> {
  const debian = `${fixtureRegistry()}/debian:bookworm`;
  const python = `${fixtureRegistry()}/debian-python:3`;
  await docker(env, ['pull', '-q', debian]);
  await docker(env, ['pull', '-q', python]);
  const dir = path.join(base, `share-${tag}`);
  fs.mkdirSync(dir, { recursive: true });
  const names = ['bshare-client', 'bshare-server', 'bshare-vserver', 'bshare-vclient', 'bshare-watcher'];
  const volume = `bshare-vol-${tag}`;
  const echo = net.createServer((c) => {
    c.on('error', () => undefined);
    c.pipe(c);
  });
  await new Promise<void>((resolve) => echo.listen(path.join(dir, 'echo.sock'), resolve));
  const rate = (xs: [number, number][]): [number, number] => [
    median(xs.map(([a]) => ROUND_TRIPS / a)),
    median(xs.map(([, b]) => CONNECTIONS / b)),
  ];
  const perlClient = async (name: string, sock: string): Promise<[number, number]> => {
    const out = await docker(env, ['exec', name, 'perl', '-MIO::Socket::UNIX', '-e', clientScript(sock)]);
    const [a, b] = out.split(' ').map(Number);
    return [a, b];
  };
  try {
    await docker(env, ['run', '-d', '--name', names[0], '-v', `${dir}:/s`, debian, 'sleep', '3600']);
    await perlClient(names[0], '/s/echo.sock'); // warm
    const h2c: [number, number][] = [];
    for (let i = 0; i < RUNS; i++) h2c.push(await perlClient(names[0], '/s/echo.sock'));

    await docker(env, [
      'run',
      '-d',
      '--name',
      names[1],
      '-v',
      `${dir}:/s`,
      debian,
      'perl',
      '-MIO::Socket::UNIX',
      '-e',
      serverScript('/s/c.sock'),
    ]);
    await waitForLog(env, names[1], 'listening');
    for (let i = 0; i < 300; i++) {
      if (
        await hostClient(path.join(dir, 'c.sock')).then(
          () => true,
          () => false,
        )
      )
        break;
      await sleep(100);
    }
    const c2h: [number, number][] = [];
    for (let i = 0; i < RUNS; i++) c2h.push(await hostClient(path.join(dir, 'c.sock')));

    await docker(env, ['volume', 'create', volume]);
    await docker(env, [
      'run',
      '-d',
      '--name',
      names[2],
      '-v',
      `${volume}:/v`,
      debian,
      'perl',
      '-MIO::Socket::UNIX',
      '-e',
      serverScript('/v/a.sock'),
    ]);
    await waitForLog(env, names[2], 'listening');
    await docker(env, ['run', '-d', '--name', names[3], '-v', `${volume}:/v`, debian, 'sleep', '3600']);
    await perlClient(names[3], '/v/a.sock'); // warm
    const c2c: [number, number][] = [];
    for (let i = 0; i < RUNS; i++) c2c.push(await perlClient(names[3], '/v/a.sock'));

    const w = path.join(dir, 'w');
    fs.mkdirSync(w);
    await docker(env, ['run', '-d', '--name', names[4], '-v', `${w}:/w`, python, 'python3', '-c', WATCHER, '/w']);
    await waitForLog(env, names[4], 'ready');
    const latencies: number[] = [];
    for (let i = -5; i < EVENTS; i++) {
      const t = process.hrtime.bigint();
      fs.writeFileSync(path.join(w, `ping-${i}`), '');
      const ack = path.join(w, `ack-${i}`);
      let seen = false;
      for (let k = 0; k < 20000 && !seen; k++) {
        seen = fs.existsSync(ack);
        if (!seen) await sleep(1);
      }
      // The first few warm the host's watch (it starts once the guest's is on).
      if (seen && i >= 0) latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    return {
      hostToContainer: rate(h2c),
      containerToHost: rate(c2h),
      containerToContainer: rate(c2c),
      eventMs: latencies.length ? median(latencies) : NaN,
    };
  } finally {
    echo.close();
    await docker(env, ['rm', '-f', ...names]).catch(() => undefined);
    await docker(env, ['volume', 'rm', '-f', volume]).catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-share-'));
  const registries = await ensureFixtureRegistries();
  const podvisor = await startDaemon({ vmPoolSize: 1 });
  let dockerd: BaselineDockerd | undefined;
  try {
    dockerd = await startDockerd(path.join(base, 'dockerd'));
    const p = await measure(podvisor.env, base, 'p');
    const d = await measure(dockerd.env, base, 'd');
    const row = (what: string, a: number, b: number, digits = 0): string =>
      `  ${what.padEnd(62)} ${a.toFixed(digits).padStart(10)} ${b.toFixed(digits).padStart(10)}\n`;
    process.stdout.write(
      `\nmedians (sockets: of ${RUNS} runs of ${ROUND_TRIPS} round trips and ${CONNECTIONS} connections; ` +
        `inotify: of ${EVENTS} events), load average at the end ${os
          .loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}:\n` +
        `  ${''.padEnd(62)} ${'podvisor'.padStart(10)} ${'dockerd'.padStart(10)}\n` +
        row('host -> container: round trips/s (64 B, one connection)', p.hostToContainer[0], d.hostToContainer[0]) +
        row('host -> container: connections/s (one round trip each)', p.hostToContainer[1], d.hostToContainer[1]) +
        row('container -> host: round trips/s', p.containerToHost[0], d.containerToHost[0]) +
        row('container -> host: connections/s', p.containerToHost[1], d.containerToHost[1]) +
        row(
          'container -> container (named volume): round trips/s',
          p.containerToContainer[0],
          d.containerToContainer[0],
        ) +
        row(
          'container -> container (named volume): connections/s',
          p.containerToContainer[1],
          d.containerToContainer[1],
        ) +
        row("inotify: host's write -> the container watcher's answer (ms)", p.eventMs, d.eventMs, 2),
    );
  } finally {
    await stopBench({ dockerd, podvisor, registries, base });
  }
}

runMain(main);
