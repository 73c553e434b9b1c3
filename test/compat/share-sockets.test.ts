/**
 * Unix sockets in bind-mounted directories and volumes cross the VM's edge both ways, as under
 * runc, through the stock docker CLI against the real daemon (real QEMU VMs, our guest kernel):
 *  - host -> container: a host service's socket in a bind-mounted directory, including one
 *    that appears after the container started, answers perl in the Debian fixture; 300
 *    connections in a row leave no fd behind in the daemon; a socket file nothing listens on
 *    is refused (ECONNREFUSED), as under runc;
 *  - container -> host: a server in a container binds its socket in the bind mount; a host
 *    client connects to the file, which keeps the mode the container's umask gave it; once the
 *    container is gone, the file stays and connects are refused;
 *  - container -> container in another VM: a server's socket in a named volume answers a client
 *    in a second container that mounts the same volume.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerCli, dockerOk, dockerSync, type CliResult } from '../helpers/docker-cli';

jest.setTimeout(600000);

const DEBIAN = `${fixtureRegistry()}/debian:bookworm`;

let d: TestDaemon;
let dir: string;
const servers: net.Server[] = [];

const ok = (args: string[]): string => dockerOk(d, args, 300000);
/** The CLI without blocking this process (its servers must answer meanwhile). */
const run = async (args: string[]): Promise<CliResult> => {
  const r = await dockerCli(d, args, undefined, 300000);
  return { ...r, out: r.out.trim() };
};

/** A perl one-liner run in a container with IO::Socket::UNIX loaded. */
const perl = (container: string, script: string): Promise<CliResult> =>
  run(['exec', container, 'perl', '-MIO::Socket::UNIX', '-e', script]);

/** perl: `n` connections in a row to `sock`, each a line and its echo. */
const loop = (n: number, sock: string): string =>
  `for $i (1..${n}) { $s = IO::Socket::UNIX->new(Peer => "${sock}") or die "connect $i: $!\\n"; ` +
  `print $s "ping $i\\n"; $l = <$s>; die "answer $i: $l\\n" unless $l =~ /ping $i\\n$/; close $s } print "done\\n"`;

/** perl: an echo server on `sock` (made with umask `umask`), prefixing "echo: ". */
const echoServer = (sock: string, umask: string): string =>
  `umask ${umask}; unlink "${sock}"; $l = IO::Socket::UNIX->new(Local => "${sock}", Listen => 16) or die "listen: $!\\n"; ` +
  `$| = 1; print "listening\\n"; while ($c = $l->accept) { while (defined($x = <$c>)) { print $c "echo: $x" } close $c }`;

async function serve(sock: string, onConnection: (c: net.Socket) => void): Promise<void> {
  const s = net.createServer(onConnection);
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(sock, resolve));
}

function daemonFds(): number {
  return fs.readdirSync(`/proc/${d.pid()}/fd`).length;
}

/**
 * One line to `sock` from this process and the answer, or the connect's error code, or
 * "closed (...)" when the other end closed first, or "no answer (...)" when nothing ended
 * within 20 s (a relay that accepted but never answered).
 */
function talk(sock: string, line: string): Promise<string> {
  return new Promise((resolve) => {
    const c = net.createConnection(sock);
    let got = '';
    const timer = setTimeout(() => {
      c.destroy();
      resolve(`no answer (${JSON.stringify(got)} so far)`);
    }, 20000);
    // Closed by the other end before a whole line: what came, so the caller sees it.
    c.once('close', () => {
      clearTimeout(timer);
      resolve(got.endsWith('\n') ? got : `closed (${JSON.stringify(got)})`);
    });
    c.once('connect', () => c.write(line));
    c.on('data', (b) => {
      got += b.toString();
      if (got.endsWith('\n')) {
        c.destroy();
        resolve(got);
      }
    });
    c.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
}

/** talk(), again until it is answered or `tries` have passed (the host's listener comes after the bind). */
async function talkWhenUp(sock: string, line: string, tries = 300): Promise<string> {
  let r = '';
  for (let i = 0; i < tries; i++) {
    r = await talk(sock, line);
    if (r !== 'ECONNREFUSED' && r !== 'ENOENT') return r;
    await new Promise((res) => setTimeout(res, 100));
  }
  return r;
}

/** The daemon's log lines about share sockets, re-adoption and agent sessions. */
function relayLines(log: string): string {
  return log
    .split('\n')
    .filter((l) => /socket|adopt|agent|relay|restor/i.test(l))
    .slice(-80)
    .join('\n');
}

async function waitForLog(container: string, text: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (dockerSync(d, ['logs', container], 60000).out.includes(text)) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`${container} never logged ${text}`);
}

beforeAll(async () => {
  d = await startDaemon({ args: ['--log-level', 'debug'] });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-share-sockets-'));
  fs.mkdirSync(path.join(dir, 'srv'));
  ok(['pull', '-q', DEBIAN]);
});

afterAll(async () => {
  for (const s of servers) s.close();
  const left = dockerSync(d, ['ps', '-aq'], 60000).out.split('\n').filter(Boolean);
  if (left.length) dockerSync(d, ['rm', '-f', ...left], 300000);
  dockerSync(d, ['volume', 'rm', '-f', 'pv-sockvol'], 60000);
  await stopDaemonLeavingNothing(d);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('host -> container: a host service socket in a bind-mounted directory answers, one made later too; a dead one is refused', async () => {
  const srv = path.join(dir, 'srv');
  await serve(path.join(srv, 'echo.sock'), (c) => c.pipe(c));
  ok(['run', '-d', '--name', 'client', '-v', `${srv}:/srv`, DEBIAN, 'sleep', '600']);

  expect(await perl('client', loop(3, '/srv/echo.sock'))).toMatchObject({ code: 0, out: 'done' });
  // A service that starts after the container.
  await serve(path.join(srv, 'late.sock'), (c) => c.pipe(c));
  expect(await perl('client', loop(1, '/srv/late.sock'))).toMatchObject({ code: 0, out: 'done' });

  const before = daemonFds();
  expect(await perl('client', loop(300, '/srv/echo.sock'))).toMatchObject({ code: 0, out: 'done' });
  for (let i = 0; i < 100 && daemonFds() > before; i++) await new Promise((res) => setTimeout(res, 100));
  expect(daemonFds()).toBeLessThanOrEqual(before);

  // A socket file whose server is gone (bound, never removed): refused, as under runc.
  execFileSync('python3', [
    '-c',
    'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])',
    `${srv}/dead.sock`,
  ]);
  const dead = await perl(
    'client',
    'IO::Socket::UNIX->new(Peer => "/srv/dead.sock") ? print "connected\\n" : print "$!\\n"',
  );
  expect(dead.out).toBe('Connection refused');
  const none = await perl(
    'client',
    'IO::Socket::UNIX->new(Peer => "/srv/none.sock") ? print "connected\\n" : print "$!\\n"',
  );
  expect(none.out).toBe('No such file or directory');
  ok(['rm', '-f', 'client']);
});

test('container -> host: a server in a container binds in the bind mount; a host client connects; after the container, refused', async () => {
  const srv = path.join(dir, 'srv');
  ok([
    'run',
    '-d',
    '--name',
    'server',
    '-v',
    `${srv}:/srv`,
    DEBIAN,
    'perl',
    '-MIO::Socket::UNIX',
    '-e',
    echoServer('/srv/c.sock', '007'),
  ]);
  await waitForLog('server', 'listening');
  expect(await talkWhenUp(path.join(srv, 'c.sock'), 'from the host\n')).toBe('echo: from the host\n');
  const st = fs.lstatSync(path.join(srv, 'c.sock'));
  expect(st.isSocket()).toBe(true);
  expect(st.mode & 0o777).toBe(0o770);
  // Many in a row.
  for (let i = 0; i < 50; i++) expect(await talk(path.join(srv, 'c.sock'), `n${i}\n`)).toBe(`echo: n${i}\n`);

  ok(['rm', '-f', 'server']);
  // The file stays, as a socket whose server exited; connects are refused (a first one may
  // still be accepted and closed while the host learns the guest's socket is gone).
  let r = '';
  for (let i = 0; i < 50 && r !== 'ECONNREFUSED'; i++) r = await talk(path.join(srv, 'c.sock'), 'anyone?\n');
  expect(r).toBe('ECONNREFUSED');
  expect(fs.lstatSync(path.join(srv, 'c.sock')).isSocket()).toBe(true);
});

test('container -> container in another VM: a socket in a named volume', async () => {
  ok(['volume', 'create', 'pv-sockvol']);
  ok([
    'run',
    '-d',
    '--name',
    'vserver',
    '-v',
    'pv-sockvol:/v',
    DEBIAN,
    'perl',
    '-MIO::Socket::UNIX',
    '-e',
    echoServer('/v/a.sock', '000'),
  ]);
  await waitForLog('vserver', 'listening');
  ok(['run', '-d', '--name', 'vclient', '-v', 'pv-sockvol:/v', DEBIAN, 'sleep', '600']);
  let r: CliResult = { code: 1, out: '', err: '' };
  for (let i = 0; i < 100 && r.out !== 'done'; i++) {
    r = await perl('vclient', loop(20, '/v/a.sock'));
    if (r.out !== 'done') await new Promise((res) => setTimeout(res, 100));
  }
  expect(r).toMatchObject({ code: 0, out: 'done' });
  ok(['rm', '-f', 'vserver', 'vclient']);
});

test('a daemon killed and started again: the host reaches the socket a container bound before, and the container the host socket', async () => {
  const srv = path.join(dir, 'srv');
  ok([
    'run',
    '-d',
    '--name',
    'survivor',
    '-v',
    `${srv}:/srv`,
    DEBIAN,
    'perl',
    '-MIO::Socket::UNIX',
    '-e',
    echoServer('/srv/r.sock', '000'),
  ]);
  await waitForLog('survivor', 'listening');
  expect(await talkWhenUp(path.join(srv, 'r.sock'), 'before\n')).toBe('echo: before\n');
  await d.kill9();
  await d.restart();
  // The host's listener was the killed daemon's: the new one listens again for the guest.
  const after = await talkWhenUp(path.join(srv, 'r.sock'), 'after\n');
  // The daemon's socket relay lines, when it failed (they say which step did not happen).
  if (after !== 'echo: after\n') process.stderr.write(relayLines(d.logs()));
  expect(after).toBe('echo: after\n');
  // And the container reaches a host socket through the relay of the new daemon.
  await serve(path.join(srv, 'after.sock'), (c) => c.pipe(c));
  expect(await perl('survivor', loop(3, '/srv/after.sock'))).toMatchObject({ code: 0, out: 'done' });
  ok(['rm', '-f', 'survivor']);
});
