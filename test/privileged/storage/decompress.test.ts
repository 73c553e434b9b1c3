/**
 * Compressed archives as dockerd reads them: the compression is told by the first bytes,
 * each kind decodes to the very bytes that were compressed (made with the system's gzip,
 * bzip2, xz and zstd tools), whatever size the chunks come in, and a corrupt stream fails
 * instead of passing garbage on.
 * It runs the host's gzip, bzip2, xz and zstd to make its inputs, so it lives with the
 * privileged tests (host binaries), not the unit tests (no host processes).
 */
import * as crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { decompressStream, detectCompression, type Compression } from '../../../src/storage/decompress';

/** Some bytes that compress (text) followed by some that do not (random). */
const plain = Buffer.concat([Buffer.from('podvisor '.repeat(40000)), crypto.randomBytes(300000)]);

const tools: [Exclude<Compression, 'none'>, string][] = [
  ['gzip', 'gzip'],
  ['bzip2', 'bzip2'],
  ['xz', 'xz'],
  ['zstd', 'zstd'],
];
const packed = new Map(
  tools.map(([kind, tool]) => [kind, execFileSync(tool, ['-c'], { input: plain, maxBuffer: 64 << 20 })]),
);

/** `buf` as a stream of chunks of `size` bytes. */
function chunked(buf: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) parts.push(buf.subarray(i, i + size));
  return Readable.from(parts, { objectMode: false });
}

async function readAll(r: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of r) out.push(c as Buffer);
  return Buffer.concat(out);
}

test.each(tools)('%s is told by its first bytes', (kind) => {
  expect(detectCompression(packed.get(kind)!)).toBe(kind);
});

test('a plain tar, an empty stream and short text are taken as uncompressed', () => {
  expect(detectCompression(plain)).toBe('none');
  expect(detectCompression(Buffer.alloc(0))).toBe('none');
  expect(detectCompression(Buffer.from('BZ'))).toBe('none');
});

test.each(tools)(
  '%s decodes to the bytes that were compressed, in big chunks and with its head in 1-byte ones',
  async (kind) => {
    const src = packed.get(kind)!;
    expect((await readAll(await decompressStream(chunked(src, 1 << 20)))).equals(plain)).toBe(true);
    // The magic split over 1-byte chunks.
    expect((await readAll(await decompressStream(Readable.from(splitHead(src))))).equals(plain)).toBe(true);
  },
);

/** `buf` as 1-byte chunks for its first 8 bytes, then the rest at once. */
function splitHead(buf: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  for (let i = 0; i < 8; i++) parts.push(buf.subarray(i, i + 1));
  parts.push(buf.subarray(8));
  return parts;
}

test('an uncompressed stream passes as it is', async () => {
  expect((await readAll(await decompressStream(chunked(plain, 4096)))).equals(plain)).toBe(true);
  expect((await readAll(await decompressStream(Readable.from([])))).length).toBe(0);
});

test.each(tools)('a corrupt %s stream fails', async (kind) => {
  const bad = Buffer.from(packed.get(kind)!);
  // Keep the magic, wreck what follows.
  for (let i = 16; i < Math.min(bad.length, 4096); i++) bad[i] ^= 0x5a;
  await expect(readAll(await decompressStream(chunked(bad, 65536)))).rejects.toThrow();
});

test.each(tools)('a %s stream cut short fails', async (kind) => {
  const src = packed.get(kind)!;
  await expect(
    readAll(await decompressStream(chunked(src.subarray(0, Math.floor(src.length / 2)), 65536))),
  ).rejects.toThrow();
});
