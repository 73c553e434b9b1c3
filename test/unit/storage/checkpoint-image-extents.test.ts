/**
 * The sparse-extent stream (src/storage/checkpoint-image/extents.ts, extents-apply.ts): a
 * sparse file's stream lists its data only and applies back to the same bytes, still sparse;
 * every breach of the layout is refused with an InvalidArgumentError naming it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { Readable } from 'node:stream';
import {
  extentRecordHeader,
  extentStreamHeader,
  extentStreamOf,
  listDataExtents,
} from '../../../src/storage/checkpoint-image/extents';
import { applyExtentStream, type ExtentLimits } from '../../../src/storage/checkpoint-image/extents-apply';
import { InvalidArgumentError } from '../../../src/errors';

const MiB = 1024 * 1024;
let root: string;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ckpt-extents-test-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

/** An extent stream of `size` with `records` ([offset, bytes]), its end record, and `after`. */
function stream(size: number, records: Array<[number, Buffer]>, opts: { end?: boolean; after?: Buffer } = {}): Buffer {
  const parts = [extentStreamHeader(size)];
  for (const [offset, data] of records) parts.push(extentRecordHeader(offset, data.length), data);
  if (opts.end !== false) parts.push(extentRecordHeader(0, 0));
  if (opts.after) parts.push(opts.after);
  return Buffer.concat(parts);
}

/**
 * Apply `bytes` to a new file: a small stream cut into 7-byte pieces (so that headers straddle
 * pieces), a big one into 1 MiB pieces.
 */
async function apply(bytes: Buffer, limits: ExtentLimits = { maxDataBytes: 64 * MiB, maxSize: 1024 * MiB }) {
  const file = path.join(root, `out-${crypto.randomBytes(4).toString('hex')}`);
  const fh = await fs.promises.open(file, 'wx', 0o600);
  const pieces: Buffer[] = [];
  const cut = bytes.length < MiB ? 7 : MiB;
  for (let i = 0; i < bytes.length; i += cut) pieces.push(bytes.subarray(i, i + cut));
  try {
    const got = await applyExtentStream(Readable.from(pieces), fh, limits);
    return { file, ...got };
  } finally {
    await fh.close();
  }
}

test('a stream applies: the file gets the logical size and each record at its offset, zeros elsewhere', async () => {
  const a = Buffer.from('hello');
  const b = Buffer.from('world!');
  const { file, size, dataBytes } = await apply(
    stream(100, [
      [3, a],
      [8, b],
      [90, Buffer.from('0123456789')],
    ]),
  );
  expect({ size, dataBytes }).toEqual({ size: 100, dataBytes: 21 });
  const want = Buffer.alloc(100);
  a.copy(want, 3);
  b.copy(want, 8);
  Buffer.from('0123456789').copy(want, 90);
  expect(fs.readFileSync(file)).toEqual(want);
});

test.each([
  ['bad magic', Buffer.concat([Buffer.from('PVXT0002'), stream(10, []).subarray(8)]), /bad magic/],
  [
    'overlapping records',
    stream(100, [
      [10, Buffer.alloc(10, 1)],
      [15, Buffer.alloc(5, 2)],
    ]),
    /overlaps/,
  ],
  [
    'records out of order',
    stream(100, [
      [50, Buffer.alloc(5, 1)],
      [10, Buffer.alloc(5, 2)],
    ]),
    /out of order/,
  ],
  ['a record beyond the size', stream(100, [[95, Buffer.alloc(10, 1)]]), /beyond the size 100/],
  ['a truncated record', stream(100, [[0, Buffer.alloc(10, 1)]]).subarray(0, 16 + 16 + 4), /truncated/],
  ['no end record', stream(100, [[0, Buffer.alloc(10, 1)]], { end: false }), /truncated before its end record/],
  ['bytes after the end record', stream(100, [], { after: Buffer.from('x') }), /1 bytes after its end record/],
  [
    'an empty record not at offset 0',
    Buffer.concat([extentStreamHeader(10), extentRecordHeader(5, 0)]),
    /empty record/,
  ],
  [
    'a record over 64 MiB',
    Buffer.concat([extentStreamHeader(2 ** 40), extentRecordHeader(0, 64 * MiB + 1)]),
    /over 67108864/,
  ],
  [
    'a size beyond safe integers',
    Buffer.concat([Buffer.from('PVXT0001'), Buffer.alloc(8, 0xff)]),
    /logical size 18446744073709551615 is too large/,
  ],
])('%s: refused', async (_what, bytes, message) => {
  const limits = { maxDataBytes: 64 * MiB, maxSize: 2 ** 41 };
  const err = await apply(bytes, limits).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(InvalidArgumentError);
  expect((err as Error).message).toMatch(message);
});

test("the caller's limits: data bytes, logical size, and the size it expects", async () => {
  const s = stream(100, [
    [0, Buffer.alloc(10, 1)],
    [20, Buffer.alloc(10, 2)],
  ]);
  await expect(apply(s, { maxDataBytes: 15, maxSize: 100 })).rejects.toThrow(/more than the limit of 15 data bytes/);
  await expect(apply(s, { maxDataBytes: 100, maxSize: 99 })).rejects.toThrow(/logical size 100 over the limit of 99/);
  await expect(apply(s, { maxDataBytes: 100, maxSize: 200, size: 101 })).rejects.toThrow(
    /logical size 100, not the declared 101/,
  );
  await expect(apply(s, { maxDataBytes: 20, maxSize: 100, size: 100 })).resolves.toMatchObject({ dataBytes: 20 });
});

test('a sparse file: its stream holds its data only, and applies back to the same bytes, still sparse', async () => {
  const src = path.join(root, 'disk');
  const fd = fs.openSync(src, 'wx', 0o600);
  fs.ftruncateSync(fd, 256 * MiB);
  const a = crypto.randomBytes(MiB);
  const b = crypto.randomBytes(70 * MiB); // more than one record's 64 MiB
  fs.writeSync(fd, a, 0, a.length, 4096 * 5);
  fs.writeSync(fd, b, 0, b.length, 128 * MiB);
  fs.closeSync(fd);

  const listing = await listDataExtents(src);
  expect(listing.size).toBe(256 * MiB);
  const data = listing.extents.reduce((n, e) => n + e.length, 0);
  expect(data).toBeGreaterThanOrEqual(71 * MiB);
  expect(data).toBeLessThan(72 * MiB);

  const { size, stream: s } = await extentStreamOf(src);
  expect(size).toBe(256 * MiB);
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  const bytes = Buffer.concat(chunks);
  expect(bytes.length).toBeLessThan(72 * MiB + 4096);

  const { file, dataBytes } = await apply(bytes, { maxDataBytes: 128 * MiB, maxSize: 256 * MiB, size: 256 * MiB });
  expect(dataBytes).toBe(data);
  const st = fs.statSync(file);
  expect(st.size).toBe(256 * MiB);
  expect(st.blocks * 512).toBeLessThan(80 * MiB);
  const hash = (p: string) => crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
  expect(hash(file)).toBe(hash(src));
});

test('a file of no data: header and end record only', async () => {
  const src = path.join(root, 'empty');
  fs.writeFileSync(src, '');
  fs.truncateSync(src, 10 * MiB);
  const { stream: s } = await extentStreamOf(src);
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  expect(Buffer.concat(chunks)).toEqual(stream(10 * MiB, []));
});
