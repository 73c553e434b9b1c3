/**
 * Who a host client is, read from its connection to a listener of the daemon's
 * (src/pod/network/peer-of.ts, `podvisor-connect-as --peer`): the uid, gid and groups the
 * kernel recorded at the client's connect, as the guest's server would read them under runc;
 * the staying helper (`--peers`) answers about the descriptor it is named, with its inode, and
 * about nothing that is not a socket; the helper's lines are parsed strictly, and without the
 * helper no answer is made up.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { PeerCredentials } from '../../../src/vm/types';
import { O_PATH } from '../../../src/util/beneath';
import { connectHostSocket } from '../../../src/pod/network/connect-as';
import { connectAsBinary } from '../../../src/pod/network/connect-as';
import { closePeersHelper, parsePeerLine, parsePeersAnswer, peerOf } from '../../../src/pod/network/peer-of';

let dir: string;
let server: net.Server;
let sock: string;
/** What peerOf said of each connection, in order (or its error's message). */
let seen: Promise<PeerCredentials | string>[];
/** What the listener does with each connection (by default: asks peerOf, records, ends it). */
let onConnection: (s: net.Socket) => void;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-peer-of-'));
  fs.chmodSync(dir, 0o755);
  sock = path.join(dir, 'l.sock');
  seen = [];
  onConnection = (s) => {
    seen.push(
      peerOf(s)
        .then(
          (p) => p,
          (e: Error) => e.message,
        )
        .finally(() => s.destroy()),
    );
  };
  server = net.createServer({ pauseOnConnect: true }, (s) => onConnection(s));
  await new Promise<void>((r) => server.listen(sock, r));
  fs.chmodSync(sock, 0o777);
});

afterEach(async () => {
  await new Promise((r) => server.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
});

afterAll(() => closePeersHelper());

/** The next connection's answer, once it comes. */
async function nextSeen(n: number): Promise<PeerCredentials | string> {
  for (let i = 0; i < 500 && seen.length <= n; i++) await new Promise((r) => setTimeout(r, 10));
  expect(seen.length).toBeGreaterThan(n);
  return seen[n]!;
}

/** Connect as `peer` through host/connect-as (its own setgroups, setgid, setuid), as the relay does. */
async function connectAs(peer: PeerCredentials): Promise<void> {
  const fh = await fs.promises.open(sock, O_PATH);
  try {
    const c = await connectHostSocket(fh, peer);
    c.on('error', () => undefined);
    c.resume();
    c.end();
  } finally {
    await fh.close();
  }
}

test('the ids of a client that connected as 1000:100 with groups 2000 and 3000, and of the daemon itself', async () => {
  await connectAs({ uid: 1000, gid: 100, groups: [2000, 3000] });
  expect(await nextSeen(0)).toEqual({ uid: 1000, gid: 100, groups: [2000, 3000] });
  const direct = net.createConnection(sock);
  direct.on('error', () => undefined);
  // The supplementary groups as the kernel has them (Node's getgroups adds the egid).
  const groups = /^Groups:\t?(.*)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]!.trim();
  expect(await nextSeen(1)).toEqual({
    uid: process.getuid!(),
    gid: process.getgid!(),
    groups: groups ? groups.split(' ').map(Number) : [],
  });
  direct.destroy();
});

test('a client with more than 64 groups is carried with none (never a partial list)', async () => {
  const groups = Array.from({ length: 70 }, (_, i) => 5000 + i);
  const py = spawn('python3', [
    '-c',
    `import os, socket, sys; os.setgroups(${JSON.stringify(groups)}); os.setgid(100); os.setuid(1000); ` +
      `s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.recv(1)`,
    sock,
  ]);
  const code = new Promise((r) => py.once('exit', r));
  expect(await nextSeen(0)).toEqual({ uid: 1000, gid: 100, groups: [] });
  expect(await code).toBe(0);
});

test("the helper's line is taken only as UID GID[ GROUP...]: nothing else, no id 2^32-1, at most 64 groups", () => {
  expect(parsePeerLine('0 0\n')).toEqual({ uid: 0, gid: 0, groups: [] });
  expect(parsePeerLine('1000 100 27 4294967294\n')).toEqual({ uid: 1000, gid: 100, groups: [27, 4294967294] });
  expect(parsePeerLine(`1 1 ${Array(64).fill(7).join(' ')}\n`)?.groups).toHaveLength(64);
  for (const bad of [
    '',
    '0\n',
    '0 0',
    '0 0\n\n',
    ' 0 0\n',
    '0  0\n',
    '-1 0\n',
    '0 0x10\n',
    '4294967295 0\n',
    '0 0 4294967295\n',
    '99999999999 0\n',
    `1 1 ${Array(65).fill(7).join(' ')}\n`,
  ])
    expect(parsePeerLine(bad)).toBeUndefined();
});

test('without the helper, or with one that fails, no ids are made up', async () => {
  const accepted = new Promise<net.Socket>((resolve) => (onConnection = resolve));
  const c = net.createConnection(sock);
  c.on('error', () => undefined);
  const s = await accepted;
  await expect(peerOf(s, '')).rejects.toThrow(/missing/);
  await expect(peerOf(s, '/nonexistent/podvisor-connect-as')).rejects.toThrow(/ENOENT/);
  await expect(peerOf(s, '/bin/false')).rejects.toThrow(/cannot tell who connected/);
  // A helper that writes something else than the line: refused too.
  await expect(peerOf(s, '/bin/true')).rejects.toThrow(/cannot tell who connected/);
  c.destroy();
  s.destroy();
});

test("the staying helper answers about the daemon's descriptor it is named: its inode and ids (as the helper of one connection does); not a socket, a closed fd or garbage is an error", async () => {
  const accepted = new Promise<net.Socket>((resolve) => (onConnection = resolve));
  const c = net.createConnection(sock);
  c.on('error', () => undefined);
  const s = await accepted;
  const fd = (s as unknown as { _handle: { fd: number } })._handle.fd;
  const file = fs.openSync(path.join(dir, 'plain'), 'w');
  // A descriptor number that is not open: not one just closed, which the spawn's own pipes
  // (socket pairs) may take again before the helper reads it.
  const closed = 65001;
  expect(() => fs.fstatSync(closed)).toThrow(/EBADF/);
  const helper = spawn(connectAsBinary()!, ['--peers'], { stdio: ['pipe', 'pipe', 'ignore'] });
  let out = '';
  helper.stdout.on('data', (b: Buffer) => (out += b.toString()));
  helper.stdin.end(`${fd}\n${file}\n${closed}\nabc\n`);
  await new Promise((r) => helper.once('close', r));
  const lines = out.split('\n');
  expect(parsePeersAnswer(`${lines[0]}\n`)).toEqual({
    ino: fs.fstatSync(fd, { bigint: true }).ino,
    peer: { uid: 0, gid: 0, groups: expect.any(Array) },
  });
  expect(lines.slice(1)).toEqual(['err 88', 'err 9', 'err 9', '']);
  // The helper of one connection (where the staying one cannot take a copy): the same ids.
  const one = spawn(connectAsBinary()!, ['--peer'], { stdio: ['ignore', 'pipe', 'pipe', s] });
  let line = '';
  one.stdout!.on('data', (b: Buffer) => (line += b.toString()));
  await new Promise((r) => one.once('close', r));
  expect(parsePeerLine(line)).toEqual(parsePeersAnswer(`${lines[0]}\n`)?.peer);
  fs.closeSync(file);
  c.destroy();
  s.destroy();
});

test('an answer of the staying helper is taken only as ok INODE UID GID[ GROUP...]', () => {
  expect(parsePeersAnswer('ok 123 1000 100 27\n')).toEqual({ ino: 123n, peer: { uid: 1000, gid: 100, groups: [27] } });
  for (const bad of ['ok 123 1000\n', 'ok 1000 100\n', 'err 9\n', 'ok x 0 0\n', 'ok 1 0 0', 'ok 1 0 4294967295\n'])
    expect(parsePeersAnswer(bad)).toBeUndefined();
});
