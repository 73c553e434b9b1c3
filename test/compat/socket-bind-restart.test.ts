/**
 * A host unix socket bind-mounted into a running container as a single file, across a daemon
 * SIGKILL and start (real QEMU VMs, the stock docker CLI): the next daemon re-adopts the VM
 * and the relay resumes on the listener the guest kept, so new connections from the container
 * reach the host service again; a connection the earlier daemon relayed (its host side died
 * with that daemon) ends, so its client in the container reads EOF instead of hanging.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerCli, dockerOk, dockerSync } from '../helpers/docker-cli';

jest.setTimeout(600000);

const DEBIAN = `${fixtureRegistry()}/debian:bookworm`;

let d: TestDaemon;
let dir: string;
const servers: net.Server[] = [];

async function serve(name: string, onConnection: (c: net.Socket) => void): Promise<string> {
  const sock = path.join(dir, name);
  const s = net.createServer((c) => {
    c.on('error', () => undefined);
    onConnection(c);
  });
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(sock, resolve));
  return sock;
}

/** `docker exec` without blocking this process (its servers answer meanwhile). */
async function exec(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await dockerCli(d, ['exec', ...args], undefined, 300000);
  return { ...r, out: r.out.trim() };
}

/** perl in the container: connect to /run/echo.sock `n` times, one round trip each; gives up after 60 s. */
const LOOP = (n: number): string =>
  'alarm 60; use IO::Socket::UNIX; ' +
  `for $i (1..${n}) { $s = IO::Socket::UNIX->new(Peer => "/run/echo.sock") or die "connect $i: $!\\n"; ` +
  `print $s "ping $i\\n"; $l = <$s>; die "answer $i: $l\\n" unless $l eq "ping $i\\n"; close $s } print "done\\n"`;

beforeAll(async () => {
  d = await startDaemon();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-sockrestart-'));
  dockerOk(d, ['pull', '-q', DEBIAN], 300000);
});

afterAll(async () => {
  for (const s of servers) s.close();
  const left = dockerSync(d, ['ps', '-aq'], 60000).out.split('\n').filter(Boolean);
  if (left.length) dockerSync(d, ['rm', '-f', ...left], 300000);
  await stopDaemonLeavingNothing(d);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('after a daemon SIGKILL and start, the socket bind of a running container relays again; a connection held across it ends', async () => {
  const echo = await serve('echo.sock', (c) => c.pipe(c));
  let held!: () => void;
  const isHeld = new Promise<void>((resolve) => (held = resolve));
  const hold = await serve('hold.sock', (c) => {
    c.write('hello\n');
    held();
  });
  dockerOk(d, [
    'run',
    '-d',
    '--name',
    'sr',
    '-v',
    `${echo}:/run/echo.sock`,
    '-v',
    `${hold}:/run/hold.sock`,
    DEBIAN,
    'sleep',
    '900',
  ]);
  expect((await exec(['sr', 'perl', '-e', LOOP(3)])).out).toBe('done');
  // A connection held open across the restart: it writes what it reads, then EOF or more.
  dockerOk(d, [
    'exec',
    '-d',
    'sr',
    'perl',
    '-MIO::Socket::UNIX',
    '-e',
    '$s = IO::Socket::UNIX->new(Peer => "/run/hold.sock") or die; open(O, ">", "/tmp/held") or die; ' +
      'select(O); $| = 1; $l = <$s>; print "got $l"; $r = <$s>; print defined $r ? "more\\n" : "eof\\n"',
  ]);
  await isHeld;
  for (let i = 0; i < 100 && (await exec(['sr', 'cat', '/tmp/held'])).out !== 'got hello'; i++) await sleep(200);
  expect((await exec(['sr', 'cat', '/tmp/held'])).out).toBe('got hello');

  await d.kill9();
  await d.restart();
  expect(dockerOk(d, ['inspect', '-f', '{{.State.Status}}', 'sr'])).toBe('running');
  const r = await exec(['sr', 'perl', '-e', LOOP(50)]);
  expect(r).toMatchObject({ code: 0, out: 'done' });
  // The held connection's host side went with the killed daemon: it ended in the container.
  let got = '';
  for (let i = 0; i < 150 && !(got = (await exec(['sr', 'cat', '/tmp/held'])).out).endsWith('eof'); i++)
    await sleep(200);
  expect(got).toBe('got hello\neof');
  dockerOk(d, ['rm', '-f', 'sr']);
});
