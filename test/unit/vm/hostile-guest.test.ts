/**
 * A hostile guest against the host's AgentClient (the guest is untrusted): seeded garbage on
 * either channel, a flood of exit events, output that never ends. Each must end in a clean
 * failure (UnavailableError, the channel closed: the VM is treated as failed) or be absorbed
 * within the credit window, never an exception escaping to the process, never unbounded
 * buffering. Crafted layer tars are covered by test/privileged/storage/extract.test.ts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UnavailableError } from '../../../src/errors';
import { AgentClient } from '../../../src/vm/agent/client';
import { encodeFrame } from '../../../src/vm/agent/codec';
import { FrameType, Limits, Op, Stream, Tag } from '../../../src/vm/agent/protocol';
import { TlvReader, TlvWriter } from '../../../src/vm/agent/tlv';
import { setLogSink } from '../../../src/util/log';
import { FakeAgent } from '../../helpers/fake-agent';
import { Rng } from '../../helpers/rng';

let dir: string;
let fake: FakeAgent;
let client: AgentClient | undefined;
const escaped: unknown[] = [];
const onUncaught = (e: unknown) => escaped.push(e);

beforeAll(() => {
  setLogSink(() => undefined);
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
});
afterAll(() => {
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
});

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-hostile-guest-'));
  fake = new FakeAgent(path.join(dir, 'ctl'), path.join(dir, 'io'));
  await fake.listen();
});

afterEach(async () => {
  client?.close();
  client = undefined;
  await fake.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const connect = () => AgentClient.connect({ ctlPath: fake.ctlPath, ioPath: fake.ioPath, timeoutMs: 2000 });

async function startProcess(c: AgentClient) {
  let handle = 0;
  fake.onCtl = (f, a) => {
    if (f.type === Op.START_PROCESS) {
      handle = TlvReader.parse(f.payload).needU32(Tag.HANDLE);
      a.ack(f.id, new TlvWriter().u32(Tag.PID, 9));
    }
  };
  const p = await c.startProcess({
    containerId: 'c1',
    processId: 'p1',
    args: ['sh'],
    env: [],
    cwd: '/',
    user: { uid: 0, gid: 0, additionalGids: [] },
    terminal: false,
    stdin: false,
  });
  return { p, handle };
}

/** A frame-shaped or plain garbage chunk from the seed. */
function garbage(rng: Rng, id: number): Buffer {
  switch (rng.int(4)) {
    case 0:
      return rng.bytes(1 + rng.int(4096));
    case 1: {
      // A plausible header with a random type and a huge or random length.
      const h = Buffer.alloc(Limits.HEADER_SIZE);
      h.writeUInt32LE(rng.chance(0.5) ? 0xffffffff - rng.int(1000) : rng.int(70000), 0);
      h.writeUInt16LE(rng.int(40), 4);
      h.writeUInt16LE(rng.int(4), 6);
      h.writeUInt32LE(rng.chance(0.5) ? id : rng.int(2 ** 31), 8);
      return Buffer.concat([h, rng.bytes(rng.int(64))]);
    }
    case 2:
      // A well-formed frame of a random type with a garbage TLV payload.
      return encodeFrame(rng.int(40), 0, rng.chance(0.7) ? id : rng.int(1000), rng.bytes(rng.int(200)));
    default:
      // Replies to a request that was never sent.
      return encodeFrame(rng.pick([FrameType.ACK, FrameType.ERROR]), 0, id + 1 + rng.int(1000));
  }
}

describe('a hostile guest', () => {
  const SEEDS = Array.from({ length: 30 }, (_, i) => 1000 + i);

  it.each(SEEDS)('seed %i: garbage on a channel fails the client cleanly', async (seed) => {
    const rng = new Rng(seed);
    client = await connect();
    const onIo = rng.chance(0.4);
    fake.onCtl = (f, a) => {
      const sock = onIo ? a.io : a.ctl;
      for (let k = 1 + rng.int(5); k > 0; k--) sock.write(garbage(rng, f.id));
    };
    const err = await client.ping().then(
      () => undefined,
      (e: unknown) => e,
    );
    const closed = client.closed;
    const next = await client.ping().then(
      () => undefined,
      (e: unknown) => e,
    );
    const kind = (e: unknown) => (e === undefined ? 'ok' : e instanceof UnavailableError ? 'unavailable' : String(e));
    // Garbage that happened to be valid (or went unnoticed on the stream channel): the client
    // either still works or fails cleanly on the next request. Else the client failed cleanly,
    // closed, and refuses the next request.
    expect([
      { first: 'ok', next: 'ok' },
      { first: 'ok', next: 'unavailable' },
      { first: 'unavailable', closed: true, next: 'unavailable' },
    ]).toContainEqual(
      err === undefined ? { first: 'ok', next: kind(next) } : { first: kind(err), closed, next: kind(next) },
    );
    await new Promise((r) => setImmediate(r));
    expect(escaped).toEqual([]);
  });

  it('a flood of exit events for one process: one exit, then the channel is failed', async () => {
    client = await connect();
    const { p, handle } = await startProcess(client);
    const exit = encodeFrame(
      FrameType.EXIT,
      0,
      0,
      new TlvWriter().u32(Tag.HANDLE, handle).str(Tag.PROCESS_ID, 'p1').u32(Tag.EXIT_CODE, 3).toBuffer(),
    );
    fake.ctl.write(Buffer.concat(Array.from({ length: 10000 }, () => exit)));
    fake.io.write(encodeFrame(FrameType.EOF, Stream.STDOUT, handle));
    fake.io.write(encodeFrame(FrameType.EOF, Stream.STDERR, handle));
    const outcome = await p.exited.then(
      (s) => s,
      (e: unknown) => e,
    );
    // Either the first exit was taken (then the duplicates fail the channel), or the flood
    // arrived first and the process failed with the channel: never an uncaught throw.
    expect([{ failed: 'UnavailableError' }, { exited: { exitCode: 3 } }]).toContainEqual(
      outcome instanceof Error
        ? { failed: outcome instanceof UnavailableError ? 'UnavailableError' : String(outcome) }
        : { exited: outcome },
    );
    await expect(client.ping()).rejects.toBeInstanceOf(UnavailableError);
    expect(client.closed).toBe(true);
    expect(escaped).toEqual([]);
  });

  it('output that never ends: with nobody reading, the host holds at most one credit window', async () => {
    client = await connect();
    const { p, handle } = await startProcess(client);
    // A guest that sends as fast as it can, for as long as it has credit, and then some.
    const chunk = Buffer.alloc(Limits.MAX_IO_PAYLOAD, 0x61);
    let sent = 0;
    const window = 256 * 1024;
    while (sent < window) {
      fake.io.write(encodeFrame(FrameType.DATA, Stream.STDOUT, handle, chunk));
      sent += chunk.length;
    }
    await new Promise((r) => setTimeout(r, 100));
    // No consumer: what the host buffers is bounded by what it granted.
    expect(p.stdout.readableLength).toBeLessThanOrEqual(window);
    // Past the credit, the guest is cut off.
    fake.io.write(encodeFrame(FrameType.DATA, Stream.STDOUT, handle, chunk));
    await expect(p.exited).rejects.toBeInstanceOf(UnavailableError);
    expect(client.closed).toBe(true);
    expect(escaped).toEqual([]);
  });
});
