/**
 * zstd decoding of hostile input (src/storage/checkpoint-image/zstd-decode.ts): the zstd
 * binary's output decodes to its input, in pieces of at most one block; a stream cut short,
 * followed by junk, with a window or a block over the limits, or with a dictionary is refused
 * with an InvalidArgumentError before fzstd allocates or decodes it.
 */
import * as crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { decodeZstd, ZSTD_MAX_WINDOW } from '../../../src/storage/checkpoint-image/zstd-decode';
import { InvalidArgumentError } from '../../../src/errors';

/** `data` as one zstd frame of raw blocks, with window descriptor `wd` (128 KiB by default). */
function rawFrame(data: Buffer, wd = 7 << 3): Buffer {
  const parts: Buffer[] = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, wd])];
  let at = 0;
  do {
    const n = Math.min(128 * 1024, data.length - at);
    const last = at + n >= data.length ? 1 : 0;
    const h = (n << 3) | last;
    parts.push(Buffer.from([h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff]), data.subarray(at, at + n));
    at += n;
  } while (at < data.length);
  return Buffer.concat(parts);
}

/** Decode `bytes` fed in `cut`-byte pieces: the output and the largest piece the sink got. */
async function decode(bytes: Buffer, cut = 4096): Promise<{ out: Buffer; largest: number }> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += cut) pieces.push(bytes.subarray(i, i + cut));
  const out: Buffer[] = [];
  let largest = 0;
  await decodeZstd(
    (async function* () {
      yield* pieces;
    })(),
    async (c) => {
      largest = Math.max(largest, c.length);
      out.push(Buffer.from(c));
    },
  );
  return { out: Buffer.concat(out), largest };
}

async function refusal(bytes: Buffer): Promise<string> {
  const err = await decode(bytes).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(InvalidArgumentError);
  return (err as Error).message;
}

test("the zstd binary's output decodes to its input, one block (<= 128 KiB) at a time, however it is fed", async () => {
  const data = Buffer.concat([crypto.randomBytes(300 * 1024), Buffer.alloc(8 * 1024 * 1024), Buffer.from('end')]);
  const z = execFileSync('zstd', ['-q', '-3', '-c'], { input: data, maxBuffer: 64 * 1024 * 1024 });
  for (const cut of [1, 1000, 1 << 20]) {
    const { out, largest } = await decode(z, cut);
    expect(out.equals(data)).toBe(true);
    expect(largest).toBeLessThanOrEqual(128 * 1024);
  }
});

test('several frames decode one after another; a raw frame as well', async () => {
  const a = execFileSync('zstd', ['-q', '-c'], { input: Buffer.from('first ') });
  const b = rawFrame(Buffer.from('second'));
  expect((await decode(Buffer.concat([a, b]), 3)).out.toString()).toBe('first second');
});

test('a truncated stream, junk after a frame, or nothing at all: refused', async () => {
  const z = execFileSync('zstd', ['-q', '-c'], { input: crypto.randomBytes(50_000) });
  expect(await refusal(z.subarray(0, z.length - 10))).toMatch(/zstd: truncated stream/);
  expect(await refusal(Buffer.concat([z, Buffer.from('junk')]))).toMatch(/zstd: not a zstd frame/);
  expect(await refusal(Buffer.from('not zstd at all'))).toMatch(/not a zstd frame/);
  expect(await refusal(Buffer.alloc(0))).toMatch(/empty stream/);
});

test('a window over the limit, a block over 128 KiB, an RLE block claiming 2 MiB, a dictionary: refused', async () => {
  // Window descriptor exponent 21 -> 2 GiB: refused before fzstd would allocate it.
  expect(await refusal(rawFrame(Buffer.from('x'), 21 << 3))).toMatch(/window of 2147483648 bytes is over/);
  expect(ZSTD_MAX_WINDOW).toBe(8 * 1024 * 1024);
  // A raw block header claiming 200 KiB, in a frame of an 8 MiB window.
  const big = (200 * 1024) << 3;
  const bigBlock = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 13 << 3, big & 0xff, (big >> 8) & 0xff, big >> 16]);
  expect(await refusal(bigBlock)).toMatch(/block of 204800 bytes is over/);
  const rle = ((2 * 1024 * 1024 - 1) << 3) | (1 << 1) | 1;
  const rleBlock = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 13 << 3, rle & 0xff, (rle >> 8) & 0xff, rle >> 16, 0]);
  expect(await refusal(rleBlock)).toMatch(/block of 2097151 bytes is over/);
  expect(await refusal(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x01, 1, 7 << 3]))).toMatch(/dictionary/);
});

test("the sink's error stops the decoding and is what the caller gets", async () => {
  const z = execFileSync('zstd', ['-q', '-c'], { input: Buffer.alloc(1024 * 1024) });
  let seen = 0;
  const err = await decodeZstd(
    (async function* () {
      yield z;
    })(),
    async (c) => {
      seen += c.length;
      if (seen > 200 * 1024) throw new InvalidArgumentError('too much');
    },
  ).catch((e: unknown) => e);
  expect((err as Error).message).toBe('too much');
  expect(seen).toBeLessThanOrEqual(256 * 1024 + 128 * 1024);
});
