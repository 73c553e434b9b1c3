/**
 * A checkpoint's files packed into the content store and unpacked back
 * (src/storage/checkpoint-image/pack.ts, unpack.ts), the unpacking taking its input as
 * hostile (issue 66): a plain file and a 1 GiB sparse one come back byte for byte, the sparse
 * one still sparse; each tampered checkpoint is refused with an InvalidArgumentError naming
 * the problem, and leaves nothing in the directory.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { ContentStore } from '../../../src/storage/content';
import { packCheckpointFiles } from '../../../src/storage/checkpoint-image/pack';
import { unpackCheckpointFiles, type CheckpointUnpackLimits } from '../../../src/storage/checkpoint-image/unpack';
import { extentRecordHeader, extentStreamHeader } from '../../../src/storage/checkpoint-image/extents';
import {
  CHECKPOINT_ARTIFACT_TYPE,
  CHECKPOINT_CONFIG_TYPE,
  CHECKPOINT_FILE_TYPE,
  CHECKPOINT_SPARSE_TYPE,
} from '../../../src/storage/checkpoint-image/media-types';
import { sha256Digest } from '../../../src/storage/digest';
import { InvalidArgumentError } from '../../../src/errors';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
let root: string;
let content: ContentStore;
let dir: string;

beforeEach(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ckpt-image-test-'));
  content = new ContentStore(path.join(root, 'content'));
  await content.init();
  dir = path.join(root, 'restore');
  fs.mkdirSync(dir, { mode: 0o700 });
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

const LIMITS: CheckpointUnpackLimits = {
  files: { 'state.json': { maxBytes: MiB, sparse: false }, disk: { maxBytes: 2 * GiB, sparse: true } },
  maxTotalBytes: 3 * GiB,
};

/** sha256 of a whole file, streamed. */
async function fileHash(p: string): Promise<string> {
  const h = crypto.createHash('sha256');
  for await (const c of fs.createReadStream(p, { highWaterMark: 4 * MiB })) h.update(c as Buffer);
  return h.digest('hex');
}

/** Bytes this process has read through system calls so far (/proc/self/io rchar). */
function bytesRead(): number {
  return Number(/^rchar: (\d+)$/m.exec(fs.readFileSync('/proc/self/io', 'utf8'))![1]);
}

/** `data` zstd-compressed by the zstd binary. */
function zstd(data: Buffer): Buffer {
  return execFileSync('zstd', ['-q', '-c'], { input: data, maxBuffer: 256 * MiB });
}

interface HostileFile {
  name: string;
  sparse: boolean;
  bytes: number;
  /** The blob's bytes (stored as is). */
  blob: Buffer;
  mediaType?: string;
}

/** Store a checkpoint made by hand, with what a test changes; resolves with its manifest's digest. */
async function storeHostile(
  files: HostileFile[],
  opts: { artifactType?: string; configBytes?: Buffer; record?: unknown } = {},
): Promise<string> {
  const layers = [];
  for (const f of files) {
    layers.push({
      mediaType: f.mediaType ?? (f.sparse ? CHECKPOINT_SPARSE_TYPE : CHECKPOINT_FILE_TYPE),
      digest: await content.put(f.blob),
      size: f.blob.length,
      annotations: { 'org.opencontainers.image.title': f.name },
    });
  }
  const configBytes =
    opts.configBytes ??
    Buffer.from(
      JSON.stringify({
        format: 1,
        files: files.map((f) => ({ name: f.name, bytes: f.bytes, sparse: f.sparse })),
        record: opts.record ?? { id: 'c1' },
      }),
    );
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: opts.artifactType ?? CHECKPOINT_ARTIFACT_TYPE,
    config: { mediaType: CHECKPOINT_CONFIG_TYPE, digest: await content.put(configBytes), size: configBytes.length },
    layers,
  };
  return content.put(Buffer.from(JSON.stringify(manifest)));
}

/** An extent stream of `size` with `records` ([offset, bytes]) and its end record. */
function extents(size: number, records: Array<[number, Buffer]>): Buffer {
  const parts = [extentStreamHeader(size)];
  for (const [offset, data] of records) parts.push(extentRecordHeader(offset, data.length), data);
  parts.push(extentRecordHeader(0, 0));
  return Buffer.concat(parts);
}

/** Unpack `digest` into `dir`: the error's message, checked to be an InvalidArgumentError, with `dir` left empty. */
async function refused(digest: string, limits = LIMITS): Promise<string> {
  const err = await unpackCheckpointFiles(content, digest, dir, limits).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(InvalidArgumentError);
  expect(fs.readdirSync(dir)).toEqual([]);
  return (err as Error).message;
}

const STATE = Buffer.from(JSON.stringify({ hello: 'world' }));

test('a plain file round-trips, and the record comes back', async () => {
  const src = path.join(root, 'state.json');
  const data = Buffer.concat([crypto.randomBytes(300_000), Buffer.alloc(400_000, 7)]);
  fs.writeFileSync(src, data);
  const record = { id: 'c1', nested: [1, 'two'] };
  const packed = await packCheckpointFiles(content, [{ name: 'state.json', path: src, sparse: false }], record);
  expect(packed.blobs).toHaveLength(2);
  for (const d of [packed.digest, ...packed.blobs]) expect(await content.has(d)).toBe(true);
  expect(packed.size).toBe(await content.size(packed.digest));

  const manifest = JSON.parse((await content.read(packed.digest)).toString());
  expect(manifest).toEqual({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: CHECKPOINT_ARTIFACT_TYPE,
    config: { mediaType: CHECKPOINT_CONFIG_TYPE, digest: packed.blobs[0], size: expect.any(Number) },
    layers: [
      {
        mediaType: CHECKPOINT_FILE_TYPE,
        digest: packed.blobs[1],
        size: expect.any(Number),
        annotations: { 'org.opencontainers.image.title': 'state.json' },
      },
    ],
  });
  expect(JSON.parse((await content.read(packed.blobs[0])).toString())).toEqual({
    format: 1,
    files: [{ name: 'state.json', bytes: data.length, sparse: false }],
    record,
  });

  await expect(unpackCheckpointFiles(content, packed.digest, dir, LIMITS)).resolves.toEqual({ record });
  expect(fs.readFileSync(path.join(dir, 'state.json')).equals(data)).toBe(true);
  expect(fs.statSync(path.join(dir, 'state.json')).mode & 0o777).toBe(0o600);
});

test('a 1 GiB sparse file holding a few MiB: packed by reading its data only, unpacked equal and still sparse', async () => {
  const src = path.join(root, 'disk');
  const fd = fs.openSync(src, 'wx', 0o600);
  fs.ftruncateSync(fd, GiB);
  for (const at of [0, 100 * MiB + 3 * 4096, 512 * MiB + 12345, GiB - MiB]) {
    fs.writeSync(fd, crypto.randomBytes(MiB), 0, MiB, at);
  }
  fs.closeSync(fd);
  const state = path.join(root, 'state.json');
  fs.writeFileSync(state, STATE);

  const before = bytesRead();
  const packed = await packCheckpointFiles(
    content,
    [
      { name: 'state.json', path: state, sparse: false },
      { name: 'disk', path: src, sparse: true },
    ],
    { id: 'c1' },
  );
  expect(bytesRead() - before).toBeLessThan(64 * MiB);
  expect(await content.size(packed.blobs[2])).toBeLessThan(6 * MiB);

  await expect(unpackCheckpointFiles(content, packed.digest, dir, LIMITS)).resolves.toEqual({ record: { id: 'c1' } });
  expect(fs.readdirSync(dir).sort()).toEqual(['disk', 'state.json']);
  const st = fs.statSync(path.join(dir, 'disk'));
  expect(st.size).toBe(GiB);
  expect(st.blocks * 512).toBeLessThan(16 * MiB);
  expect(await fileHash(path.join(dir, 'disk'))).toBe(await fileHash(src));
  expect(fs.readFileSync(path.join(dir, 'state.json'))).toEqual(STATE);
}, 60_000);

test('a record changed under its digest: the content store refuses it, and the checkpoint keeps its own', async () => {
  const src = path.join(root, 'state.json');
  fs.writeFileSync(src, STATE);
  const packed = await packCheckpointFiles(content, [{ name: 'state.json', path: src, sparse: false }], { id: 'c1' });
  const config = await content.read(packed.blobs[0]);
  const changed = Buffer.from(config.toString().replace('"c1"', '"c2"'));
  await expect(
    content.ingest(Readable.from([changed]), { digest: packed.blobs[0], size: changed.length }, 'checkpoint config'),
  ).rejects.toThrow(/checkpoint config: digest mismatch/);
  await expect(unpackCheckpointFiles(content, packed.digest, dir, LIMITS)).resolves.toEqual({ record: { id: 'c1' } });
});

test('a blob corrupted in the store after it was checked: refused (hashed again while it is read)', async () => {
  const src = path.join(root, 'state.json');
  fs.writeFileSync(src, STATE);
  const packed = await packCheckpointFiles(content, [{ name: 'state.json', path: src, sparse: false }], { id: 'c1' });
  const blob = content.blobPath(packed.blobs[1]);
  const bytes = fs.readFileSync(blob);
  bytes[bytes.length - 5] ^= 0x01; // in a raw block's data (or its checksum): still decodes
  fs.chmodSync(blob, 0o600);
  fs.writeFileSync(blob, bytes);
  expect(await refused(packed.digest)).toMatch(/checkpoint file state.json: /);
});

test('a manifest naming a file the caller does not allow: refused', async () => {
  const d = await storeHostile([{ name: 'evil', sparse: false, bytes: 5, blob: zstd(Buffer.from('hello')) }]);
  expect(await refused(d)).toMatch(/checkpoint file evil is not one this checkpoint may hold/);
  const proto = await storeHostile([
    { name: 'constructor', sparse: false, bytes: 5, blob: zstd(Buffer.from('hello')) },
  ]);
  expect(await refused(proto)).toMatch(/checkpoint file constructor is not one/);
});

test('a name that is not a plain file name, twice the same name, or another kind than allowed: refused', async () => {
  const blob = zstd(Buffer.from('hello'));
  expect(await refused(await storeHostile([{ name: '../x', sparse: false, bytes: 5, blob }]))).toMatch(
    /no plain file name: "..\/x"/,
  );
  const twice = await storeHostile([
    { name: 'state.json', sparse: false, bytes: 5, blob },
    { name: 'state.json', sparse: false, bytes: 5, blob },
  ]);
  expect(await refused(twice)).toMatch(/state.json is listed twice/);
  expect(await refused(await storeHostile([{ name: 'disk', sparse: false, bytes: 5, blob }]))).toMatch(
    /disk must be sparse/,
  );
  const wrongType = await storeHostile([
    { name: 'state.json', sparse: false, bytes: 5, blob, mediaType: CHECKPOINT_SPARSE_TYPE },
  ]);
  expect(await refused(wrongType)).toMatch(/media type .* is not its kind's/);
});

test('a declared size over its limit, or a total over the limit: refused before anything is written', async () => {
  const blob = zstd(Buffer.from('hello'));
  expect(await refused(await storeHostile([{ name: 'state.json', sparse: false, bytes: MiB + 1, blob }]))).toMatch(
    /state.json of 1048577 bytes is over its limit of 1048576/,
  );
  const total = await storeHostile([
    { name: 'state.json', sparse: false, bytes: 5, blob },
    { name: 'disk', sparse: true, bytes: 2 * GiB, blob: zstd(extents(2 * GiB, [])) },
  ]);
  expect(await refused(total, { ...LIMITS, maxTotalBytes: 2 * GiB })).toMatch(/over the limit of 2147483648/);
});

test('a plain blob that decompresses to more, or less, than declared: refused, the partial file removed', async () => {
  const more = await storeHostile([
    { name: 'state.json', sparse: false, bytes: 1000, blob: zstd(Buffer.alloc(500_000)) },
  ]);
  expect(await refused(more)).toMatch(/state.json: decompresses to more than its declared 1000 bytes/);
  const less = await storeHostile([{ name: 'state.json', sparse: false, bytes: 1000, blob: zstd(Buffer.alloc(10)) }]);
  expect(await refused(less)).toMatch(/decompresses to 10 bytes, not its declared 1000/);
});

test('an extent stream with overlapping, out-of-range or out-of-order extents, or another size: refused', async () => {
  const a = Buffer.alloc(4096, 1);
  const cases: Array<[Buffer, RegExp]> = [
    [
      extents(MiB, [
        [0, a],
        [2048, a],
      ]),
      /overlaps the previous one/,
    ],
    [extents(MiB, [[MiB - 10, a]]), /reaches beyond the size 1048576/],
    [
      extents(MiB, [
        [8192, a],
        [0, a],
      ]),
      /out of order/,
    ],
    [extents(2 * MiB, [[0, a]]), /logical size 2097152 over the limit of 1048576/],
    [extents(MiB / 2, [[0, a]]), /logical size 524288, not the declared 1048576/],
    [Buffer.concat([extents(MiB, [[0, a]]), Buffer.from('more')]), /bytes after its end record/],
  ];
  for (const [stream, message] of cases) {
    const d = await storeHostile([{ name: 'disk', sparse: true, bytes: MiB, blob: zstd(stream) }]);
    expect(await refused(d)).toMatch(message);
  }
});

test('a truncated zstd stream: refused, the partial file removed', async () => {
  const z = zstd(crypto.randomBytes(200_000));
  const d = await storeHostile([{ name: 'state.json', sparse: false, bytes: 200_000, blob: z.subarray(0, 150_000) }]);
  expect(await refused(d)).toMatch(/state.json: zstd: truncated stream/);
});

test('a config that is not JSON, or of the wrong shape: refused', async () => {
  expect(await refused(await storeHostile([], { configBytes: Buffer.from('{"format": 1, files') }))).toMatch(
    /checkpoint config is not JSON/,
  );
  expect(await refused(await storeHostile([], { configBytes: Buffer.from('{"format": 2, "files": []}') }))).toMatch(
    /unknown format 2/,
  );
  const noLayer = await storeHostile([], {
    configBytes: Buffer.from(
      JSON.stringify({ format: 1, files: [{ name: 'state.json', bytes: 1, sparse: false }], record: 1 }),
    ),
  });
  expect(await refused(noLayer)).toMatch(/0 layers for 1 files/);
});

test('a wrong artifactType, or a manifest that is not one: refused', async () => {
  expect(await refused(await storeHostile([], { artifactType: 'application/vnd.example.other' }))).toMatch(
    /artifactType "application\/vnd.example.other", not application\/vnd.podvisor.checkpoint.v1/,
  );
  expect(await refused(await content.put(Buffer.from('not json')))).toMatch(
    /invalid checkpoint state manifest: not JSON/,
  );
  expect(await refused(sha256Digest('absent'))).toMatch(/is not in the content store/);
});

test('a symlink planted at a file name is not followed: refused (EEXIST), its target untouched', async () => {
  const src = path.join(root, 'state.json');
  fs.writeFileSync(src, STATE);
  const packed = await packCheckpointFiles(content, [{ name: 'state.json', path: src, sparse: false }], { id: 'c1' });
  const target = path.join(root, 'precious');
  fs.writeFileSync(target, 'keep me');
  fs.symlinkSync(target, path.join(dir, 'state.json'));
  const err = await unpackCheckpointFiles(content, packed.digest, dir, LIMITS).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(InvalidArgumentError);
  expect((err as Error).message).toMatch(/state.json is already there \(EEXIST\)/);
  expect(fs.readFileSync(target, 'utf8')).toBe('keep me');
  expect(fs.readlinkSync(path.join(dir, 'state.json'))).toBe(target);
  expect(fs.readdirSync(dir)).toEqual(['state.json']);
});

test('packing refuses a name that is not a plain file name, or one given twice', async () => {
  const src = path.join(root, 'state.json');
  fs.writeFileSync(src, STATE);
  await expect(packCheckpointFiles(content, [{ name: '../up', path: src, sparse: false }], {})).rejects.toThrow(
    /not a plain file name/,
  );
  const twice = [
    { name: 'a', path: src, sparse: false },
    { name: 'a', path: src, sparse: false },
  ];
  await expect(packCheckpointFiles(content, twice, {})).rejects.toThrow(/named twice/);
});
