/**
 * A host unix socket bind-mounted into a container as a single file, through the stock docker
 * CLI against the real daemon (real QEMU VMs):
 *  - the daemon's own socket: the host's static docker CLI, bind-mounted into the Debian
 *    fixture, runs `docker ps`, `docker run --rm ... echo`, `docker logs -f`, `docker exec -i`
 *    (a hijacked stream, half-closed) and `docker exec -it` (a terminal, under util-linux's
 *    script) against podvisor through `/var/run/docker.sock`;
 *  - a host service's socket (servers of this test process on sockets in a temp dir), reached
 *    from perl in the Debian fixture: 1100 connections in a row with no fd growth in the daemon
 *    (and none in the agent: its table holds 1024 processes and its fd limit is 1024, so a leak
 *    of either per connection would fail the loop), the host peer closing mid-stream, the
 *    container stopping while connected (the host service sees its connection close), and the
 *    host socket removed (the guest's connection ends at once instead of hanging).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerCli, dockerOk, dockerSync, type CliResult } from '../helpers/docker-cli';

jest.setTimeout(600000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox`;
const DEBIAN = `${REG}/debian:bookworm`;
/** The host's docker CLI: a static binary, so it runs in any image. */
const DOCKER_CLI = '/usr/local/bin/docker';

let d: TestDaemon;
let dir: string;
const servers: net.Server[] = [];

const ok = (args: string[]): string => dockerOk(d, args, 300000);
/** The CLI without blocking this process (its servers must answer meanwhile). */
const run = async (args: string[]): Promise<CliResult> => {
  const r = await dockerCli(d, args, undefined, 300000);
  return { ...r, out: r.out.trim() };
};
const runOk = async (args: string[]): Promise<string> => {
  const r = await run(args);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: exit ${r.code}: ${r.err}`);
  return r.out;
};

/** A server of this process on a unix socket in the temp dir. */
async function serve(name: string, onConnection: (c: net.Socket) => void): Promise<string> {
  const sock = path.join(dir, name);
  const s = net.createServer(onConnection);
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(sock, resolve));
  return sock;
}

function daemonFds(): number {
  return fs.readdirSync(`/proc/${d.pid()}/fd`).length;
}

beforeAll(async () => {
  d = await startDaemon();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-sockets-'));
  ok(['pull', '-q', IMAGE]);
  ok(['pull', '-q', DEBIAN]);
});

afterAll(async () => {
  for (const s of servers) s.close();
  // What a failed test left running.
  const left = dockerSync(d, ['ps', '-aq'], 60000).out.split('\n').filter(Boolean);
  if (left.length) dockerSync(d, ['rm', '-f', ...left], 300000);
  await stopDaemonLeavingNothing(d);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the stock docker CLI in a container drives the daemon through its mounted socket: ps, run, logs -f, exec -i and -it', async () => {
  ok(['run', '-d', '--name', 'target', IMAGE, 'sleep', '600']);
  ok(['run', '-d', '--name', 'talker', IMAGE, 'sh', '-c', 'for i in 1 2 3; do echo line$i; sleep 1; done']);
  ok([
    'run',
    '-d',
    '--name',
    'outer',
    '-e',
    'DOCKER_CONFIG=/tmp/docker-config',
    '-v',
    `${d.socketPath}:/var/run/docker.sock`,
    '-v',
    `${DOCKER_CLI}:/usr/local/bin/docker:ro`,
    DEBIAN,
    'sleep',
    '600',
  ]);
  const inside = (script: string): Promise<string> => runOk(['exec', 'outer', 'sh', '-c', script]);

  expect((await inside('ls -l /var/run/docker.sock')).startsWith('s')).toBe(true);
  const names = (await inside("docker ps --format '{{.Names}}'")).split('\n').sort();
  expect(names).toEqual(expect.arrayContaining(['outer', 'target']));
  expect(await inside(`docker run --rm ${IMAGE} echo hi`)).toBe('hi');
  expect(await inside('docker logs -f talker')).toBe('line1\nline2\nline3');
  expect(await inside('docker exec target echo from-exec')).toBe('from-exec');
  // stdin through the hijacked stream, half-closed at its end: cat ends and its output arrives.
  expect(await inside('echo piped | docker exec -i target cat')).toBe('piped');
  // -it: a terminal in the target (util-linux's script gives the inner CLI one to attach).
  expect(await inside(`script -qec "docker exec -it target sh -c 'tty; echo tty-ok'" /dev/null`)).toMatch(
    // What a terminal shows between the two lines (a NUL, a carriage return) is the terminal's.
    /\/dev\/pts\/\d+\s[^a-z]*tty-ok/,
  );

  ok(['rm', '-f', 'outer', 'target', 'talker']);
});

test('a host service socket: 1100 connections in a row leak nothing; a peer closing mid-stream; the host socket removed', async () => {
  const echo = await serve('echo.sock', (c) => c.pipe(c));
  const mid = await serve('mid.sock', (c) => {
    c.write('partial\n');
    c.once('data', () => c.destroy()); // gone while the guest still writes
  });
  let goneConnections = 0;
  const gone = await serve('gone.sock', (c) => {
    goneConnections++;
    c.pipe(c);
  });
  fs.chmodSync(echo, 0o660);
  ok([
    'run',
    '-d',
    '--name',
    'client',
    '-v',
    `${echo}:/run/echo.sock`,
    '-v',
    `${mid}:/mid`,
    '-v',
    `${gone}:/gone`,
    DEBIAN,
    'sleep',
    '600',
  ]);
  const perl = (script: string): Promise<CliResult> =>
    run(['exec', 'client', 'perl', '-MIO::Socket::UNIX', '-e', script]);
  // The socket in the container has the host socket's mode, owner root.
  expect(await runOk(['exec', 'client', 'stat', '-c', '%F %a %U', '/run/echo.sock'])).toBe('socket 660 root');

  const loop = (n: number, sock: string): string =>
    `for $i (1..${n}) { $s = IO::Socket::UNIX->new(Peer => "${sock}") or die "connect $i: $!\\n"; ` +
    `print $s "ping $i\\n"; $l = <$s>; die "answer $i: $l\\n" unless $l eq "ping $i\\n"; close $s } print "done\\n"`;
  expect((await perl(loop(3, '/run/echo.sock'))).out).toBe('done');
  const before = daemonFds();
  const r = await perl(loop(1100, '/run/echo.sock'));
  expect(r).toMatchObject({ code: 0, out: 'done' });
  // The daemon closes each host connection once the guest's has ended: wait for the last ones.
  for (let i = 0; i < 100 && daemonFds() > before; i++) await new Promise((res) => setTimeout(res, 100));
  expect(daemonFds()).toBeLessThanOrEqual(before);

  const m = await perl(
    '$SIG{PIPE} = "IGNORE"; $s = IO::Socket::UNIX->new(Peer => "/mid") or die "connect: $!\\n"; ' +
      '$l = <$s>; print "got $l"; for (1..2000) { last unless print $s ("x" x 65536) } print "writing ended\\n"; ' +
      '$r = <$s>; print defined $r ? "more\\n" : "eof\\n"',
  );
  expect(m).toMatchObject({ code: 0, out: 'got partial\nwriting ended\neof' });

  expect((await perl(loop(1, '/gone'))).out).toBe('done');
  await new Promise<void>((resolve) => servers[servers.length - 1].close(() => resolve()));
  fs.rmSync(gone, { force: true });
  // The relay in the VM may close the connection before or after the write: either way the
  // client sees it closed (a write then fails with EPIPE, so SIGPIPE is ignored as a server would).
  const g = await perl(
    '$SIG{PIPE} = "IGNORE"; $s = IO::Socket::UNIX->new(Peer => "/gone") or die "connect: $!\\n"; print $s "anyone?\\n"; ' +
      '$r = <$s>; print defined $r ? "answered\\n" : "closed\\n"',
  );
  expect(g).toMatchObject({ code: 0, out: 'closed' });
  expect(goneConnections).toBe(1);

  ok(['rm', '-f', 'client']);
});

test('a container stopping while connected closes the host side of its connections; started again it connects again', async () => {
  let connected!: () => void;
  const isConnected = new Promise<void>((res) => (connected = res));
  let closed!: () => void;
  const isClosed = new Promise<void>((res) => (closed = res));
  let reconnected!: () => void;
  const isReconnected = new Promise<void>((res) => (reconnected = res));
  let connections = 0;
  const sock = await serve('hold.sock', (c) => {
    c.on('error', () => undefined);
    c.write('hello\n');
    if (++connections === 1) {
      c.on('close', () => closed());
      connected();
    } else {
      reconnected();
    }
  });
  ok([
    'run',
    '-d',
    '--name',
    'holder',
    '-v',
    `${sock}:/s`,
    DEBIAN,
    'perl',
    '-MIO::Socket::UNIX',
    '-e',
    '$| = 1; $s = IO::Socket::UNIX->new(Peer => "/s") or die; $l = <$s>; print $l; sleep 600',
  ]);
  await isConnected;
  const stopped = run(['stop', '-t', '1', 'holder']);
  await isClosed;
  expect((await stopped).code).toBe(0);
  expect(ok(['logs', 'holder'])).toBe('hello');
  // Started again, the container has its socket again.
  await runOk(['start', 'holder']);
  await isReconnected;
  ok(['rm', '-f', 'holder']);
});

test('a fifo is still refused, with the kinds that are bound in the message', () => {
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const res = dockerSync(d, ['run', '--rm', '-v', `${fifo}:/f`, IMAGE, 'true'], 120000);
  expect(res.code).not.toBe(0);
  expect(res.err).toContain('podvisor bind-mounts directories, regular files and unix sockets only');
});
