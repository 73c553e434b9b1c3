/**
 * AgentClient against a scripted stand-in for the guest on two unix sockets: the handshake,
 * the mapping of ERROR frames to error classes, process streams and exit, and, above all,
 * what a broken or hostile guest can send (oversized lengths, unknown frame types, truncated
 * TLV, bad UTF-8, frames for unknown processes or requests, data beyond credit, a channel
 * that dies mid-stream): each must end in UnavailableError, never a crash or a hang.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConflictError, InvalidArgumentError, NotFoundError, UnavailableError } from '../../../src/errors';
import { AgentClient } from '../../../src/vm/agent/client';
import { encodeFrame, Frame } from '../../../src/vm/agent/codec';
import { ErrorCode, FrameType, Limits, Op, PROTOCOL_VERSION, Stream, Tag } from '../../../src/vm/agent/protocol';
import { TlvReader, TlvWriter } from '../../../src/vm/agent/tlv';
import { setLogSink } from '../../../src/util/log';
import { FakeAgent } from '../../helpers/fake-agent';

let dir: string;
let fake: FakeAgent;
let client: AgentClient | undefined;
const logs: string[] = [];

beforeAll(() => setLogSink((l) => logs.push(l)));

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-agent-client-'));
  fake = new FakeAgent(path.join(dir, 'ctl'), path.join(dir, 'io'));
  await fake.listen();
});

afterEach(async () => {
  client?.close();
  client = undefined;
  await fake.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const connect = (timeoutMs = 2000) => AgentClient.connect({ ctlPath: fake.ctlPath, ioPath: fake.ioPath, timeoutMs });

/** A raw header with any length and type. */
function header(len: number, type: number, aux = 0, id = 0): Buffer {
  const h = Buffer.alloc(Limits.HEADER_SIZE);
  h.writeUInt32LE(len, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(aux, 6);
  h.writeUInt32LE(id, 8);
  return h;
}

/** Start a process that the fake acknowledges with pid 77; returns it and its handle. */
async function startFakeProcess(c: AgentClient, over: { terminal?: boolean; stdin?: boolean } = {}) {
  let handle = 0;
  fake.onCtl = (f, a) => {
    if (f.type === Op.START_PROCESS) {
      handle = TlvReader.parse(f.payload).needU32(Tag.HANDLE);
      a.ack(f.id, new TlvWriter().u32(Tag.PID, 77));
    }
  };
  const p = await c.startProcess({
    containerId: 'c1',
    processId: 'p1',
    args: ['sh'],
    env: [],
    cwd: '/',
    user: { uid: 0, gid: 0, additionalGids: [] },
    terminal: over.terminal ?? false,
    stdin: over.stdin ?? false,
  });
  return { p, handle };
}

/** The LIST_PROCESSES record of process "old" (handle 9, pid 42, no TTY) in container c1, 1000 bytes of stdout and 7 of stderr sent. */
function listedProcess(o: { stdin: boolean; stdinReceived: number; stdinLimit: number }): TlvWriter {
  return new TlvWriter()
    .u32(Tag.HANDLE, 9)
    .str(Tag.PROCESS_ID, 'old')
    .str(Tag.CONTAINER_ID, 'c1')
    .u32(Tag.PID, 42)
    .u32(Tag.TERMINAL, 0)
    .u32(Tag.STDIN, o.stdin ? 1 : 0)
    .u32(Tag.EXITED, 0)
    .u64(Tag.STDIN_RECEIVED, o.stdinReceived)
    .u64(Tag.STDIN_LIMIT, o.stdinLimit)
    .u64(Tag.STDOUT_SENT, 1000)
    .u64(Tag.STDERR_SENT, 7);
}

describe('AgentClient handshake', () => {
  it('connects through stale bytes before the SYNC_REPLY and reports the version', async () => {
    fake.garbageBeforeSync = Buffer.concat([Buffer.from('stale tail of an old frame'), header(5, FrameType.DATA)]);
    client = await connect();
    expect(await client.version()).toEqual({
      protocol: PROTOCOL_VERSION,
      agent: 'fake agent',
      lastOp: Op.PROCESS_TABLE,
    });
  });

  it('syncs both channels with one nonce, and sends a SYNC again while it is unanswered', async () => {
    fake.syncsToIgnore = 1;
    client = await connect(10_000);
    expect((await client.version()).protocol).toBe(PROTOCOL_VERSION);
    const { ctl, io } = fake.syncNonces;
    expect(ctl).toHaveLength(2);
    expect(new Set([...ctl, ...io].map((n) => n.toString('hex'))).size).toBe(1);
  });

  it("skips an answer repeated to its SYNC, but not another nonce's SYNC_REPLY", async () => {
    fake.answerSyncTwice = true;
    fake.onCtl = (f, a) => a.ack(f.id);
    client = await connect();
    await client.ping();
    fake.onCtl = (_f, a) => a.ctl.write(encodeFrame(FrameType.SYNC_REPLY, 0, 0, Buffer.alloc(Limits.NONCE_SIZE, 7)));
    await expect(client.ping()).rejects.toThrow(/unexpected control frame 2/);
  });

  it('refuses an agent that speaks another protocol version', async () => {
    fake.protocol = PROTOCOL_VERSION + 1;
    await expect(connect()).rejects.toThrow(
      `protocol ${PROTOCOL_VERSION + 1}, this podvisor needs ${PROTOCOL_VERSION}`,
    );
  });

  it('rejects with UnavailableError when the agent never answers', async () => {
    fake.silent = true;
    const t = Date.now();
    await expect(connect(300)).rejects.toBeInstanceOf(UnavailableError);
    expect(Date.now() - t).toBeLessThan(3000);
  });

  it('rejects with UnavailableError when the sockets do not exist', async () => {
    await expect(
      AgentClient.connect({ ctlPath: path.join(dir, 'none'), ioPath: path.join(dir, 'none2'), timeoutMs: 200 }),
    ).rejects.toBeInstanceOf(UnavailableError);
  });
});

describe('AgentClient requests', () => {
  it('maps ERROR codes to the error classes, with the agent message', async () => {
    client = await connect();
    const codes = [
      ErrorCode.NOT_FOUND,
      ErrorCode.CONFLICT,
      ErrorCode.INVALID,
      ErrorCode.PERMISSION,
      ErrorCode.UNAVAILABLE,
    ];
    let i = 0;
    fake.onCtl = (f, a) => a.error(f.id, codes[i++], `failure ${i}`);
    await expect(client.ping()).rejects.toEqual(new NotFoundError('failure 1'));
    await expect(client.ping()).rejects.toBeInstanceOf(ConflictError);
    await expect(client.ping()).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.ping()).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.ping()).rejects.toThrow(/agent: failure 5/);
    expect(client.closed).toBe(false);
  });

  it('validates input before sending anything', async () => {
    client = await connect();
    const base = {
      containerId: 'c',
      processId: 'p',
      args: ['x'],
      env: [],
      cwd: '/',
      user: { uid: 0, gid: 0, additionalGids: [] },
      terminal: false,
      stdin: false,
    };
    await expect(client.startProcess({ ...base, containerId: '../x' })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.startProcess({ ...base, args: [] })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.startProcess({ ...base, args: ['a\0b'] })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.startProcess({ ...base, cwd: 'relative' })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.signalProcess('p', 0)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.readFile('c', 'etc/hosts', 10)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.writeFile('c', '/x', Buffer.alloc(Limits.MAX_FILE_SIZE + 1), 0o644)).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
  });

  it('refuses a READ_FILE answer larger than asked', async () => {
    client = await connect();
    fake.onCtl = (f, a) => a.ack(f.id, new TlvWriter().bytes(Tag.DATA, Buffer.alloc(100)));
    await expect(client.readFile('c', '/etc/hosts', 10)).rejects.toThrow(/answered 100 bytes/);
    expect(client.closed).toBe(true);
  });
});

describe('AgentClient against malformed frames from the guest', () => {
  const cases: [string, (f: Frame, a: FakeAgent) => void, RegExp][] = [
    [
      'an oversized control frame',
      (_f, a) => a.ctl.write(header(Limits.MAX_CTL_PAYLOAD + 1, FrameType.ACK)),
      /exceeds the limit/,
    ],
    ['an unknown frame type', (f, a) => a.ctl.write(encodeFrame(99, 0, f.id)), /unexpected frame type 99/],
    ['a request opcode from the guest', (f, a) => a.ctl.write(encodeFrame(Op.PING, 0, f.id)), /unexpected frame type/],
    [
      'a truncated TLV field',
      (f, a) => a.ctl.write(encodeFrame(FrameType.ACK, 0, f.id, Buffer.from([1, 0, 0]))),
      /truncated TLV/,
    ],
    [
      'a TLV field running past its frame',
      (f, a) => a.ctl.write(encodeFrame(FrameType.ACK, 0, f.id, header(0, 0).subarray(0, 8).fill(0).fill(0xff, 4))),
      /runs past the end/,
    ],
    [
      'bad UTF-8 in an error message',
      (f, a) =>
        a.ctl.write(
          encodeFrame(
            FrameType.ERROR,
            0,
            f.id,
            new TlvWriter()
              .u32(Tag.CODE, 1)
              .bytes(Tag.MESSAGE, Buffer.from([0xc3, 0x28]))
              .toBuffer(),
          ),
        ),
      /not valid UTF-8/,
    ],
    [
      'an answer to an unknown request',
      (f, a) => a.ctl.write(encodeFrame(FrameType.ACK, 0, f.id + 1000)),
      /unknown request/,
    ],
    [
      'an exit event for an unknown process',
      (_f, a) =>
        a.ctl.write(
          encodeFrame(FrameType.EXIT, 0, 0, new TlvWriter().u32(Tag.HANDLE, 5).u32(Tag.EXIT_CODE, 0).toBuffer()),
        ),
      /unknown process handle 5/,
    ],
    [
      'stream data for an unknown process',
      (_f, a) => a.io.write(encodeFrame(FrameType.DATA, Stream.STDOUT, 42, Buffer.from('x'))),
      /unknown process handle 42/,
    ],
    [
      'an oversized stream frame',
      (_f, a) => a.io.write(header(Limits.MAX_IO_PAYLOAD + 1, FrameType.DATA, 1, 1)),
      /exceeds the limit/,
    ],
    [
      'a control frame on the stream channel',
      (_f, a) => a.io.write(encodeFrame(FrameType.ACK, 0, 1)),
      /unexpected frame type/,
    ],
  ];

  it.each(cases)('rejects %s with UnavailableError and closes', async (_name, misbehave, re) => {
    client = await connect();
    fake.onCtl = misbehave;
    const err = await client.ping().catch((e: Error) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toMatch(re);
    expect(client.closed).toBe(true);
    await expect(client.ping()).rejects.toBeInstanceOf(UnavailableError);
  });

  it('rejects output beyond the granted credit', async () => {
    client = await connect();
    const { p, handle } = await startFakeProcess(client);
    const window = 256 * 1024;
    for (let off = 0; off < window; off += Limits.MAX_IO_PAYLOAD) {
      fake.io.write(encodeFrame(FrameType.DATA, Stream.STDOUT, handle, Buffer.alloc(Limits.MAX_IO_PAYLOAD)));
    }
    fake.io.write(encodeFrame(FrameType.DATA, Stream.STDOUT, handle, Buffer.alloc(1)));
    await expect(p.exited).rejects.toThrow(/beyond its credit/);
    expect(client.closed).toBe(true);
  });
});

describe('AgentClient processes', () => {
  it('delivers output and resolves exited after the exit event and both EOFs', async () => {
    client = await connect();
    const { p, handle } = await startFakeProcess(client);
    expect(p.pid).toBe(77);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (c: Buffer) => out.push(c));
    p.stderr!.on('data', (c: Buffer) => err.push(c));
    fake.ctl.write(
      encodeFrame(
        FrameType.EXIT,
        0,
        0,
        new TlvWriter()
          .u32(Tag.HANDLE, handle)
          .str(Tag.PROCESS_ID, 'p1')
          .u32(Tag.EXIT_CODE, 137)
          .u32(Tag.SIGNAL, 9)
          .toBuffer(),
      ),
    );
    fake.io.write(encodeFrame(FrameType.DATA, Stream.STDOUT, handle, Buffer.from('hello')));
    fake.io.write(encodeFrame(FrameType.DATA, Stream.STDERR, handle, Buffer.from('oops')));
    fake.io.write(encodeFrame(FrameType.EOF, Stream.STDOUT, handle));
    fake.io.write(encodeFrame(FrameType.EOF, Stream.STDERR, handle));
    expect(await p.exited).toEqual({ exitCode: 137, signal: 9 });
    expect(Buffer.concat(out).toString()).toBe('hello');
    expect(Buffer.concat(err).toString()).toBe('oops');
  });

  it('sends stdin as DATA frames, then EOF', async () => {
    client = await connect();
    const { p, handle } = await startFakeProcess(client, { stdin: true });
    p.stdin!.end('input bytes');
    await new Promise((r) => setTimeout(r, 50));
    const mine = fake.ioFrames.filter((f) => f.id === handle && f.aux === Stream.STDIN);
    expect(mine.map((f) => f.type)).toEqual([FrameType.DATA, FrameType.EOF]);
    expect(mine[0].payload.toString()).toBe('input bytes');
  });

  it('fails every pending request, exited and stream when a channel closes mid-stream', async () => {
    client = await connect();
    const { p, handle } = await startFakeProcess(client, { stdin: true });
    fake.io.write(encodeFrame(FrameType.DATA, Stream.STDOUT, handle, Buffer.from('partial output')));
    const streamErr = new Promise<Error>((resolve) => p.stdout.on('error', resolve));
    p.stdout.resume();
    fake.onCtl = () => undefined; // never answers
    const pending = client.ping();
    await new Promise((r) => setTimeout(r, 20));
    fake.io.destroy();
    await expect(pending).rejects.toThrow(/agent channel closed/);
    await expect(p.exited).rejects.toBeInstanceOf(UnavailableError);
    expect(await streamErr).toBeInstanceOf(UnavailableError);
    const writeErr = await new Promise<Error | null | undefined>((resolve) => p.stdin!.write('more', resolve));
    expect(writeErr?.message).toMatch(/destroyed|closed/);
  });

  it('reattach with a resume point asks RESUME_OUTPUT first and takes no answer before what was stored', async () => {
    const listed = () => listedProcess({ stdin: false, stdinReceived: 0, stdinLimit: 0 });
    let stdoutFrom = 600;
    const asked: Array<[number, number]> = [];
    const serve = () => {
      fake.onCtl = (f, a) => {
        if (f.type === Op.LIST_PROCESSES) a.ack(f.id, new TlvWriter().nested(Tag.PROCESS, listed()));
        if (f.type !== Op.RESUME_OUTPUT) return;
        const r = TlvReader.parse(f.payload);
        asked.push([r.needU64(Tag.STDOUT_DURABLE), r.needU64(Tag.STDERR_DURABLE)]);
        a.ack(f.id, new TlvWriter().u64(Tag.STDOUT_FROM, stdoutFrom).u64(Tag.STDERR_FROM, 5));
      };
    };
    client = await connect();
    serve();
    const lost: string[] = [];
    const resume = { stdout: 500, stderr: 5, lost: (s: string, n: number) => lost.push(`${s}:${n}`) };
    const [p] = await client.reattach((info) => (info.processId === 'old' ? resume : undefined));
    expect(asked).toEqual([[500, 5]]);
    expect(lost).toEqual(['stdout:100']);
    expect(p.outputStart).toEqual({ stdout: 600, stderr: 5 });
    await new Promise((r) => setTimeout(r, 50));
    const credits = fake.ioFrames.filter((f) => f.type === FrameType.CREDIT && f.id === 9);
    expect(credits.map((f) => [f.aux, Number(f.payload.readBigUInt64LE(0))])).toEqual([
      [Stream.STDOUT, 600 + 256 * 1024],
      [Stream.STDERR, 5 + 256 * 1024],
    ]);
    // A guest answering before the stored offset would make the host store bytes twice.
    client.close();
    client = await connect();
    serve();
    stdoutFrom = 499;
    await expect(client.reattach(() => resume)).rejects.toThrow(/before the 500 bytes asked/);
    expect(client.closed).toBe(true);
  });

  it('reattach lists processes with their offsets and attaches them by granting credit', async () => {
    client = await connect();
    fake.onCtl = (f, a) => {
      if (f.type !== Op.LIST_PROCESSES) return;
      const rec = listedProcess({ stdin: true, stdinReceived: 10, stdinLimit: 20 });
      a.ack(f.id, new TlvWriter().nested(Tag.PROCESS, rec));
    };
    const [p] = await client.reattach();
    expect(p).toMatchObject({ processId: 'old', containerId: 'c1', pid: 42 });
    await new Promise((r) => setTimeout(r, 50));
    const credits = fake.ioFrames.filter((f) => f.type === FrameType.CREDIT && f.id === 9);
    expect(credits.map((f) => [f.aux, Number(f.payload.readBigUInt64LE(0))])).toEqual([
      [Stream.STDOUT, 1000 + 256 * 1024],
      [Stream.STDERR, 7 + 256 * 1024],
    ]);
    // Stdin continues within the agent's limit: 10 bytes of credit left.
    p.stdin!.write(Buffer.alloc(15));
    await new Promise((r) => setTimeout(r, 50));
    const stdin = fake.ioFrames.filter((f) => f.type === FrameType.DATA && f.id === 9);
    expect(stdin.reduce((n, f) => n + f.payload.length, 0)).toBe(10);
  });
});

/** A u64 as the agent's CREDIT payload carries it (little-endian). */
function u64le(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

describe('AgentClient stdin credit after a reattach', () => {
  it('drops a stdin credit for a reattached process listed with its stdin ended, and stays open', async () => {
    client = await connect();
    fake.onCtl = (f, a) => {
      if (f.type !== Op.LIST_PROCESSES) return;
      a.ack(
        f.id,
        new TlvWriter().nested(Tag.PROCESS, listedProcess({ stdin: false, stdinReceived: 10, stdinLimit: 20 })),
      );
    };
    const [p] = await client.reattach();
    expect(p.stdin).toBeNull();
    // What an agent sends as the stdin data an earlier daemon left pending drains.
    fake.io.write(encodeFrame(FrameType.CREDIT, Stream.STDIN, 9, u64le(10 + 64 * 1024)));
    fake.io.write(encodeFrame(FrameType.DATA, Stream.STDOUT, 9, Buffer.from('still here')));
    const got = await new Promise<string>((r) => p.stdout.once('data', (b: Buffer) => r(b.toString())));
    expect(got).toBe('still here');
    expect(client.closed).toBe(false);
  });

  it('still closes on a stdin credit for a process started without stdin', async () => {
    client = await connect();
    const { handle } = await startFakeProcess(client, { stdin: false });
    fake.io.write(encodeFrame(FrameType.CREDIT, Stream.STDIN, handle, u64le(1000)));
    await new Promise((r) => setTimeout(r, 50));
    expect(client.closed).toBe(true);
  });
});

describe('AgentClient seccomp (SET_SECCOMP)', () => {
  /** Every field of a TLV payload, in order. */
  function fields(b: Buffer): Array<[number, Buffer]> {
    const out: Array<[number, Buffer]> = [];
    for (let pos = 0; pos < b.length; ) {
      const len = b.readUInt32LE(pos + 4);
      out.push([b.readUInt16LE(pos), b.subarray(pos + 8, pos + 8 + len)]);
      pos += 8 + len;
    }
    return out;
  }
  const spec = (containerId: string) => ({
    containerId,
    processId: `p-${containerId}`,
    args: ['true'],
    env: [],
    cwd: '/',
    user: { uid: 0, gid: 0, additionalGids: [] },
    terminal: false,
    stdin: false,
  });
  const filter = {
    defaultAction: 'allow' as const,
    architectures: ['x86_64', 'x86'],
    rules: [
      {
        names: ['unshare'],
        action: 'errno' as const,
        errno: 1,
        args: [{ index: 0, op: 'MASKED_EQ' as const, value: 0x10000000, value2: 0x10000000 }],
        minKernel: '4.8',
      },
    ],
  };

  it('sends the filter as TLV, and no filter as the default action NONE', async () => {
    fake.lastOp = Op.SET_SECCOMP;
    const seen: Buffer[] = [];
    fake.onCtl = (f, a) => {
      if (f.type === Op.SET_SECCOMP) {
        seen.push(f.payload);
        a.ack(f.id, new TlvWriter());
      }
    };
    client = await connect();
    expect(await client.setSeccomp('c1', filter)).toBe(true);
    expect(await client.setSeccomp('c1', null)).toBe(true);
    const [first, second] = seen.map(fields);
    const arg = Buffer.alloc(24);
    arg.writeUInt32LE(0, 0);
    arg.writeUInt32LE(7, 4); // PV_SECCOMP_CMP_MASKED_EQ
    arg.writeBigUInt64LE(0x10000000n, 8);
    arg.writeBigUInt64LE(0x10000000n, 16);
    expect(first.map(([t]) => t)).toEqual([
      Tag.CONTAINER_ID,
      Tag.SECCOMP_DEFAULT,
      Tag.SECCOMP_ARCH,
      Tag.SECCOMP_ARCH,
      Tag.SECCOMP_RULE,
    ]);
    expect(first[1][1].readUInt32LE(0)).toBe(1); // PV_SECCOMP_ACT_ALLOW
    expect(fields(first[4][1])).toEqual([
      [Tag.SECCOMP_SYSCALL, Buffer.from('unshare')],
      [Tag.SECCOMP_ACTION, Buffer.from([2, 0, 0, 0])], // PV_SECCOMP_ACT_ERRNO
      [Tag.SECCOMP_ERRNO, Buffer.from([1, 0, 0, 0])],
      [Tag.SECCOMP_ARG, arg],
      [Tag.SECCOMP_MIN_KERNEL, Buffer.from('4.8')],
    ]);
    expect(second).toEqual([
      [Tag.CONTAINER_ID, Buffer.from('c1')],
      [Tag.SECCOMP_DEFAULT, Buffer.from([0, 0, 0, 0])],
    ]);
  });

  it('an agent older than SET_SECCOMP: refused and nothing sent; the container then starts no process', async () => {
    const sent: number[] = [];
    fake.onCtl = (f) => sent.push(f.type);
    client = await connect();
    await expect(client.setSeccomp('c1', filter)).rejects.toThrow('the guest agent predates SET_SECCOMP');
    await expect(client.startProcess(spec('c1'))).rejects.toThrow(
      'container c1 has no seccomp filter: its profile was not applied',
    );
    // Only when asked "if supported" is such an agent left as it is.
    expect(await client.setSeccomp('c2', filter, { ifSupported: true })).toBe(false);
    expect(sent).toEqual([]);
  });
});
