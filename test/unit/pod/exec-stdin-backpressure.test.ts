/**
 * A client's input to an exec or attach goes to the guest no faster than the guest takes it.
 * The agent's stdin credit says how much it accepts, but the guest is
 * root and untrusted: one that grants a huge credit and then stops reading its stream channel
 * must not make the daemon read the client's whole input into memory. The daemon stops
 * reading the client's socket once a bounded amount waits for the guest, and reads on when
 * the guest drains it.
 *
 * The pieces are the daemon's own: the AgentClient against a stand-in guest (FakeAgent), and
 * ProcessIo with an AttachSession whose stdin is the daemon's end of a unix socket a client
 * writes to, as an exec's hijacked connection is.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentClient } from '../../../src/vm/agent/client';
import { encodeFrame } from '../../../src/vm/agent/codec';
import { FrameType, Op, Stream, Tag } from '../../../src/vm/agent/protocol';
import { TlvReader, TlvWriter } from '../../../src/vm/agent/tlv';
import { AttachSession, ProcessIo } from '../../../src/pod/io/io';
import { setLogSink } from '../../../src/util/log';
import { FakeAgent } from '../../helpers/fake-agent';

/** What the client sends: far more than any bound the daemon may keep. */
const CLIENT_INPUT = 64 * 1024 * 1024;
/** The most of it the daemon may have taken off the client's socket while the guest reads nothing. */
const MOST_TAKEN = 4 * 1024 * 1024;

let dir: string;
let fake: FakeAgent;
let client: AgentClient | undefined;
const sockets: net.Socket[] = [];
let server: net.Server | undefined;

beforeAll(() => setLogSink(() => undefined));
beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-stdin-bp-'));
  fake = new FakeAgent(path.join(dir, 'ctl'), path.join(dir, 'io'));
  await fake.listen();
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  server?.close();
  client?.close();
  client = undefined;
  await fake.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/** A connected unix socket pair: [the client's end, the daemon's end]. */
async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const p = path.join(dir, 'client.sock');
  const accepted = new Promise<net.Socket>((resolve) => {
    server = net.createServer((s) => resolve(s));
  });
  await new Promise<void>((r) => server!.listen(p, r));
  const c = net.connect(p);
  const d = await accepted;
  sockets.push(c, d);
  return [c, d];
}

/** Wait, event loop turn by turn, until `cond` holds. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

test('a guest that grants a huge stdin credit and never reads stalls the client, not the daemon memory', async () => {
  let handle = 0;
  let guestGot = 0;
  fake.onCtl = (f, a) => {
    if (f.type !== Op.START_PROCESS) return;
    handle = TlvReader.parse(f.payload).needU32(Tag.HANDLE);
    // The guest grants 2^50 bytes of stdin credit, then says "ready" on stdout: the same
    // channel, so the host has taken the credit once it reads "ready".
    a.io.write(encodeFrame(FrameType.CREDIT, Stream.STDIN, handle, u64(2 ** 50)));
    a.io.write(encodeFrame(FrameType.DATA, Stream.STDOUT, handle, Buffer.from('ready\n')));
    a.ack(f.id, new TlvWriter().u32(Tag.PID, 77));
  };
  fake.onIo = (f) => {
    if (f.type === FrameType.DATA && f.aux === Stream.STDIN) guestGot += f.payload.length;
  };
  client = await AgentClient.connect({ ctlPath: fake.ctlPath, ioPath: fake.ioPath, timeoutMs: 2000 });
  const proc = await client.startProcess({
    containerId: 'c1',
    processId: 'exec1',
    args: ['cat'],
    env: [],
    cwd: '/',
    user: { uid: 0, gid: 0, additionalGids: [] },
    terminal: false,
    stdin: true,
  });

  const [clientEnd, daemonEnd] = await socketPair();
  let output = '';
  const io = new ProcessIo(proc, { stdinOnce: true, tty: false, endSessions: false });
  io.add(
    new AttachSession({
      stdin: daemonEnd,
      stdout: true,
      stderr: true,
      detachKeys: Buffer.alloc(0),
      sink: {
        write: (_s, d) => ((output += d.toString()), true),
        drain: () => Promise.resolve(),
        end: () => undefined,
      },
    }),
  );
  await until(() => output.includes('ready'));
  // From now on the guest reads nothing of its stream channel.
  fake.io.pause();

  let clientWrote = false;
  clientEnd.write(Buffer.alloc(CLIENT_INPUT, 0x61), () => (clientWrote = true));
  // The daemon either takes it all (the client's write completes) or stops reading the client.
  await until(() => clientWrote || daemonEnd.isPaused());

  expect(clientWrote).toBe(false);
  expect(daemonEnd.bytesRead).toBeLessThan(MOST_TAKEN);

  // The guest reads again: the rest flows, and all of it reaches the guest.
  fake.io.resume();
  await until(() => guestGot === CLIENT_INPUT);
  expect(clientWrote).toBe(true);
  expect(daemonEnd.bytesRead).toBe(CLIENT_INPUT);
});
