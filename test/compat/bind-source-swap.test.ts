/**
 * A bind source is resolved once, at create; after that the host never follows a symlink in
 * it (src/util/host-path.ts). Played as an attacker would, through the stock docker CLI on
 * real VMs, by an ordinary container (no --privileged, no added capability) that has a parent
 * of its own bind source bound as well (`-v D:/app -v D/conf:/conf`, the layout Compose users
 * write every day):
 *
 *  - it swaps the file source for a symlink to a host file outside D: after `docker restart`,
 *    and after a daemon restart, the start fails with an error that names the source, and the
 *    host file is neither bound nor changed;
 *  - it swaps a directory source for a symlink, then exits under a restart policy: the
 *    policy's start fails the same way, and nothing of the host directory is mounted;
 *  - it swaps a bound socket for a symlink to the daemon's own socket: its next connection is
 *    ended, never answered by the Docker API; a host service that makes its socket again at
 *    the path is reached again;
 *  - an editor-style save (a new inode renamed over the source) is what the next start binds.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { mountsUnder } from '../helpers/leaks';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerCli, type CliResult } from '../helpers/docker-cli';

jest.setTimeout(600_000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox`;
const DEBIAN = `${REG}/debian:bookworm`;
const CHANGED = /bind source path \S+ has changed since the container was created .*create the container again/;

let d: TestDaemon;
let host: string;
const servers: net.Server[] = [];

const docker = async (args: string[]): Promise<CliResult> => {
  const r = await dockerCli(d, args, undefined, 300_000);
  return { ...r, out: r.out.trim() };
};
const ok = async (args: string[]): Promise<string> => {
  const r = await docker(args);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: exit ${r.code}: ${r.err}`);
  return r.out;
};

const until = async (what: string, cond: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

const isSymlink = (p: string): boolean => fs.lstatSync(p, { throwIfNoEntry: false })?.isSymbolicLink() ?? false;

beforeAll(async () => {
  d = await startDaemon();
  host = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'pv-bind-swap-')));
  await ok(['pull', '-q', IMAGE]);
  await ok(['pull', '-q', DEBIAN]);
});

afterAll(async () => {
  for (const s of servers) s.close();
  const ids = (await docker(['ps', '-aq'])).out.split('\n').filter(Boolean);
  if (ids.length) await docker(['rm', '-f', ...ids]);
  await stopDaemonLeavingNothing(d);
  expect(mountsUnder(host)).toEqual([]);
  fs.rmSync(host, { recursive: true, force: true });
});

test('a file source swapped for a symlink to a host file: docker restart and a daemon restart refuse it; the host file is untouched', async () => {
  const app = path.join(host, 'app1');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'conf'), 'user conf\n');
  const secret = path.join(host, 'secret-file');
  fs.writeFileSync(secret, 'host secret\n');
  // The container reads its conf, then swaps it for a link to the host file, as its root can.
  await ok([
    'run',
    '-d',
    '--name',
    'swapfile',
    '-v',
    `${app}:/app`,
    '-v',
    `${app}/conf:/conf`,
    IMAGE,
    'sh',
    '-c',
    `cat /conf > /app/seen; rm /app/conf; ln -s ${secret} /app/conf; exec sleep 600`,
  ]);
  await until('the swap', () => isSymlink(path.join(app, 'conf')));
  expect(fs.readFileSync(path.join(app, 'seen'), 'utf8')).toBe('user conf\n');

  const restarted = await docker(['restart', '-t', '1', 'swapfile']);
  expect(restarted.code).not.toBe(0);
  expect(restarted.err).toMatch(CHANGED);
  expect(restarted.err).toContain(`${app}/conf`);
  expect(await ok(['inspect', '-f', '{{.State.Running}}', 'swapfile'])).toBe('false');

  // The record keeps the path pinned at create across a daemon restart.
  await d.restart();
  const started = await docker(['start', 'swapfile']);
  expect(started.code).not.toBe(0);
  expect(started.err).toMatch(CHANGED);
  expect(fs.readFileSync(secret, 'utf8')).toBe('host secret\n');
  expect(mountsUnder(host)).toEqual([]);

  // Taking the new target on purpose: a new container binds what the link now names.
  await ok(['rm', '-f', 'swapfile']);
  expect(await ok(['run', '--rm', '-v', `${app}/conf:/conf:ro`, IMAGE, 'cat', '/conf'])).toBe('host secret');
});

test('a directory source swapped for a symlink, then a restart policy: the policy’s start fails the same way and mounts nothing', async () => {
  const app = path.join(host, 'app2');
  fs.mkdirSync(path.join(app, 'sub'), { recursive: true });
  const secretDir = path.join(host, 'secret-dir');
  fs.mkdirSync(secretDir);
  fs.writeFileSync(path.join(secretDir, 'key'), 'host key\n');
  await ok([
    'run',
    '-d',
    '--name',
    'swapdir',
    '--restart',
    'on-failure:3',
    '-v',
    `${app}:/app`,
    '-v',
    `${app}/sub:/sub`,
    IMAGE,
    'sh',
    '-c',
    `echo ran >> /app/runs; rm -rf /app/sub; ln -s ${secretDir} /app/sub; exit 1`,
  ]);
  await until('the restart policy to give up', async () => {
    const state = JSON.parse(await ok(['inspect', '-f', '{{json .State}}', 'swapdir'])) as {
      Running: boolean;
      Restarting: boolean;
      Error: string;
    };
    return !state.Running && !state.Restarting && CHANGED.test(state.Error);
  });
  expect(fs.readFileSync(path.join(app, 'runs'), 'utf8')).toBe('ran\n');
  expect(fs.readdirSync(secretDir)).toEqual(['key']);
  expect(fs.readFileSync(path.join(secretDir, 'key'), 'utf8')).toBe('host key\n');
  expect(mountsUnder(secretDir)).toEqual([]);
  await ok(['rm', '-f', 'swapdir']);
});

/** A server of this test on `sock` that answers every connection with `reply` and a newline. */
async function serve(sock: string, reply: string): Promise<net.Server> {
  // Read to the end as well: a connection never read from never sees its peer's end, and the
  // server's close would wait for it.
  const s = net.createServer((c) =>
    c
      .on('error', () => undefined)
      .resume()
      .end(`${reply}\n`),
  );
  servers.push(s);
  await new Promise<void>((resolve, reject) => s.once('error', reject).listen(sock, resolve));
  return s;
}

test('a bound socket swapped for a symlink to the daemon’s socket: the next connection ends unanswered; a socket made again is reached again', async () => {
  const dir = path.join(host, 'run');
  fs.mkdirSync(dir);
  const sock = path.join(dir, 'a.sock');
  const first = await serve(sock, 'svc');
  await ok(['run', '-d', '--name', 'swapsock', '-v', `${dir}:/s`, '-v', `${sock}:/a.sock`, DEBIAN, 'sleep', '600']);
  // Connect, ask the Docker API's question, print the first line or how the connection ended.
  const ask = (): Promise<string> =>
    ok([
      'exec',
      'swapsock',
      'perl',
      '-MIO::Socket::UNIX',
      '-e',
      '$s = IO::Socket::UNIX->new(Peer => "/a.sock") or die "connect: $!\\n"; print $s "GET /_ping HTTP/1.0\\r\\n\\r\\n"; $l = <$s>; print defined $l ? $l : "closed\\n"',
    ]);
  expect(await ask()).toBe('svc');

  // The container swaps the socket for a link to the daemon's own socket.
  await ok(['exec', 'swapsock', 'sh', '-c', `rm /s/a.sock && ln -s ${d.socketPath} /s/a.sock`]);
  expect(isSymlink(sock)).toBe(true);
  const swapped = await ask();
  expect(swapped).toBe('closed');
  expect(swapped).not.toContain('HTTP');
  expect(d.logs()).toMatch(/not connected to \S+a\.sock: .*has changed since the container was created/);

  // The host service makes its socket again at the path: reached again.
  await new Promise((r) => first.close(r));
  fs.rmSync(sock, { force: true });
  await serve(sock, 'svc again');
  expect(await ask()).toBe('svc again');
  await ok(['rm', '-f', 'swapsock']);
});

test('an editor-style save (a new file renamed over the source) is what the next start binds', async () => {
  const app = path.join(host, 'app3');
  fs.mkdirSync(app);
  const conf = path.join(app, 'config.yml');
  fs.writeFileSync(conf, 'v1\n');
  await ok(['create', '--name', 'editor', '-v', `${conf}:/config.yml`, IMAGE, 'cat', '/config.yml']);
  expect(await ok(['start', '-a', 'editor'])).toBe('v1');
  fs.writeFileSync(`${conf}.swp`, 'v2\n');
  fs.renameSync(`${conf}.swp`, conf);
  expect(await ok(['start', '-a', 'editor'])).toBe('v2');
  await ok(['rm', '-f', 'editor']);
});
