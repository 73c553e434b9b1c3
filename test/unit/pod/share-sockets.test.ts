/**
 * The daemon's half of sockets in a VM's volume share (src/pod/network/share-sockets.ts) against a
 * scripted agent whose kernel events the test writes, on a real share directory of this
 * machine:
 *  - connect: a host service's socket in the share is connected to on the host and piped to
 *    the guest's connection; a missing file, or a socket nothing listens on, is refused with
 *    the host's errno; a path through a symlink, with `..`, or under another tag reaches
 *    nothing outside the share (the host socket outside sees no connection);
 *  - bound: the guest's socket file is replaced by a host listener with its mode and owner,
 *    whose connections the agent dials back into the guest; once the guest's socket no longer
 *    answers, connects to the file are refused;
 *  - bounds: at most MAX_EVENTS_IN_FLIGHT events handled at once, a path 1,800 levels deep
 *    resolved without a walk (one past PATH_MAX refused), one listener for 10,000 BOUNDs of a
 *    path, and an error on a listener or a host connection that ends it, not the daemon.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  MAX_CONNECTIONS,
  MAX_EVENTS_IN_FLIGHT,
  MAX_LISTENERS,
  relayShareSockets,
} from '../../../src/pod/network/share-sockets';
import type { ExitStatus, Vm } from '../../../src/vm/types';
import { closeResolveHelper } from '../../../src/util/resolve-beneath';
import { startPeercredServer } from '../../helpers/peercred-server';
import {
  bareSocketFile,
  bareSocketFiles,
  eventually,
  openFds,
  read,
  ScriptedAgent,
  TAG,
} from '../../helpers/scripted-socket-agent';
const { ECONNREFUSED, ENAMETOOLONG, ENOENT } = os.constants.errno;
// The module object itself (the namespace import's properties are read-only getters of it).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeNet = require('node:net') as typeof net;

let dir: string;
let share: string;
let agent: ScriptedAgent;
const servers: net.Server[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-share-sockets-'));
  share = path.join(dir, 'share');
  fs.mkdirSync(path.join(share, 'vol'), { recursive: true });
  agent = new ScriptedAgent();
  const vm = { id: 'vm1', agent: agent.agent, devices: { volumes: { hostDir: share, tag: TAG } } } as unknown as Vm;
  relayShareSockets(vm, 'c1');
});

afterEach(async () => {
  agent.end();
  for (const a of [...agent.answers, ...agent.dials]) a.conn.exit({ exitCode: 0 } as ExitStatus);
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  jest.restoreAllMocks();
  execFileSync('rm', ['-rf', dir]); // some tests go 1,800 levels deep: beyond fs.rmSync's recursion
});

afterAll(() => closeResolveHelper());

async function serve(sock: string, onConnection: (c: net.Socket) => void): Promise<net.Server> {
  const s = net.createServer(onConnection);
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(sock, resolve));
  return s;
}

test('a guest connect to a host service socket in the share is piped to a host connection', async () => {
  await serve(path.join(share, 'vol', 'echo.sock'), (c) => c.pipe(c));
  const token = agent.push('connect', '/vol/echo.sock');
  await agent.until(() => agent.answers.length === 1);
  expect(agent.answers[0].token).toBe(token);
  const { conn } = agent.answers[0];
  const answer = read(conn.toGuest, 5);
  conn.fromGuest.write('ping\n');
  expect(await answer).toBe('ping\n');
  expect(agent.refusals).toEqual([]);
});

test('a missing file, or a socket file nothing listens on, is refused with the host errno', async () => {
  const missing = agent.push('connect', '/vol/none.sock');
  const stale = path.join(share, 'vol', 'stale.sock');
  bareSocketFile(stale, 0o755);
  const refused = agent.push('connect', '/vol/stale.sock');
  await agent.until(() => agent.refusals.length === 2);
  expect(agent.refusals).toEqual(
    expect.arrayContaining([
      { token: missing, errno: ENOENT },
      { token: refused, errno: ECONNREFUSED },
    ]),
  );
});

test('a guest path through a symlink, with .., or under another tag reaches nothing outside the share', async () => {
  let outsideConnections = 0;
  const outside = path.join(dir, 'outside.sock');
  await serve(outside, () => outsideConnections++);
  fs.symlinkSync(outside, path.join(share, 'vol', 'link.sock'));
  fs.symlinkSync(dir, path.join(share, 'vol', 'linkdir'));
  const tokens = [
    agent.push('connect', '/vol/link.sock'),
    agent.push('connect', '/vol/linkdir/outside.sock'),
    agent.push('connect', '/vol/../outside.sock'),
    agent.push('connect', '/outside.sock', 'podvisor'),
    agent.push('connect', 'vol/../../outside.sock'),
  ];
  await agent.until(() => agent.refusals.length === tokens.length);
  expect(agent.answers).toEqual([]);
  expect(agent.refusals.every((r) => r.errno > 0)).toBe(true);
  expect(outsideConnections).toBe(0);
});

test('a socket the guest binds is listened for at its file on the host, with its mode and owner, and dialled back', async () => {
  // What QEMU's 9p server makes for the guest's bind: a socket file nothing listens on.
  const file = path.join(share, 'vol', 'guest.sock');
  bareSocketFile(file, 0o700);
  fs.chownSync(file, 1000, 1000);
  agent.push('bound', '/vol/guest.sock');

  // The host's listener replaces the file; a host client reaches the guest through a dial.
  let client: net.Socket | undefined;
  for (let i = 0; i < 100 && !client; i++) {
    const c = net.createConnection(file);
    const up = await new Promise<boolean>((r) => {
      c.once('connect', () => r(true));
      c.once('error', () => r(false));
    });
    if (up) client = c;
    else await new Promise((r) => setTimeout(r, 20));
  }
  expect(client).toBeDefined();
  const st = fs.lstatSync(file);
  await agent.until(() => agent.dials.length === 1);
  const { conn, path: dialled } = agent.dials[0];
  expect(dialled).toBe('/vol/guest.sock');
  conn.toGuest.on('data', (b: Buffer) => conn.fromGuest.write(b)); // the guest echoes
  const answer = read(client!, 6);
  client!.write('hello\n');
  expect(await answer).toBe('hello\n');
  client!.destroy();
  expect(st.isSocket()).toBe(true);
  expect(st.mode & 0o777).toBe(0o700);
  expect([st.uid, st.gid]).toEqual([1000, 1000]);
  // Nothing left behind in the directory but the socket itself.
  expect(fs.readdirSync(path.join(share, 'vol'))).toEqual(['guest.sock']);

  // The guest's socket gone: the next connect is closed, and the one after it refused.
  agent.guestListens = false;
  const c2 = net.createConnection(file);
  c2.on('error', () => undefined);
  await new Promise((r) => c2.once('close', r));
  // The listener goes once the failed dial-back is handled, which a loaded host may take a
  // moment to reach: a connect made before is closed as c2 was; one made after is refused.
  const attempt = () =>
    new Promise<string>((r) => {
      const c3 = net.createConnection(file);
      c3.once('connect', () => {
        c3.destroy();
        r('connected');
      });
      c3.once('error', (e: NodeJS.ErrnoException) => r(e.code ?? 'error'));
    });
  let refused = await attempt();
  for (let i = 0; i < 100 && refused === 'connected'; i++) {
    await new Promise((r) => setTimeout(r, 50));
    refused = await attempt();
  }
  expect(refused).toBe('ECONNREFUSED');
});

test('a host client that connects the moment the listener takes the name is dialled back, not left waiting', async () => {
  const file = path.join(share, 'vol', 'early.sock');
  bareSocketFile(file, 0o755);
  const guestIno = fs.lstatSync(file).ino;
  agent.push('bound', '/vol/early.sock');
  // The first turn of the event loop in which the name is the host's listener: connect then.
  for (let i = 0; i < 10000 && fs.lstatSync(file).ino === guestIno; i++) await new Promise((r) => setImmediate(r));
  const client = net.createConnection(file);
  client.on('error', () => undefined);
  // Its connection reaches the guest (the owner and mode are still being copied meanwhile);
  // one the listener never handled would wait forever. 20 s: the connection's peer is read by
  // a helper process first, which a loaded CI machine can take seconds to answer.
  const dialled = await Promise.race([
    agent.until(() => agent.dials.length === 1).then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), 20000)),
  ]);
  expect(dialled).toBe(true);
  expect(agent.dials[0].path).toBe('/vol/early.sock');
  client.destroy();
});

test('a guest that connects without end holds at most MAX_CONNECTIONS host connections, and MAX_EVENTS_IN_FLIGHT on their way', async () => {
  let hostConnections = 0;
  await serve(path.join(share, 'vol', 'svc.sock'), (c) => {
    hostConnections++;
    c.on('error', () => undefined);
  });
  // The agent's answers are slow: the connects on their way hold their event slots.
  let open!: () => void;
  agent.gate = new Promise<void>((r) => (open = r));
  const extra = 5;
  for (let i = 0; i < MAX_CONNECTIONS + extra; i++) agent.push('connect', '/vol/svc.sock');
  expect(await eventually(() => hostConnections >= MAX_EVENTS_IN_FLIGHT)).toBe(true);
  await new Promise((r) => setTimeout(r, 100));
  expect(hostConnections).toBe(MAX_EVENTS_IN_FLIGHT);
  expect(agent.pending).toBe(MAX_CONNECTIONS + extra - MAX_EVENTS_IN_FLIGHT);
  // Answered (and left open), the connections fill MAX_CONNECTIONS; the rest are refused.
  open();
  agent.gate = undefined;
  await agent.until(() => agent.answers.length + agent.refusals.length === MAX_CONNECTIONS + extra);
  expect(agent.refusals).toHaveLength(extra);
  // The host service accepts each a moment after the relay connected.
  expect(await eventually(() => hostConnections === MAX_CONNECTIONS)).toBe(true);
  await new Promise((r) => setTimeout(r, 50));
  expect(hostConnections).toBe(MAX_CONNECTIONS);
});

test('a guest binds sockets without end: at most MAX_LISTENERS host listeners', async () => {
  const files = Array.from({ length: MAX_LISTENERS + 3 }, (_, i) => path.join(share, 'vol', `s${i}.sock`));
  bareSocketFiles(files);
  const guestIno = files.map((f) => fs.lstatSync(f).ino);
  const replaced = (i: number): boolean => fs.lstatSync(files[i]).ino !== guestIno[i];
  for (const f of files) agent.push('bound', `/vol/${path.basename(f)}`);
  // The first MAX_LISTENERS become the host's listeners; the rest stay the guest's files.
  expect(await eventually(() => files.slice(0, MAX_LISTENERS).every((_, i) => replaced(i)))).toBe(true);
  for (let i = MAX_LISTENERS; i < files.length; i++) {
    expect(replaced(i)).toBe(false);
    const refused = await new Promise<string>((r) => {
      const c = net.createConnection(files[i]);
      c.once('connect', () => (c.destroy(), r('connected')));
      c.once('error', (e: NodeJS.ErrnoException) => r(e.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
  }
});

test('a socket announced bound again while its listener is being set up leaves no listener behind once the VM goes', async () => {
  const baseline = openFds();
  const file = path.join(share, 'vol', 'again.sock');
  bareSocketFile(file, 0o755);
  for (let i = 0; i < 5; i++) agent.push('bound', '/vol/again.sock');
  // The last one listens at the file: a host client is dialled into the guest.
  let answered = false;
  for (let i = 0; i < 250 && !answered; i++) {
    const c = net.createConnection(file);
    c.on('error', () => undefined);
    if (await new Promise<boolean>((r) => (c.once('connect', () => r(true)), c.once('error', () => r(false))))) {
      await agent.until(() => agent.dials.length === 1);
      answered = true;
    } else await new Promise((r) => setTimeout(r, 20));
    c.destroy();
  }
  expect(answered).toBe(true);
  for (const d of agent.dials) d.conn.exit({ exitCode: 0 } as ExitStatus);
  // The VM goes: every listener the relay made is closed, with the directory it held.
  agent.end();
  expect(await eventually(() => openFds() <= baseline)).toBe(true);
});

test("the host's listener gets a bound socket's mode without the guest setting the daemon's umask", async () => {
  // The umask is the whole daemon's: a file another request makes meanwhile would get the
  // guest's mode (0777 here: umask 0) instead of the daemon's.
  const umask = jest.spyOn(process, 'umask');
  try {
    const file = path.join(share, 'vol', 'wide.sock');
    bareSocketFile(file, 0o777);
    const guestIno = fs.lstatSync(file).ino;
    agent.push('bound', '/vol/wide.sock');
    const listening = await eventually(() => {
      const st = fs.lstatSync(file);
      return st.ino !== guestIno && (st.mode & 0o777) === 0o777;
    });
    expect(listening).toBe(true);
    expect(umask.mock.calls.filter((args) => args.length > 0)).toEqual([]);
  } finally {
    umask.mockRestore();
  }
});

test('more than MAX_EVENTS_IN_FLIGHT events at once: the relay handles MAX_EVENTS_IN_FLIGHT, the rest wait in the guest', async () => {
  await serve(path.join(share, 'vol', 'svc.sock'), (c) => c.on('error', () => undefined));
  bareSocketFiles([path.join(share, 'vol', 'b.sock')]);
  // Connects whose answers are slow hold their slots; binds pushed after them wait too.
  let waiting = 0;
  const answer = agent.agent.answerSocket;
  agent.agent.answerSocket = async (req) => (waiting++, answer(req));
  let open!: () => void;
  agent.gate = new Promise<void>((r) => (open = r));
  const connects = MAX_EVENTS_IN_FLIGHT * 3;
  for (let i = 0; i < connects; i++) agent.push('connect', '/vol/svc.sock');
  for (let i = 0; i < MAX_EVENTS_IN_FLIGHT; i++) agent.push('bound', '/vol/b.sock');
  expect(await eventually(() => waiting === MAX_EVENTS_IN_FLIGHT)).toBe(true);
  await new Promise((r) => setTimeout(r, 200));
  expect(waiting).toBe(MAX_EVENTS_IN_FLIGHT);
  expect(agent.pending).toBe(connects + MAX_EVENTS_IN_FLIGHT - MAX_EVENTS_IN_FLIGHT);
  open();
  agent.gate = undefined;
  await agent.until(() => agent.answers.length === connects);
  expect(await eventually(() => agent.pending === 0)).toBe(true);
});

test('a socket 1,800 levels deep is reached without a walk; a path past PATH_MAX is refused before any call', async () => {
  execFileSync('python3', [
    '-c',
    'import os,socket,sys\nos.chdir(sys.argv[1])\nfor i in range(1800): os.mkdir("d"); os.chdir("d")\nsocket.socket(socket.AF_UNIX).bind("s.sock")',
    path.join(share, 'vol'),
  ]);
  const opens = jest.spyOn(fs.promises, 'open');
  // Nothing listens on it: reached, the connect is refused with ECONNREFUSED (a walk refused: ENAMETOOLONG).
  const deep = agent.push('connect', `/vol/${'d/'.repeat(1800)}s.sock`);
  await agent.until(() => agent.refusals.length === 1);
  expect(agent.refusals).toEqual([{ token: deep, errno: ECONNREFUSED }]);
  expect(opens.mock.calls.length).toBeLessThan(5);
  opens.mockClear();
  const long = agent.push('connect', `/vol/${'d/'.repeat(2100)}s.sock`);
  await agent.until(() => agent.refusals.length === 2);
  expect(agent.refusals[1]).toEqual({ token: long, errno: ENAMETOOLONG });
  expect(opens).not.toHaveBeenCalled();
});

test('10,000 BOUNDs of one path leave one host listener; a socket the guest binds anew there replaces it', async () => {
  const created = jest.spyOn(nodeNet, 'createServer');
  const file = path.join(share, 'vol', 'many.sock');
  bareSocketFile(file, 0o755);
  const guestIno = fs.lstatSync(file).ino;
  const baseline = openFds();
  for (let i = 0; i < 10_000; i++) agent.push('bound', '/vol/many.sock');
  expect(await eventually(() => agent.pending === 0, 60_000)).toBe(true);
  expect(await eventually(() => fs.lstatSync(file).ino !== guestIno)).toBe(true);
  await new Promise((r) => setTimeout(r, 200));
  expect(created).toHaveBeenCalledTimes(1);
  expect(fs.readdirSync(path.join(share, 'vol'))).toEqual(['many.sock']);
  // The listener's socket and directory (and the resolution helper's pipes, if it started meanwhile).
  expect(openFds()).toBeLessThanOrEqual(baseline + 5);
  // The guest removes the host's file and binds anew: the host listens there again, once.
  fs.unlinkSync(file);
  bareSocketFile(file, 0o700);
  const again = fs.lstatSync(file).ino;
  for (let i = 0; i < 100; i++) agent.push('bound', '/vol/many.sock');
  expect(await eventually(() => fs.lstatSync(file).ino !== again && (fs.lstatSync(file).mode & 0o777) === 0o700)).toBe(
    true,
  );
  await new Promise((r) => setTimeout(r, 200));
  expect(created).toHaveBeenCalledTimes(2);
  expect(openFds()).toBeLessThanOrEqual(baseline + 5);
});

test('an error on a host listener, or on a host connection on its way, ends that one and not the daemon', async () => {
  const created = jest.spyOn(nodeNet, 'createServer');
  const file = path.join(share, 'vol', 'err.sock');
  bareSocketFile(file, 0o755);
  const guestIno = fs.lstatSync(file).ino;
  agent.push('bound', '/vol/err.sock');
  expect(await eventually(() => fs.lstatSync(file).ino !== guestIno)).toBe(true);
  const server = created.mock.results[0].value as net.Server;
  const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' });
  expect(() => server.emit('error', emfile)).not.toThrow();
  expect(await eventually(() => !server.listening)).toBe(true);

  const dialled = jest.spyOn(nodeNet, 'createConnection');
  let served = 0;
  await serve(path.join(share, 'vol', 'svc.sock'), (c) => (served++, c.on('error', () => undefined)));
  let open!: () => void;
  agent.gate = new Promise<void>((r) => (open = r));
  agent.push('connect', '/vol/svc.sock');
  expect(await eventually(() => served === 1)).toBe(true);
  const host = dialled.mock.results[0].value as net.Socket;
  const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
  expect(() => host.emit('error', reset)).not.toThrow();
  open();
  await agent.until(() => agent.answers.length === 1);
});

test("a guest connect is made as its caller's uid and gid: the service sees them, and a socket they may not open is refused EACCES", async () => {
  const svc = await startPeercredServer(path.join(share, 'vol', 'peer.sock'), 0o777);
  const closed = await startPeercredServer(path.join(share, 'vol', 'root-only.sock'), 0o700);
  try {
    const user = { uid: 1000, gid: 1000, groups: [1000] };
    agent.push('connect', '/vol/peer.sock', TAG, user);
    agent.push('connect', '/vol/peer.sock', TAG, { uid: 0, gid: 0, groups: [] });
    await agent.until(() => agent.answers.length === 2);
    const seen = await Promise.all(agent.answers.map((a) => firstLine(a.conn.toGuest)));
    expect(seen.sort()).toEqual(['uid=0 gid=0', 'uid=1000 gid=1000']);
    // Relayed both ways through the helper, half-close included.
    const helped = agent.answers[seen.indexOf('uid=1000 gid=1000')].conn;
    const echoed = collect(helped.toGuest);
    helped.fromGuest.end('ping');
    expect(await echoed).toBe('ping');
    const refused = agent.push('connect', '/vol/root-only.sock', TAG, user);
    await agent.until(() => agent.refusals.length === 1);
    expect(agent.refusals).toEqual([{ token: refused, errno: os.constants.errno.EACCES }]);
  } finally {
    await svc.stop();
    await closed.stop();
  }
});

/** The first line a stream gives (without its newline); the rest is left for later readers. */
function firstLine(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const on = (b: Buffer): void => {
      got += b.toString();
      const nl = got.indexOf('\n');
      if (nl < 0) return;
      stream.off('data', on);
      stream.pause();
      resolve(got.slice(0, nl));
    };
    stream.on('data', on);
  });
}

/** Everything a stream gives until its end. */
function collect(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    stream.on('data', (b: Buffer) => (got += b.toString()));
    stream.on('end', () => resolve(got));
    stream.resume();
  });
}
