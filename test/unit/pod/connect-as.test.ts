/**
 * Connecting to a host unix socket as a container process (src/pod/network/connect-as.ts,
 * host/connect-as): the service's SO_PEERCRED shows the ids asked for, a socket those ids may
 * not open is refused with EACCES (as the process's own connect would be), the daemon's own
 * ids connect without the helper, and what a service says before closing at once still comes
 * through the helper, half-close both ways.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Duplex } from 'node:stream';
import { O_PATH } from '../../../src/util/beneath';
import { connectAsBinary, connectHostSocket, needsHelper } from '../../../src/pod/network/connect-as';
import { startPeercredServer, type PeercredServer } from '../../helpers/peercred-server';
import { bareSocketFile } from '../../helpers/scripted-socket-agent';

const bin = connectAsBinary();
let dir: string;
const servers: PeercredServer[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-connect-as-'));
});

afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Connect to `sock` as `peer` through an O_PATH handle, as the relays do. */
async function connectAs(sock: string, peer?: { uid: number; gid: number; groups: number[] }): Promise<Duplex> {
  const fh = await fs.promises.open(sock, O_PATH | fs.constants.O_NOFOLLOW);
  try {
    return await connectHostSocket(fh, peer);
  } finally {
    await fh.close();
  }
}

/** Everything `s` gives until its end, after writing `line` and ending its write side. */
function exchange(s: Duplex, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    s.on('data', (b: Buffer) => (got += b.toString()));
    s.on('end', () => resolve(got));
    s.on('error', reject);
    s.end(line);
  });
}

test('the helper is built, and needed for any ids but the daemon’s', () => {
  expect(bin).toBeDefined();
  expect(needsHelper(undefined)).toBe(false);
  expect(needsHelper({ uid: process.getuid!(), gid: process.getgid!(), groups: [] })).toBe(false);
  expect(needsHelper({ uid: 1000, gid: 0, groups: [] })).toBe(true);
  expect(needsHelper({ uid: 0, gid: 1000, groups: [] })).toBe(process.getgid!() !== 1000);
});

test('the service sees the ids asked for; with a supplementary group a group socket opens, without it EACCES', async () => {
  servers.push(await startPeercredServer(path.join(dir, 'open.sock'), 0o777));
  const group = await startPeercredServer(path.join(dir, 'group.sock'), 0o770);
  servers.push(group);
  fs.chownSync(group.path, 0, 2000);
  expect(await exchange(await connectAs(path.join(dir, 'open.sock'), { uid: 1000, gid: 100, groups: [] }), 'hi')).toBe(
    'uid=1000 gid=100\nhi',
  );
  expect(await exchange(await connectAs(path.join(dir, 'open.sock')), 'hi')).toBe('uid=0 gid=0\nhi');
  expect(await exchange(await connectAs(group.path, { uid: 1000, gid: 100, groups: [2000] }), 'x')).toBe(
    'uid=1000 gid=100\nx',
  );
  await expect(connectAs(group.path, { uid: 1000, gid: 100, groups: [] })).rejects.toMatchObject({ code: 'EACCES' });
});

test('a socket file nothing listens on is ECONNREFUSED; a missing helper refuses rather than connect as root', async () => {
  const svc = await startPeercredServer(path.join(dir, 'gone.sock'), 0o777);
  servers.push(svc);
  const fh = await fs.promises.open(svc.path, O_PATH);
  try {
    await expect(
      connectHostSocket(fh, { uid: 1000, gid: 1000, groups: [] }, '/nonexistent/connect-as'),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  } finally {
    await fh.close();
  }
  // A socket file whose server is gone (bound, never removed), open to all: refused, not EACCES.
  const dead = path.join(dir, 'dead.sock');
  bareSocketFile(dead, 0o777);
  await expect(connectAs(dead, { uid: 1000, gid: 1000, groups: [] })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
});

test('what a service writes before closing at once comes through the helper, and 1 MiB goes both ways', async () => {
  const sock = path.join(dir, 'bye.sock');
  const s = net.createServer({ allowHalfOpen: true }, (c) => {
    let n = 0;
    c.on('data', (b: Buffer) => (n += b.length));
    c.on('end', () => c.end(`got ${n}\n`));
  });
  await new Promise<void>((r) => s.listen(sock, r));
  fs.chmodSync(sock, 0o777);
  try {
    const conn = await connectAs(sock, { uid: 1000, gid: 1000, groups: [] });
    expect(await exchange(conn, 'x'.repeat(1 << 20))).toBe(`got ${1 << 20}\n`);
  } finally {
    await new Promise((r) => s.close(r));
  }
});
