/**
 * The SPDY/3.1 layer on its own: the header dictionary, header blocks through zlib, frame
 * parsing across arbitrary chunk boundaries, and a session refusing bad input.
 */
import { createHash } from 'node:crypto';
import * as zlib from 'node:zlib';
import { PassThrough } from 'node:stream';
import { SPDY3_DICTIONARY } from '../../../../../src/api/cri/streaming/spdy/dictionary';
import {
  encodeData,
  encodeGoaway,
  encodeSynStream,
  FrameParser,
  SpdyProtocolError,
} from '../../../../../src/api/cri/streaming/spdy/framer';
import {
  HeaderCompressor,
  HeaderDecompressor,
  parseHeaders,
  serializeHeaders,
} from '../../../../../src/api/cri/streaming/spdy/headers';
import { SpdyConnection } from '../../../../../src/api/cri/streaming/spdy/connection';

describe('SPDY/3 header dictionary', () => {
  it('is the 1423 bytes of the draft', () => {
    // Checked byte for byte against an independent implementation's copy when written.
    expect(SPDY3_DICTIONARY.length).toBe(1423);
    expect(createHash('sha256').update(SPDY3_DICTIONARY).digest('hex')).toBe(
      '51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02',
    );
    expect(SPDY3_DICTIONARY.subarray(0, 11)).toEqual(Buffer.from('\0\0\0\x07options', 'latin1'));
    expect(SPDY3_DICTIONARY.subarray(-6).toString()).toBe('enq=0.');
  });
});

describe('header blocks', () => {
  it('lay out names lower-cased and several values NUL-joined', () => {
    const block = serializeHeaders({ StreamType: ['stdout'], port: ['80', '81'] });
    expect(block.readUInt32BE(0)).toBe(2);
    expect(parseHeaders(block)).toEqual({ streamtype: ['stdout'], port: ['80', '81'] });
  });

  it('refuse truncated blocks', () => {
    const block = serializeHeaders({ streamtype: ['stdout'] });
    expect(() => parseHeaders(block.subarray(0, block.length - 2))).toThrow(SpdyProtocolError);
    expect(() => parseHeaders(Buffer.alloc(2))).toThrow(SpdyProtocolError);
  });

  it('share one zlib context per direction, as a peer compressing with the dictionary does', async () => {
    // The peer: plain zlib with the dictionary and a sync flush per block (what Go's framer does).
    const peer = zlib.createDeflate({ dictionary: SPDY3_DICTIONARY });
    const out: Buffer[] = [];
    peer.on('data', (c: Buffer) => out.push(c));
    const block = (h: Record<string, string[]>): Promise<Buffer> =>
      new Promise((resolve) => {
        out.length = 0;
        peer.write(serializeHeaders(h));
        peer.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve(Buffer.concat(out)));
      });
    const d = new HeaderDecompressor();
    const b1 = await block({ streamtype: ['error'], 'content-type': ['text/plain'] });
    const b2 = await block({ streamtype: ['stdout'], 'content-type': ['text/plain'] });
    expect(await d.decompress(b1)).toEqual({ streamtype: ['error'], 'content-type': ['text/plain'] });
    // The second block refers back into the first: only a shared context can read it.
    expect(b2.length).toBeLessThan(b1.length);
    expect(await d.decompress(b2)).toEqual({ streamtype: ['stdout'], 'content-type': ['text/plain'] });
    d.close();
    peer.close();
  });

  it('round-trip through our compressor', async () => {
    const c = new HeaderCompressor();
    const d = new HeaderDecompressor();
    const blocks: Record<string, string[]>[] = [{}, { streamtype: ['resize'] }, { port: ['8080'], requestid: ['7'] }];
    for (const h of blocks) {
      expect(await d.decompress(await c.compress(h))).toEqual(h);
    }
    c.close();
    d.close();
  });

  it('refuse a block that inflates past the limit', async () => {
    const c = new HeaderCompressor();
    const d = new HeaderDecompressor(1024);
    await expect(d.decompress(await c.compress({ big: ['y'.repeat(5000)] }))).rejects.toThrow('header block too large');
    c.close();
    d.close();
  });
});

describe('frame parser', () => {
  it('yields frames split across any chunk boundary', () => {
    const bytes = Buffer.concat([
      encodeSynStream(1, Buffer.from('hdr'), { fin: true, priority: 3 }),
      encodeData(1, Buffer.from('payload'), true),
      encodeGoaway(1),
    ]);
    for (let cut = 1; cut < bytes.length; cut++) {
      const p = new FrameParser();
      const frames = [...p.push(bytes.subarray(0, cut)), ...p.push(bytes.subarray(cut))];
      expect(frames).toEqual([
        {
          kind: 'syn_stream',
          streamId: 1,
          associatedId: 0,
          priority: 3,
          fin: true,
          unidirectional: false,
          headerBlock: Buffer.from('hdr'),
        },
        { kind: 'data', streamId: 1, fin: true, data: Buffer.from('payload') },
        { kind: 'goaway', lastGoodStreamId: 1, status: 0 },
      ]);
    }
  });

  it('refuses other SPDY versions and short control frames', () => {
    const v2 = encodeGoaway(0);
    v2.writeUInt16BE(0x8002, 0);
    expect(() => new FrameParser().push(v2)).toThrow('unsupported SPDY version 2');
    const short = encodeGoaway(0).subarray(0, 8);
    short.writeUIntBE(0, 5, 3);
    expect(() => new FrameParser().push(short)).toThrow('GOAWAY frame too short');
  });
});

describe('a server session', () => {
  it('answers garbage with GOAWAY (protocol error) and drops the connection', async () => {
    const socket = new PassThrough();
    const written: Buffer[] = [];
    const sink = new PassThrough();
    sink.on('data', (c: Buffer) => written.push(c));
    // A duplex whose writes we can see: reads come from `socket`, writes go to `sink`.
    const duplex = Object.assign(socket, {
      write: (c: Buffer) => sink.write(c),
    }) as unknown as PassThrough;
    const conn = new SpdyConnection(duplex, { server: true });
    const closed = new Promise<void>((r) => conn.once('close', () => r()));
    socket.push(Buffer.from([0x80, 0x09, 0, 7, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0]));
    await closed;
    const frames = new FrameParser().push(Buffer.concat(written));
    expect(frames).toEqual([{ kind: 'goaway', lastGoodStreamId: 0, status: 1 }]);
  });

  it('resets a stream opened with an even id', async () => {
    const client = new PassThrough();
    const written: Buffer[] = [];
    const duplex = Object.assign(client, { write: (c: Buffer) => written.push(c) > 0 }) as unknown as PassThrough;
    const conn = new SpdyConnection(duplex, { server: true });
    const opened: number[] = [];
    conn.on('stream', (s) => opened.push(s.id));
    const c = new HeaderCompressor();
    client.push(encodeSynStream(2, await c.compress({ streamtype: ['error'] })));
    await new Promise((r) => setTimeout(r, 50));
    expect(opened).toEqual([]);
    expect(new FrameParser().push(Buffer.concat(written))).toEqual([{ kind: 'rst_stream', streamId: 2, status: 1 }]);
    c.close();
    conn.destroy();
  });
});
