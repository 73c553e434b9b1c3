/**
 * The daemon's half of a socket bind (src/pod/network/socket-relay.ts) against a scripted agent: each
 * accepted guest connection is piped to a new connection to the host socket the bind names,
 * both ways; a host socket that is gone ends the guest's connection (a signal to its pid-less
 * process); and a hostile agent that answers every accept at once gets at most
 * MAX_CONNECTIONS_PER_BIND host connections open, not one per answer. After a daemon restart
 * the relay resumes on the guest's listener without listening again, and only the earlier
 * daemon's connections of the container are ended.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import {
  bindHostSocket,
  endStaleConnections,
  MAX_CONNECTIONS_PER_BIND,
  resumeHostSocket,
} from '../../../src/pod/network/socket-relay';
import type { Agent, AgentProcess, ExitStatus, PeerCredentials } from '../../../src/vm/types';
import { startPeercredServer } from '../../helpers/peercred-server';
import type { PodBindMount } from '../../../src/pod/mounts/mount-types';

/** A bind mount of `source`, pinned as a create pins it (the test's directory has no symlink). */
const bindOf = (source: string): PodBindMount => ({
  type: 'bind',
  source,
  resolvedSource: source,
  target: '/s',
  readOnly: false,
  createSource: true,
});

interface FakeConn {
  proc: AgentProcess;
  fromGuest: PassThrough;
  toGuest: PassThrough;
  exit: (s: ExitStatus) => void;
}

let dir: string;
let server: net.Server | undefined;

beforeEach(() => {
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'pv-socket-relay-')));
});

afterEach(async () => {
  for (const a of agents) for (const c of a.conns) c.exit({ exitCode: 0 } as ExitStatus);
  agents = [];
  if (server) await new Promise((r) => server!.close(r));
  server = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A scripted agent, the connections it handed out, the signals it got and its accept count. */
interface ScriptedAgent {
  agent: Agent;
  conns: FakeConn[];
  signals: string[];
  accepts: () => number;
}

let agents: ScriptedAgent[] = [];

/** An agent that answers the first `answers` accepts at once (the rest wait for ever), connected as `peer`. */
function scriptedAgent(answers: number, peer?: PeerCredentials): ScriptedAgent {
  const conns: FakeConn[] = [];
  const signals: string[] = [];
  let accepts = 0;
  const agent = {
    listenSocket: async () => undefined,
    acceptSocket: async (req: { processId: string; containerId: string }) => {
      accepts++;
      if (accepts > answers) await new Promise(() => undefined);
      const fromGuest = new PassThrough();
      const toGuest = new PassThrough();
      let exit!: (s: ExitStatus) => void;
      const exited = new Promise<ExitStatus>((r) => (exit = r));
      const proc: AgentProcess = {
        processId: req.processId,
        containerId: req.containerId,
        pid: 0,
        stdout: fromGuest,
        stderr: new PassThrough(),
        stdin: toGuest,
        exited,
        ...(peer ? { peer } : {}),
      };
      conns.push({ proc, fromGuest, toGuest, exit });
      return proc;
    },
    signalProcess: async (processId: string) => {
      signals.push(processId);
      const c = conns.find((x) => x.proc.processId === processId);
      c?.fromGuest.end();
      c?.exit({ exitCode: 0 } as ExitStatus);
    },
  };
  const s: ScriptedAgent = { agent: agent as unknown as Agent, conns, signals, accepts: () => accepts };
  agents.push(s);
  return s;
}

const until = async (cond: () => boolean): Promise<void> => {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
};

test('a guest connection is piped to a new connection to the bound host socket, both ways', async () => {
  const sock = path.join(dir, 'svc.sock');
  const got: Buffer[] = [];
  server = net.createServer((c) => {
    c.on('data', (b) => got.push(b));
    c.write('from host');
  });
  await new Promise<void>((r) => server!.listen(sock, r));
  const s = scriptedAgent(1);
  await bindHostSocket(s.agent, { containerId: 'c1', mount: bindOf(sock), target: '/s', mode: 0o600, listener: 0 });
  await until(() => s.conns.length >= 1);
  const c = s.conns[0];
  const back: Buffer[] = [];
  c.toGuest.on('data', (b: Buffer) => back.push(b));
  c.fromGuest.write('from guest');
  await until(() => Buffer.concat(got).toString() === 'from guest' && Buffer.concat(back).toString() === 'from host');
  expect([Buffer.concat(got).toString(), Buffer.concat(back).toString()]).toEqual(['from guest', 'from host']);
  c.exit({ exitCode: 0 } as ExitStatus);
});

test('a host socket that is gone ends the guest connection at once', async () => {
  const s = scriptedAgent(1);
  await bindHostSocket(s.agent, {
    containerId: 'c1',
    mount: bindOf(path.join(dir, 'missing.sock')),
    target: '/s',
    mode: 0o600,
    listener: 0,
  });
  await until(() => s.signals.length >= 1);
  expect(s.signals[0]).toBe(s.conns[0].proc.processId);
  expect(s.conns[0].toGuest.writableEnded).toBe(true);
});

test('an agent answering every accept at once gets at most MAX_CONNECTIONS_PER_BIND host connections', async () => {
  const sock = path.join(dir, 'svc.sock');
  let open = 0;
  server = net.createServer((c) => {
    open++;
    c.on('close', () => open--);
  });
  await new Promise<void>((r) => server!.listen(sock, r));
  const s = scriptedAgent(MAX_CONNECTIONS_PER_BIND + 1);
  await bindHostSocket(s.agent, { containerId: 'c1', mount: bindOf(sock), target: '/s', mode: 0o600, listener: 0 });
  await until(() => open === MAX_CONNECTIONS_PER_BIND);
  // Nothing more is accepted while they are open (the loop waits for a slot)...
  expect(s.accepts()).toBe(MAX_CONNECTIONS_PER_BIND);
  // ...and one more once one ends.
  s.conns[0].exit({ exitCode: 0 } as ExitStatus);
  await until(() => s.accepts() === MAX_CONNECTIONS_PER_BIND + 1);
  await until(() => open === MAX_CONNECTIONS_PER_BIND);
});

test('after a restart: the relay resumes without a new listen; only the earlier daemon’s connections of the container end', async () => {
  const sock = path.join(dir, 'svc.sock');
  server = net.createServer((c) => c.pipe(c));
  await new Promise<void>((r) => server!.listen(sock, r));
  const s = scriptedAgent(1);
  let listens = 0;
  Object.assign(s.agent, { listenSocket: async () => void listens++ });
  resumeHostSocket(s.agent, { containerId: 'c1', mount: bindOf(sock), target: '/s', mode: 0o600, listener: 0 });
  await until(() => s.conns.length >= 1);
  expect(listens).toBe(0);
  const own = s.conns[0].proc;
  const listed = (processId: string, containerId: string): AgentProcess => ({
    processId,
    containerId,
    pid: 0,
    stdout: new PassThrough(),
    stderr: new PassThrough(),
    stdin: new PassThrough(),
    exited: new Promise<ExitStatus>(() => undefined),
  });
  endStaleConnections(
    s.agent,
    [own, listed('sock-0a0b0c0d-0-c1', 'c1'), listed('sock-0a0b0c0d-1-c2', 'c2'), listed('init-c1', 'c1')],
    'c1',
  );
  await until(() => s.signals.length >= 1);
  expect(s.signals).toEqual(['sock-0a0b0c0d-0-c1']);
});

test('a socket whose directory a container swapped for a symlink is not followed: the guest connection ends, the other socket is never reached', async () => {
  // The user bound D/run/app.sock; the container also has D bound and swaps D/run for a
  // symlink to a directory holding another service's socket (the daemon's own, in the attack).
  const other = path.join(dir, 'other');
  fs.mkdirSync(other);
  let reached = 0;
  server = net.createServer(() => reached++);
  await new Promise<void>((r) => server!.listen(path.join(other, 'app.sock'), r));
  fs.symlinkSync(other, path.join(dir, 'run'));
  const s = scriptedAgent(1);
  await bindHostSocket(s.agent, {
    containerId: 'c1',
    mount: bindOf(path.join(dir, 'run', 'app.sock')),
    target: '/s',
    mode: 0o600,
    listener: 0,
  });
  await until(() => s.signals.length >= 1);
  expect(s.conns[0].toGuest.writableEnded).toBe(true);
  await new Promise((r) => setTimeout(r, 50));
  expect(reached).toBe(0);
});

test('a service that makes its socket again at the same path is reached by the next connection', async () => {
  const sock = path.join(dir, 'svc.sock');
  const serve = async (reply: string): Promise<net.Server> => {
    const srv = net.createServer((c) => c.end(reply));
    await new Promise<void>((r, j) => srv.once('error', j).listen(sock, r));
    return srv;
  };
  const read = async (c: FakeConn): Promise<string> => {
    const got: Buffer[] = [];
    c.toGuest.on('data', (b: Buffer) => got.push(b));
    await until(() => c.toGuest.writableEnded);
    return Buffer.concat(got).toString();
  };
  const connect = async (): Promise<string> => {
    const s = scriptedAgent(1);
    await bindHostSocket(s.agent, { containerId: 'c1', mount: bindOf(sock), target: '/s', mode: 0o600, listener: 0 });
    await until(() => s.conns.length >= 1);
    const got = await read(s.conns[0]);
    s.conns[0].exit({ exitCode: 0 } as ExitStatus);
    return got;
  };
  const first = await serve('first');
  expect(await connect()).toBe('first');
  await new Promise((r) => first.close(r));
  fs.rmSync(sock, { force: true });
  server = await serve('second');
  expect(await connect()).toBe('second');
});

test("a guest connection reaches the host socket as its process's uid and gid; a socket they may not open ends it at once", async () => {
  const open = await startPeercredServer(path.join(dir, 'open.sock'), 0o777);
  const closed = await startPeercredServer(path.join(dir, 'closed.sock'), 0o700);
  try {
    const user = scriptedAgent(2, { uid: 1000, gid: 1000, groups: [] });
    await bindHostSocket(user.agent, {
      containerId: 'c1',
      mount: bindOf(open.path),
      target: '/s',
      mode: 0o777,
      listener: 0,
    });
    const root = scriptedAgent(1, { uid: 0, gid: 0, groups: [] });
    await bindHostSocket(root.agent, {
      containerId: 'c2',
      mount: bindOf(open.path),
      target: '/s',
      mode: 0o777,
      listener: 0,
    });
    await until(() => user.conns.length === 2 && root.conns.length === 1);
    const first = (c: FakeConn) =>
      new Promise<string>((resolve) => c.toGuest.once('data', (b: Buffer) => resolve(b.toString())));
    expect(await first(user.conns[0])).toBe('uid=1000 gid=1000\n');
    expect(await first(root.conns[0])).toBe('uid=0 gid=0\n');
    const refused = scriptedAgent(1, { uid: 1000, gid: 1000, groups: [] });
    await bindHostSocket(refused.agent, {
      containerId: 'c3',
      mount: bindOf(closed.path),
      target: '/s',
      mode: 0o700,
      listener: 0,
    });
    await until(() => refused.signals.length === 1);
    expect(refused.conns[0].toGuest.writableEnded).toBe(true);
  } finally {
    await open.stop();
    await closed.stop();
  }
});
