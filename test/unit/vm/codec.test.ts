/**
 * The host's side of the agent wire format: frame encoding/decoding (partial frames, many
 * interleaved streams), TLV validation, SYNC scanning, credit ledgers and a process's
 * flow-controlled streams. Malformed input from the guest must be rejected with an
 * UnavailableError, never crash or buffer without bound.
 */
import * as crypto from 'node:crypto';
import { UnavailableError } from '../../../src/errors';
import { encodeFrame, FrameDecoder, SyncScanner } from '../../../src/vm/agent/codec';
import { InputCredit, OutputCredit } from '../../../src/vm/agent/flow';
import { ProcessChannel } from '../../../src/vm/agent/process';
import {
  FrameType,
  isCtlFrameFromAgent,
  isIoFrameFromAgent,
  Limits,
  Stream,
  Tag,
} from '../../../src/vm/agent/protocol';
import { TlvReader, TlvWriter } from '../../../src/vm/agent/tlv';

const ioDecoder = () =>
  new FrameDecoder({ channel: 'stream', maxPayload: Limits.MAX_IO_PAYLOAD, allowedType: isIoFrameFromAgent });
const ctlDecoder = () =>
  new FrameDecoder({ channel: 'control', maxPayload: Limits.MAX_CTL_PAYLOAD, allowedType: isCtlFrameFromAgent });

/** Split a buffer into chunks at random points (deterministic seed). */
function chop(buf: Buffer, seed: number, maxChunk: number): Buffer[] {
  let x = seed;
  const rnd = () => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x;
  };
  const out: Buffer[] = [];
  for (let off = 0; off < buf.length; ) {
    const n = 1 + (rnd() % maxChunk);
    out.push(buf.subarray(off, off + n));
    off += n;
  }
  return out;
}

describe('FrameDecoder', () => {
  it('decodes a frame fed one byte at a time', () => {
    const payload = Buffer.from('hello, guest');
    const wire = encodeFrame(FrameType.DATA, Stream.STDOUT, 42, payload);
    const d = ioDecoder();
    const frames = [];
    const counts: number[] = [];
    for (let i = 0; i < wire.length; i++) {
      const got = d.push(wire.subarray(i, i + 1));
      counts.push(got.length);
      frames.push(...got);
    }
    // Nothing until the last byte, then the frame.
    expect(counts).toEqual([...Array.from({ length: wire.length - 1 }, () => 0), 1]);
    expect(frames).toHaveLength(1);
    expect(frames[0]).toMatchObject({ type: FrameType.DATA, aux: Stream.STDOUT, id: 42 });
    expect(frames[0].payload.equals(payload)).toBe(true);
    expect(d.pendingBytes).toBe(0);
  });

  it('decodes several frames in one chunk, including empty ones', () => {
    const wire = Buffer.concat([
      encodeFrame(FrameType.DATA, Stream.STDOUT, 1, Buffer.from('a')),
      encodeFrame(FrameType.EOF, Stream.STDOUT, 1),
      encodeFrame(FrameType.DATA, Stream.STDERR, 2, Buffer.alloc(Limits.MAX_IO_PAYLOAD, 7)),
    ]);
    const frames = ioDecoder().push(wire);
    expect(frames.map((f) => [f.type, f.aux, f.id, f.payload.length])).toEqual([
      [FrameType.DATA, Stream.STDOUT, 1, 1],
      [FrameType.EOF, Stream.STDOUT, 1, 0],
      [FrameType.DATA, Stream.STDERR, 2, Limits.MAX_IO_PAYLOAD],
    ]);
  });

  it('reassembles many interleaved streams split at random points', () => {
    const expected = new Map<string, Buffer[]>();
    const frames: Buffer[] = [];
    for (let i = 0; i < 2000; i++) {
      const handle = 1 + (i % 37);
      const aux = i % 3 === 0 ? Stream.STDERR : Stream.STDOUT;
      const data = crypto.randomBytes(1 + ((i * 7919) % 3000));
      frames.push(encodeFrame(FrameType.DATA, aux, handle, data));
      const key = `${handle}/${aux}`;
      expected.set(key, [...(expected.get(key) ?? []), data]);
    }
    const wire = Buffer.concat(frames);
    for (const seed of [1, 2, 3]) {
      const d = ioDecoder();
      const got = new Map<string, Buffer[]>();
      for (const chunk of chop(wire, seed, 5000)) {
        for (const f of d.push(chunk)) {
          const key = `${f.id}/${f.aux}`;
          got.set(key, [...(got.get(key) ?? []), Buffer.from(f.payload)]);
        }
      }
      expect(got.size).toBe(expected.size);
      for (const [k, parts] of expected) expect(Buffer.concat(got.get(k)!).equals(Buffer.concat(parts))).toBe(true);
      expect(d.pendingBytes).toBe(0);
    }
  });

  it('rejects a length over the channel limit as soon as the header is in, without buffering it', () => {
    const d = ioDecoder();
    const h = Buffer.alloc(Limits.HEADER_SIZE);
    h.writeUInt32LE(Limits.MAX_IO_PAYLOAD + 1, 0);
    h.writeUInt16LE(FrameType.DATA, 4);
    expect(() => d.push(h)).toThrow(UnavailableError);
    expect(() => ioDecoder().push(h)).toThrow(/exceeds the limit/);
    const c = ctlDecoder();
    const huge = Buffer.alloc(Limits.HEADER_SIZE);
    huge.writeUInt32LE(0xffffffff, 0);
    huge.writeUInt16LE(FrameType.ACK, 4);
    expect(() => c.push(huge)).toThrow(UnavailableError);
  });

  it('rejects frame types the agent may not send on that channel', () => {
    expect(() => ioDecoder().push(encodeFrame(FrameType.ACK, 0, 1))).toThrow(/unexpected frame type/);
    expect(() => ctlDecoder().push(encodeFrame(FrameType.DATA, 1, 1, Buffer.from('x')))).toThrow(UnavailableError);
    expect(() => ctlDecoder().push(encodeFrame(999, 0, 1))).toThrow(/unexpected frame type 999/);
    // A request opcode coming back from the guest is not allowed either.
    expect(() => ctlDecoder().push(encodeFrame(16, 0, 1))).toThrow(UnavailableError);
  });

  it('holds only a partial frame while waiting for the rest', () => {
    const d = ioDecoder();
    const wire = encodeFrame(FrameType.DATA, Stream.STDOUT, 3, Buffer.alloc(1000, 1));
    d.push(wire.subarray(0, 500));
    expect(d.pendingBytes).toBeLessThanOrEqual(500);
    expect(d.push(wire.subarray(500))).toHaveLength(1);
  });
});

describe('TLV', () => {
  it('round-trips every value type', () => {
    const inner = new TlvWriter().u32(Tag.HANDLE, 9).str(Tag.PROCESS_ID, 'p1');
    const buf = new TlvWriter()
      .u32(Tag.PID, 1234)
      .u64(Tag.STDOUT_SENT, 2 ** 40 + 5)
      .str(Tag.MESSAGE, 'grüße')
      .strs(Tag.ARG, ['sh', '-c', 'echo hi'])
      .bytes(Tag.DATA, Buffer.from([0, 1, 2, 255]))
      .nested(Tag.PROCESS, inner)
      .nested(Tag.PROCESS, new TlvWriter().u32(Tag.HANDLE, 10))
      .toBuffer();
    const r = TlvReader.parse(buf);
    expect(r.u32(Tag.PID)).toBe(1234);
    expect(r.u64(Tag.STDOUT_SENT)).toBe(2 ** 40 + 5);
    expect(r.str(Tag.MESSAGE)).toBe('grüße');
    expect(r.bytes(Tag.DATA)).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(r.records(Tag.PROCESS).map((x) => x.u32(Tag.HANDLE))).toEqual([9, 10]);
    expect(r.records(Tag.PROCESS)[0].str(Tag.PROCESS_ID)).toBe('p1');
  });

  it('skips tags it does not know (a newer agent)', () => {
    const w = new TlvWriter().bytes(60000, Buffer.from('future')).u32(Tag.PID, 5);
    expect(TlvReader.parse(w.toBuffer()).u32(Tag.PID)).toBe(5);
  });

  it('rejects a truncated field header', () => {
    const buf = new TlvWriter().u32(Tag.PID, 5).toBuffer();
    expect(() => TlvReader.parse(Buffer.concat([buf, Buffer.from([1, 0, 0])]))).toThrow(/truncated TLV/);
  });

  it('rejects a field that runs past its frame', () => {
    const buf = new TlvWriter().str(Tag.MESSAGE, 'hello').toBuffer();
    expect(() => TlvReader.parse(buf.subarray(0, buf.length - 1))).toThrow(/runs past the end/);
  });

  it('rejects invalid UTF-8 and NUL in strings', () => {
    const bad = new TlvWriter().bytes(Tag.MESSAGE, Buffer.from([0x66, 0xc3, 0x28])).toBuffer();
    expect(() => TlvReader.parse(bad).str(Tag.MESSAGE)).toThrow(/not valid UTF-8/);
    const nul = new TlvWriter().bytes(Tag.MESSAGE, Buffer.from('a\0b')).toBuffer();
    expect(() => TlvReader.parse(nul).str(Tag.MESSAGE)).toThrow(UnavailableError);
  });

  it('rejects integers of the wrong size and repeated single-valued tags', () => {
    expect(() => TlvReader.parse(new TlvWriter().bytes(Tag.PID, Buffer.alloc(3)).toBuffer())).toThrow(/4 bytes/);
    expect(() => TlvReader.parse(new TlvWriter().bytes(Tag.STDOUT_SENT, Buffer.alloc(4)).toBuffer())).toThrow(
      /8 bytes/,
    );
    expect(() => TlvReader.parse(new TlvWriter().u32(Tag.PID, 1).u32(Tag.PID, 2).toBuffer())).toThrow(/repeated/);
  });

  it('rejects a u64 beyond what the host can represent exactly', () => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(2n ** 60n);
    expect(() => TlvReader.parse(new TlvWriter().bytes(Tag.STDOUT_SENT, b).toBuffer()).u64(Tag.STDOUT_SENT)).toThrow(
      /out of range/,
    );
  });

  it('refuses to send strings the agent cannot take', () => {
    expect(() => new TlvWriter().str(Tag.ARG, 'a\0b')).toThrow(/NUL/);
    expect(() => new TlvWriter().str(Tag.ARG, 'x'.repeat(Limits.MAX_STRING + 1))).toThrow(/longer than/);
    expect(() => new TlvWriter().u32(Tag.UID, -1)).toThrow(/out of range/);
  });
});

describe('SyncScanner', () => {
  it('finds the SYNC_REPLY after stale bytes, across chunk boundaries, and returns what follows', () => {
    const nonce = crypto.randomBytes(16);
    const after = encodeFrame(FrameType.ACK, 0, 1);
    const stale = Buffer.concat([
      crypto.randomBytes(5000),
      encodeFrame(FrameType.SYNC_REPLY, 0, 0, crypto.randomBytes(16)),
    ]);
    const wire = Buffer.concat([stale, encodeFrame(FrameType.SYNC_REPLY, 0, 0, nonce), after]);
    for (const seed of [1, 2, 3, 4]) {
      const s = new SyncScanner(nonce);
      const rest: Buffer[] = [];
      let found = false;
      for (const c of chop(wire, seed, 40)) {
        if (found) rest.push(c);
        else {
          const r = s.push(c);
          if (r !== undefined) {
            found = true;
            rest.push(r);
          }
        }
      }
      expect(found).toBe(true);
      expect(Buffer.concat(rest).equals(after)).toBe(true);
    }
  });
});

describe('credit ledgers', () => {
  it('OutputCredit refuses data beyond the limit', () => {
    const c = new OutputCredit(1000, 0, 1000);
    c.onData(1000);
    expect(() => c.onData(1)).toThrow(/beyond its credit/);
  });

  it('OutputCredit grants a new window only when a quarter of it was used', () => {
    const c = new OutputCredit(1000, 0, 1000);
    c.onData(100);
    expect(c.grant()).toBeUndefined();
    c.onData(200);
    expect(c.grant()).toBe(1300);
    expect(c.limit).toBe(1300);
  });

  it('OutputCredit after a reattach starts with no credit at the reported offset', () => {
    const c = new OutputCredit(1000, 5000);
    expect(() => c.onData(1)).toThrow();
    expect(c.grantAll()).toBe(6000);
  });

  it('InputCredit only grows', () => {
    const c = new InputCredit(0, 100);
    c.onSent(60);
    expect(c.available()).toBe(40);
    expect(c.onCredit(50)).toBe(false);
    expect(c.onCredit(200)).toBe(true);
    expect(c.available()).toBe(140);
  });
});

describe('ProcessChannel flow control', () => {
  interface Sent {
    type: number;
    aux: number;
    payload?: Buffer;
  }
  const make = (opts: { stdin?: boolean; terminal?: boolean; window?: number } = {}) => {
    const sent: Sent[] = [];
    const p = new ProcessChannel({
      handle: 1,
      processId: 'p',
      containerId: 'c',
      terminal: opts.terminal ?? false,
      stdin: opts.stdin ?? false,
      window: opts.window ?? 8192,
      send: (type, aux, payload) => sent.push({ type, aux, payload: payload && Buffer.from(payload) }),
      backlog: { queued: () => 0, whenDrained: () => undefined },
    });
    return { p, sent };
  };
  const credits = (sent: Sent[], aux: number) =>
    sent.filter((s) => s.type === FrameType.CREDIT && s.aux === aux).map((s) => Number(s.payload!.readBigUInt64LE(0)));

  it('grants no credit while nobody reads, and more as the consumer reads', async () => {
    const { p, sent } = make({ window: 8192 });
    p.onData(Stream.STDOUT, Buffer.alloc(8192, 1));
    expect(credits(sent, Stream.STDOUT)).toEqual([]);
    expect(() => p.onData(Stream.STDOUT, Buffer.alloc(1))).toThrow(/beyond its credit/);
    const chunks: Buffer[] = [];
    p.stdout.on('data', (c: Buffer) => chunks.push(c));
    await new Promise((r) => setImmediate(r));
    expect(Buffer.concat(chunks).length).toBe(8192);
    expect(credits(sent, Stream.STDOUT).at(-1)).toBe(8192 * 2);
  });

  it('resolves exited only after the exit event and both EOFs, in any order', async () => {
    const { p } = make();
    p.stdout.resume();
    p.stderr!.resume();
    let status: unknown;
    void p.exited.then((s) => (status = s));
    p.onExit({ exitCode: 3 });
    p.onEof(Stream.STDOUT);
    await new Promise((r) => setImmediate(r));
    expect(status).toBeUndefined();
    p.onEof(Stream.STDERR);
    await expect(p.exited).resolves.toEqual({ exitCode: 3 });
  });

  it('rejects data after EOF, duplicate EOF, and stderr on a terminal process', () => {
    const { p } = make();
    p.onEof(Stream.STDOUT);
    expect(() => p.onData(Stream.STDOUT, Buffer.from('x'))).toThrow(/after EOF/);
    expect(() => p.onEof(Stream.STDOUT)).toThrow(/duplicate EOF/);
    const t = make({ terminal: true }).p;
    expect(t.stderr).toBeNull();
    expect(() => t.onData(Stream.STDERR, Buffer.from('x'))).toThrow(UnavailableError);
  });

  it('sends stdin only within credit, resuming on CREDIT, then EOF on end()', async () => {
    const { p, sent } = make({ stdin: true });
    const data = Buffer.alloc(Limits.STDIN_WINDOW + 1000, 9);
    let done = false;
    p.stdin!.write(data, () => (done = true));
    await new Promise((r) => setImmediate(r));
    const dataBytes = () => sent.filter((s) => s.type === FrameType.DATA).reduce((n, s) => n + s.payload!.length, 0);
    expect(dataBytes()).toBe(Limits.STDIN_WINDOW);
    expect(sent.every((s) => s.type !== FrameType.DATA || s.payload!.length <= Limits.MAX_IO_PAYLOAD)).toBe(true);
    expect(done).toBe(false);
    p.onStdinCredit(Limits.STDIN_WINDOW + 500);
    expect(dataBytes()).toBe(Limits.STDIN_WINDOW + 500);
    p.onStdinCredit(Limits.STDIN_WINDOW * 2);
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(true);
    p.stdin!.end();
    await new Promise((r) => setImmediate(r));
    expect(sent.at(-1)).toMatchObject({ type: FrameType.EOF, aux: Stream.STDIN });
  });

  it('on failure rejects exited and destroys the streams with the error', async () => {
    const { p } = make({ stdin: true });
    const errs: Error[] = [];
    p.stdout.on('error', (e) => errs.push(e));
    p.fail(new UnavailableError('agent channel closed (test)'));
    await expect(p.exited).rejects.toThrow(/agent channel closed/);
    await new Promise((r) => setImmediate(r));
    expect(errs[0]?.message).toMatch(/agent channel closed/);
    expect(p.stdout.destroyed).toBe(true);
  });

  it('keeps granting after the consumer destroyed stdout, so the guest never blocks on it', () => {
    const { p, sent } = make({ window: 4096 });
    p.stdout.destroy();
    for (let i = 0; i < 10; i++) p.onData(Stream.STDOUT, Buffer.alloc(4096));
    expect(credits(sent, Stream.STDOUT).at(-1)).toBeGreaterThanOrEqual(4096 * 11);
  });
});
