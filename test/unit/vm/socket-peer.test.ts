/**
 * Who connected in the guest, as the agent reports it with a connection (SOCKET_ACCEPT's ACK)
 * and with a share socket's CONNECT event (SOCKET_EVENT): UID GID GROUP... decoded into
 * PeerCredentials, which the host connects as. What a guest sends is checked: ids out of range,
 * half a pair, too many groups, or credentials on an event that is no connect end the session
 * (a protocol error), never a connection made as something else; an answer without them (an
 * older agent) has none.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InvalidArgumentError, UnavailableError } from '../../../src/errors';
import { AgentClient } from '../../../src/vm/agent/client';
import { decodePeer, decodeSocketEvent, encodeSocketDial } from '../../../src/vm/agent/socket-ops';
import { Limits, Op, SocketEvent, Tag } from '../../../src/vm/agent/protocol';
import { TlvReader, TlvWriter } from '../../../src/vm/agent/tlv';
import { FakeAgent } from '../../helpers/fake-agent';

/** A reader of what `fill` writes. */
function answer(fill: (w: TlvWriter) => TlvWriter): TlvReader {
  return TlvReader.parse(fill(new TlvWriter()).toBuffer());
}

function withGroups(w: TlvWriter, groups: number[]): TlvWriter {
  for (const g of groups) w.u32(Tag.GROUP, g);
  return w;
}

test('UID GID GROUP... decode to the peer, groups in order; none at all is no peer', () => {
  expect(decodePeer(answer((w) => withGroups(w.u32(Tag.UID, 1000).u32(Tag.GID, 1000), [27, 1000])))).toEqual({
    uid: 1000,
    gid: 1000,
    groups: [27, 1000],
  });
  expect(decodePeer(answer((w) => w.u32(Tag.UID, 0).u32(Tag.GID, 0)))).toEqual({ uid: 0, gid: 0, groups: [] });
  expect(decodePeer(answer((w) => w.u32(Tag.PID, 0)))).toBeUndefined();
});

test('a garbled peer is a protocol error: half a pair, 2^32-1, a group out of range, more than 64 groups', () => {
  const bad = [
    (w: TlvWriter) => w.u32(Tag.UID, 1000),
    (w: TlvWriter) => w.u32(Tag.GID, 1000),
    (w: TlvWriter) => w.u32(Tag.GROUP, 5),
    (w: TlvWriter) => w.u32(Tag.UID, 0xffffffff).u32(Tag.GID, 0),
    (w: TlvWriter) => w.u32(Tag.UID, 0).u32(Tag.GID, 0xffffffff),
    (w: TlvWriter) => withGroups(w.u32(Tag.UID, 1).u32(Tag.GID, 1), [0xffffffff]),
    (w: TlvWriter) =>
      withGroups(
        w.u32(Tag.UID, 1).u32(Tag.GID, 1),
        Array.from({ length: Limits.MAX_GROUPS + 1 }, (_, i) => i),
      ),
  ];
  for (const fill of bad) expect(() => decodePeer(answer(fill))).toThrow(UnavailableError);
  expect(
    decodePeer(answer((w) => withGroups(w.u32(Tag.UID, 0xfffffffe).u32(Tag.GID, 0xfffffffe), Array(64).fill(7))))
      ?.groups.length,
  ).toBe(64);
});

test("a CONNECT event carries its caller; a BOUND event with credentials is a protocol error; an old agent's has none", () => {
  const event = (kind: number, peer: boolean) =>
    answer((w) => {
      w.u32(Tag.SOCKET_EVENT, kind).u32(Tag.SOCKET_TOKEN, 9).str(Tag.SOURCE, 'vol').str(Tag.PATH, '/s.sock');
      return peer ? withGroups(w.u32(Tag.UID, 1000).u32(Tag.GID, 100), [100]) : w;
    });
  expect(decodeSocketEvent(event(SocketEvent.CONNECT, true))).toEqual({
    kind: 'connect',
    token: 9,
    tag: 'vol',
    path: '/s.sock',
    peer: { uid: 1000, gid: 100, groups: [100] },
  });
  expect(decodeSocketEvent(event(SocketEvent.CONNECT, false)).peer).toBeUndefined();
  expect(() => decodeSocketEvent(event(SocketEvent.BOUND, true))).toThrow(UnavailableError);
});

describe('SOCKET_ACCEPT', () => {
  let dir: string;
  let fake: FakeAgent;
  let client: AgentClient | undefined;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-socket-peer-'));
    fake = new FakeAgent(path.join(dir, 'ctl'), path.join(dir, 'io'));
    fake.lastOp = Op.SOCKET_ACCEPT;
    await fake.listen();
    client = await AgentClient.connect({ ctlPath: fake.ctlPath, ioPath: fake.ioPath, timeoutMs: 2000 });
  });

  afterEach(async () => {
    client?.close();
    await fake.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function answerWith(fill: (w: TlvWriter) => TlvWriter): void {
    fake.onCtl = (f, a) => {
      if (f.type === Op.SOCKET_ACCEPT) a.ack(f.id, fill(new TlvWriter().u32(Tag.PID, 0)));
    };
  }

  test("the connection's peer is who connected in the guest", async () => {
    answerWith((w) => withGroups(w.u32(Tag.UID, 1000).u32(Tag.GID, 1000), [1000]));
    const conn = await client!.acceptSocket({ containerId: 'c1', listener: 1, processId: 'sock-1' });
    expect(conn.peer).toEqual({ uid: 1000, gid: 1000, groups: [1000] });
  });

  test('a peer out of range ends the session: no connection is handed on', async () => {
    answerWith((w) => w.u32(Tag.UID, 0xffffffff).u32(Tag.GID, 0));
    await expect(client!.acceptSocket({ containerId: 'c1', listener: 1, processId: 'sock-2' })).rejects.toBeInstanceOf(
      UnavailableError,
    );
    expect(client!.closed).toBe(true);
  });
});

test('SOCKET_DIAL carries the host client as UID GID GROUP...; ids out of range or too many groups are refused before they go', () => {
  const dial = { containerId: 'c1', processId: 'ssock-1', tag: 'vol', path: '/s.sock' };
  const r = TlvReader.parse(
    encodeSocketDial({ ...dial, peer: { uid: 1000, gid: 100, groups: [2000, 3000] } }, 65536).toBuffer(),
  );
  expect(decodePeer(r)).toEqual({ uid: 1000, gid: 100, groups: [2000, 3000] });
  expect(decodePeer(TlvReader.parse(encodeSocketDial(dial, 65536).toBuffer()))).toBeUndefined();
  for (const peer of [
    { uid: -1, gid: 0, groups: [] },
    { uid: 0xffffffff, gid: 0, groups: [] },
    { uid: 0, gid: 1.5, groups: [] },
    { uid: 0, gid: 0, groups: [0xffffffff] },
    { uid: 0, gid: 0, groups: Array<number>(Limits.MAX_GROUPS + 1).fill(1) },
  ])
    expect(() => encodeSocketDial({ ...dial, peer }, 65536)).toThrow(InvalidArgumentError);
});
