/**
 * AgentClient's SOCKET_LISTEN and SOCKET_ACCEPT (a host socket bound into a container) against
 * a scripted stand-in guest: what is sent, the connection as a process under the host's handle,
 * and what a hostile guest can do with it (data beyond credit, frames for a handle it was not
 * given, an answer to a listener that was never asked): each ends in UnavailableError, and
 * the guest never names anything the host connects to (the answer carries no path).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InvalidArgumentError, NotFoundError, NotImplementedError, UnavailableError } from '../../../src/errors';
import { AgentClient } from '../../../src/vm/agent/client';
import { encodeFrame } from '../../../src/vm/agent/codec';
import { ErrorCode, FrameType, Limits, Op, Stream, Tag } from '../../../src/vm/agent/protocol';
import { TlvReader, TlvWriter } from '../../../src/vm/agent/tlv';
import { FakeAgent } from '../../helpers/fake-agent';

let dir: string;
let fake: FakeAgent;
let client: AgentClient | undefined;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-socket-accept-'));
  fake = new FakeAgent(path.join(dir, 'ctl'), path.join(dir, 'io'));
  fake.lastOp = Op.SOCKET_ACCEPT;
  await fake.listen();
});

afterEach(async () => {
  client?.close();
  client = undefined;
  await fake.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const connect = () => AgentClient.connect({ ctlPath: fake.ctlPath, ioPath: fake.ioPath, timeoutMs: 2000 });

/** Accept one connection that the fake answers at once; returns it and the handle the host chose. */
async function acceptOne(c: AgentClient) {
  let handle = 0;
  fake.onCtl = (f, a) => {
    if (f.type !== Op.SOCKET_ACCEPT) return;
    const r = TlvReader.parse(f.payload);
    handle = r.needU32(Tag.HANDLE);
    expect(r.u32(Tag.LISTENER)).toBe(3);
    a.ack(f.id, new TlvWriter().u32(Tag.PID, 0));
  };
  const conn = await c.acceptSocket({ containerId: 'c1', listener: 3, processId: 'sock-1' });
  return { conn, handle };
}

test('SOCKET_LISTEN carries the container, path, mode and listener; bad ones are refused before sending', async () => {
  client = await connect();
  let got: TlvReader | undefined;
  fake.onCtl = (f, a) => {
    if (f.type !== Op.SOCKET_LISTEN) return;
    got = TlvReader.parse(f.payload);
    a.ack(f.id);
  };
  await client.listenSocket({ containerId: 'c1', path: '/var/run/docker.sock', mode: 0o660, listener: 3 });
  expect(got!.str(Tag.CONTAINER_ID)).toBe('c1');
  expect(got!.str(Tag.PATH)).toBe('/var/run/docker.sock');
  expect(got!.u32(Tag.MODE)).toBe(0o660);
  expect(got!.u32(Tag.LISTENER)).toBe(3);
  await expect(
    client.listenSocket({ containerId: 'c1', path: 'rel', mode: 0o600, listener: 1 }),
  ).rejects.toBeInstanceOf(InvalidArgumentError);
  await expect(
    client.listenSocket({ containerId: 'c1', path: '/s', mode: 0o4777, listener: 1 }),
  ).rejects.toBeInstanceOf(InvalidArgumentError);
  // Without an owner the socket is root's (no UID, GID); with one, both go.
  expect(got!.has(Tag.UID)).toBe(false);
  await client.listenSocket({
    containerId: 'c1',
    path: '/s',
    mode: 0o770,
    listener: 4,
    owner: { uid: 1000, gid: 2000 },
  });
  expect([got!.u32(Tag.UID), got!.u32(Tag.GID)]).toEqual([1000, 2000]);
  await expect(
    client.listenSocket({ containerId: 'c1', path: '/s', mode: 0o700, listener: 5, owner: { uid: -1, gid: 0 } }),
  ).rejects.toBeInstanceOf(InvalidArgumentError);
});

test('a connection is a process under the host-chosen handle: the peer bytes on stdout, stdin to the peer, EXIT ends it', async () => {
  client = await connect();
  const { conn, handle } = await acceptOne(client);
  expect(conn.pid).toBe(0);
  const out: Buffer[] = [];
  conn.stdout.on('data', (b: Buffer) => out.push(b));
  fake.io.write(encodeFrame(FrameType.DATA, Stream.STDOUT, handle, Buffer.from('GET /_ping')));
  fake.io.write(encodeFrame(FrameType.EOF, Stream.STDOUT, handle));
  fake.io.write(encodeFrame(FrameType.EOF, Stream.STDERR, handle));
  const sent = new Promise<void>((resolve) => {
    fake.onIo = (f) => {
      if (f.type === FrameType.EOF && f.aux === Stream.STDIN && f.id === handle) resolve();
    };
  });
  conn.stdin!.end('OK');
  await sent;
  expect(Buffer.concat(fake.ioFrames.filter((f) => f.type === FrameType.DATA).map((f) => f.payload)).toString()).toBe(
    'OK',
  );
  fake.ctl.write(
    encodeFrame(
      FrameType.EXIT,
      0,
      0,
      new TlvWriter().u32(Tag.HANDLE, handle).str(Tag.PROCESS_ID, 'sock-1').u32(Tag.EXIT_CODE, 0).toBuffer(),
    ),
  );
  expect(await conn.exited).toMatchObject({ exitCode: 0 });
  expect(Buffer.concat(out).toString()).toBe('GET /_ping');
});

test("a hostile guest: a connection's data beyond its credit closes the client", async () => {
  client = await connect();
  const { conn, handle } = await acceptOne(client);
  for (let off = 0; off < 256 * 1024; off += Limits.MAX_IO_PAYLOAD)
    fake.io.write(encodeFrame(FrameType.DATA, Stream.STDOUT, handle, Buffer.alloc(Limits.MAX_IO_PAYLOAD)));
  fake.io.write(encodeFrame(FrameType.DATA, Stream.STDOUT, handle, Buffer.alloc(1)));
  await expect(conn.exited).rejects.toThrow(/beyond its credit/);
  expect(client.closed).toBe(true);
});

test('a hostile guest: stream frames for a handle no accept was answered with close the client', async () => {
  client = await connect();
  let handle = 0;
  fake.onCtl = (f) => {
    if (f.type === Op.SOCKET_ACCEPT) handle = TlvReader.parse(f.payload).needU32(Tag.HANDLE);
  };
  const pending = client.acceptSocket({ containerId: 'c1', listener: 3, processId: 'sock-2' });
  pending.catch(() => undefined);
  while (handle === 0) await new Promise((r) => setImmediate(r));
  fake.io.write(encodeFrame(FrameType.DATA, Stream.STDOUT, handle + 1000, Buffer.from('x')));
  await expect(pending).rejects.toBeInstanceOf(UnavailableError);
  expect(client.closed).toBe(true);
});

test("an accept pending when the container is destroyed rejects NotFoundError; an old agent's is NotImplementedError", async () => {
  client = await connect();
  fake.onCtl = (f, a) => {
    if (f.type === Op.SOCKET_ACCEPT) a.error(f.id, ErrorCode.NOT_FOUND, 'the container is gone');
  };
  await expect(client.acceptSocket({ containerId: 'c1', listener: 3, processId: 'sock-3' })).rejects.toBeInstanceOf(
    NotFoundError,
  );
  client.close();
  fake.lastOp = Op.ARCHIVE;
  await fake.close();
  fake = new FakeAgent(path.join(dir, 'ctl2'), path.join(dir, 'io2'));
  fake.lastOp = Op.ARCHIVE;
  await fake.listen();
  client = await connect();
  await expect(client.listenSocket({ containerId: 'c1', path: '/s', mode: 0o600, listener: 0 })).rejects.toBeInstanceOf(
    NotImplementedError,
  );
});
