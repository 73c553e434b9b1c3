/**
 * An image disk sent as a recipe over its base image's files (src/storage/checkpoint-image/
 * recipe.ts, recipe-apply.ts, tree-files.ts; issue 66): a real ext4 made by `mkfs.ext4 -d` from
 * a tree is packed as references to the tree's blocks and a few literals, far smaller than its
 * data, and rebuilt byte for byte from the same tree. The recipe is hostile input at the unpack:
 * a file or block index out of range, an op past the disk, one out of order, a tree that
 * differs, a disk that does not hash to its recorded digest, a recipe cut short: each refused,
 * naming it, with nothing left.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { ContentStore } from '../../../src/storage/content';
import { packCheckpointFiles } from '../../../src/storage/checkpoint-image/pack';
import {
  unpackCheckpointFiles,
  type BaseTree,
  type CheckpointUnpackLimits,
} from '../../../src/storage/checkpoint-image/unpack';
import { listTreeFiles } from '../../../src/storage/checkpoint-image/tree-files';
import {
  copyOp,
  dataOpHead,
  DiskDigest,
  OP_END,
  recipeHeader,
  RECIPE_BLOCK,
} from '../../../src/storage/checkpoint-image/recipe';
import {
  CHECKPOINT_ARTIFACT_TYPE,
  CHECKPOINT_CONFIG_TYPE,
  CHECKPOINT_RECIPE_TYPE,
  CHECKPOINT_SPARSE_TYPE,
} from '../../../src/storage/checkpoint-image/media-types';
import { InvalidArgumentError } from '../../../src/errors';

const MiB = 1024 * 1024;
const BASE = [`sha256:${'a'.repeat(64)}`];
const DISK_BYTES = 64 * MiB;
let root: string;
let content: ContentStore;
let dir: string;
let tree: string;

const LIMITS: CheckpointUnpackLimits = {
  files: { 'image.ext4': { maxBytes: DISK_BYTES, sparse: true, recipe: true } },
  maxTotalBytes: DISK_BYTES,
};

beforeEach(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ckpt-recipe-test-'));
  content = new ContentStore(path.join(root, 'content'));
  await content.init();
  dir = path.join(root, 'restore');
  fs.mkdirSync(dir, { mode: 0o700 });
  tree = path.join(root, 'tree');
  fs.mkdirSync(path.join(tree, 'usr/lib/deep'), { recursive: true });
  fs.mkdirSync(path.join(tree, 'etc'));
  fs.writeFileSync(path.join(tree, 'usr/lib/big.so'), crypto.randomBytes(3 * MiB + 1234));
  fs.writeFileSync(path.join(tree, 'usr/lib/deep/data'), crypto.randomBytes(700_000));
  fs.writeFileSync(path.join(tree, 'usr/lib/deep/copy'), fs.readFileSync(path.join(tree, 'usr/lib/deep/data')));
  fs.writeFileSync(path.join(tree, 'etc/small'), 'hello\n');
  fs.writeFileSync(path.join(tree, 'etc/empty'), '');
  fs.writeFileSync(path.join(tree, 'etc/zeros'), Buffer.alloc(64 * 1024));
  fs.symlinkSync('/etc/passwd', path.join(tree, 'etc/passwd-link'));
  fs.symlinkSync('../usr', path.join(tree, 'etc/usr-link'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

/**
 * An ext4 disk made from `from` as the daemon makes image disks (src/storage/image-disks/
 * image-disks.ts); its 16 GiB get 4 KiB blocks by default, this small one asks for them.
 */
function mkfs(from: string, file: string): void {
  const fd = fs.openSync(file, 'wx', 0o600);
  fs.ftruncateSync(fd, DISK_BYTES);
  fs.closeSync(fd);
  execFileSync('mkfs.ext4', [
    '-q',
    '-F',
    '-b',
    '4096',
    '-m',
    '0',
    '-O',
    '^has_journal',
    '-E',
    'lazy_itable_init=1',
    '-d',
    from,
    file,
  ]);
}

function sha256File(p: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
}

/** The tree at `from` as an unpack's base. */
async function baseOf(from: string): Promise<BaseTree> {
  return { root: from, tree: await listTreeFiles(from), close: async () => undefined };
}

/** Unpack `digest` into `dir`: the error's message, checked to be an InvalidArgumentError, with `dir` left empty. */
async function refused(digest: string, from = tree): Promise<string> {
  const err = await unpackCheckpointFiles(content, digest, dir, LIMITS, () => baseOf(from)).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(InvalidArgumentError);
  expect(fs.readdirSync(dir)).toEqual([]);
  return (err as Error).message;
}

/** Store a checkpoint of one file, `image.ext4`, whose layer is `recipe` (zstd'd here) with `entry` fields. */
async function storeRecipe(recipe: Buffer, entry: { bytes?: number; digest: string }): Promise<string> {
  const blob = execFileSync('zstd', ['-q', '-c'], { input: recipe });
  const config = Buffer.from(
    JSON.stringify({
      format: 1,
      files: [
        {
          name: 'image.ext4',
          bytes: entry.bytes ?? DISK_BYTES,
          sparse: false,
          recipe: { base: BASE, digest: entry.digest },
        },
      ],
      record: { id: 'c1' },
    }),
  );
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: CHECKPOINT_ARTIFACT_TYPE,
    config: { mediaType: CHECKPOINT_CONFIG_TYPE, digest: await content.put(config), size: config.length },
    layers: [
      {
        mediaType: CHECKPOINT_RECIPE_TYPE,
        digest: await content.put(blob),
        size: blob.length,
        annotations: { 'org.opencontainers.image.title': 'image.ext4' },
      },
    ],
  };
  return content.put(Buffer.from(JSON.stringify(manifest)));
}

/** A recipe over the test's tree: its header, `ops`, the end. */
async function recipe(ops: Buffer[], size = DISK_BYTES): Promise<Buffer> {
  const listing = await listTreeFiles(tree);
  return Buffer.concat([recipeHeader(size, listing.files.length, listing.digest), ...ops, Buffer.from([OP_END])]);
}

/** The digest of a disk of DISK_BYTES holding `blocks` ([block, 4096 bytes]) and zeros. */
function digestOf(blocks: Array<[number, Buffer]>, size = DISK_BYTES): string {
  const d = new DiskDigest(size);
  for (const [n, b] of blocks) d.block(n, b);
  return d.digest();
}

test('the tree is listed in a fixed order, regular files only, no symlink followed', async () => {
  const listing = await listTreeFiles(tree);
  expect(listing.files).toEqual([
    { rel: 'etc/empty', size: 0 },
    { rel: 'etc/small', size: 6 },
    { rel: 'etc/zeros', size: 65536 },
    { rel: 'usr/lib/big.so', size: 3 * MiB + 1234 },
    { rel: 'usr/lib/deep/copy', size: 700_000 },
    { rel: 'usr/lib/deep/data', size: 700_000 },
  ]);
  expect((await listTreeFiles(tree)).digest).toBe(listing.digest);
});

test('a hard link is listed at each of its paths; a name that is not UTF-8 and a FIFO are left out', async () => {
  const before = await listTreeFiles(tree);
  fs.linkSync(path.join(tree, 'etc/small'), path.join(tree, 'etc/small-link'));
  fs.writeFileSync(Buffer.from(`${tree}/etc/\xff-latin1`, 'latin1'), 'x');
  execFileSync('mkfifo', [path.join(tree, 'etc/fifo')]);
  const after = await listTreeFiles(tree);
  expect(after.files.map((f) => f.rel)).toEqual([
    'etc/empty',
    'etc/small',
    'etc/small-link',
    'etc/zeros',
    ...before.files.slice(3).map((f) => f.rel),
  ]);
  expect(after.digest).not.toBe(before.digest);
});

test('an ext4 made by mkfs.ext4 -d travels as a small recipe and comes back byte for byte', async () => {
  const disk = path.join(root, 'image.ext4');
  mkfs(tree, disk);
  const listing = await listTreeFiles(tree);
  const packed = await packCheckpointFiles(
    content,
    [{ name: 'image.ext4', path: disk, sparse: true, recipe: { root: tree, tree: listing, base: BASE } }],
    { id: 'c1' },
  );
  const manifest = JSON.parse((await content.read(packed.digest)).toString());
  expect(manifest.layers[0].mediaType).toBe(CHECKPOINT_RECIPE_TYPE);
  const config = JSON.parse((await content.read(packed.blobs[0])).toString());
  expect(config.files[0]).toEqual({
    name: 'image.ext4',
    bytes: DISK_BYTES,
    sparse: false,
    recipe: { base: BASE, digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) },
  });
  // The files' 4.4 MiB of random data go by reference: the recipe is the filesystem's metadata.
  expect(manifest.layers[0].size).toBeLessThan(256 * 1024);

  await expect(unpackCheckpointFiles(content, packed.digest, dir, LIMITS, () => baseOf(tree))).resolves.toEqual({
    record: { id: 'c1' },
  });
  expect(sha256File(path.join(dir, 'image.ext4'))).toBe(sha256File(disk));
  expect(fs.statSync(path.join(dir, 'image.ext4')).blocks * 512).toBeLessThan(16 * MiB);
}, 60_000);

test('without a base tree at hand, a recipe is refused; the same disk as extents still unpacks', async () => {
  const disk = path.join(root, 'image.ext4');
  mkfs(tree, disk);
  const packed = await packCheckpointFiles(
    content,
    [
      {
        name: 'image.ext4',
        path: disk,
        sparse: true,
        recipe: { root: tree, tree: await listTreeFiles(tree), base: BASE },
      },
    ],
    {},
  );
  const err = await unpackCheckpointFiles(content, packed.digest, dir, LIMITS).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(InvalidArgumentError);
  expect((err as Error).message).toMatch(/image.ext4: it is a recipe over a base image, and none is at hand/);
  expect(fs.readdirSync(dir)).toEqual([]);

  const old = await packCheckpointFiles(content, [{ name: 'image.ext4', path: disk, sparse: true }], {});
  expect(JSON.parse((await content.read(old.digest)).toString()).layers[0].mediaType).toBe(CHECKPOINT_SPARSE_TYPE);
  await unpackCheckpointFiles(content, old.digest, dir, LIMITS);
  expect(sha256File(path.join(dir, 'image.ext4'))).toBe(sha256File(disk));
}, 60_000);

test('a recipe rebuilt over a tree whose files differ is refused before a block is read', async () => {
  const disk = path.join(root, 'image.ext4');
  mkfs(tree, disk);
  const packed = await packCheckpointFiles(
    content,
    [
      {
        name: 'image.ext4',
        path: disk,
        sparse: true,
        recipe: { root: tree, tree: await listTreeFiles(tree), base: BASE },
      },
    ],
    {},
  );
  fs.appendFileSync(path.join(tree, 'etc/small'), 'more');
  expect(await refused(packed.digest)).toMatch(/made over other files than this host's copy of its base image has/);
}, 60_000);

test('a recipe naming a file or a block out of range, or a disk block past the disk, is refused', async () => {
  const digest = digestOf([]);
  // Files: 0 empty, 1 small (1 block), 2 zeros (16), 3 big.so (769), 4 and 5 (171 each).
  expect(await refused(await storeRecipe(await recipe([copyOp(0, 6, 0, 1)]), { digest }))).toMatch(
    /image disk recipe: file 6 of 6/,
  );
  expect(await refused(await storeRecipe(await recipe([copyOp(0, 1, 1, 1)]), { digest }))).toMatch(
    /blocks 1\+1 of file 1, which has 1/,
  );
  expect(await refused(await storeRecipe(await recipe([copyOp(0, 3, 700, 70)]), { digest }))).toMatch(
    /blocks 700\+70 of file 3, which has 769/,
  );
  expect(await refused(await storeRecipe(await recipe([copyOp(0, 0, 0, 1)]), { digest }))).toMatch(
    /blocks 0\+1 of file 0, which has 0/,
  );
  const last = DISK_BYTES / RECIPE_BLOCK;
  expect(await refused(await storeRecipe(await recipe([copyOp(last - 1, 3, 0, 2)]), { digest }))).toMatch(
    /blocks 16383\+2 reach beyond the disk's 16384/,
  );
  expect(await refused(await storeRecipe(await recipe([copyOp(2 ** 52, 3, 0, 1)]), { digest }))).toMatch(
    /reach beyond the disk's/,
  );
  const lit = Buffer.alloc(RECIPE_BLOCK, 1);
  expect(
    await refused(await storeRecipe(await recipe([copyOp(10, 3, 0, 5), dataOpHead(12, 1), lit]), { digest })),
  ).toMatch(/an op at disk block 12 out of order or overlapping/);
  expect(await refused(await storeRecipe(await recipe([dataOpHead(0, 300)]), { digest }))).toMatch(
    /a literal of 300 blocks, over 256/,
  );
});

test('a recipe over its size, whose disk does not hash to its digest, or cut short is refused', async () => {
  const lit = crypto.randomBytes(RECIPE_BLOCK);
  const good = await recipe([dataOpHead(5, 1), lit, copyOp(6, 3, 0, 10)]);
  const big = fs.readFileSync(path.join(tree, 'usr/lib/big.so'));
  const blocks: Array<[number, Buffer]> = [[5, lit]];
  for (let k = 0; k < 10; k++) blocks.push([6 + k, big.subarray(k * RECIPE_BLOCK, (k + 1) * RECIPE_BLOCK)]);
  const digest = digestOf(blocks);

  // The honest one unpacks, and is what it says.
  const ok = await storeRecipe(good, { digest });
  await unpackCheckpointFiles(content, ok, dir, LIMITS, () => baseOf(tree));
  const out = fs.readFileSync(path.join(dir, 'image.ext4'));
  expect(out.length).toBe(DISK_BYTES);
  expect(out.subarray(5 * RECIPE_BLOCK, 6 * RECIPE_BLOCK).equals(lit)).toBe(true);
  expect(out.subarray(6 * RECIPE_BLOCK, 16 * RECIPE_BLOCK).equals(big.subarray(0, 10 * RECIPE_BLOCK))).toBe(true);
  fs.rmSync(path.join(dir, 'image.ext4'));

  expect(await refused(await storeRecipe(good, { digest: digestOf([[5, lit]]) }))).toMatch(
    /the disk it makes \(sha256:[0-9a-f]{64}\) is not the one it was made from/,
  );
  expect(await refused(await storeRecipe(good.subarray(0, good.length - 30), { digest }))).toMatch(
    /image disk recipe: truncated before its end/,
  );
  expect(await refused(await storeRecipe(Buffer.concat([good, Buffer.from([1])]), { digest }))).toMatch(
    /1 bytes after its end/,
  );
  // A size over the limit is refused from the config alone; one the recipe contradicts by its header.
  expect(await refused(await storeRecipe(good, { digest, bytes: 2 * DISK_BYTES }))).toMatch(/over its limit/);
  expect(await refused(await storeRecipe(await recipe([], DISK_BYTES / 2), { digest, bytes: DISK_BYTES }))).toMatch(
    /size 33554432, not the declared 67108864/,
  );
});

test('a recipe cannot read through a symlink of the tree', async () => {
  // A tree the receiver lists with a file where the sender had one, then swapped for a symlink:
  // the open beneath the root refuses it.
  const other = path.join(root, 'other');
  fs.cpSync(tree, other, { recursive: true, verbatimSymlinks: true });
  const listing = await listTreeFiles(other);
  fs.rmSync(path.join(other, 'etc/small'));
  fs.symlinkSync('/etc/hostname', path.join(other, 'etc/small'));
  const lit = Buffer.alloc(RECIPE_BLOCK, 0);
  Buffer.from('hello\n').copy(lit);
  const digest = digestOf([[0, lit]]);
  const r = Buffer.concat([
    recipeHeader(DISK_BYTES, listing.files.length, listing.digest),
    copyOp(0, 1, 0, 1),
    Buffer.from([OP_END]),
  ]);
  const err = await unpackCheckpointFiles(content, await storeRecipe(r, { digest }), dir, LIMITS, async () => ({
    root: other,
    tree: listing,
    close: async () => undefined,
  })).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(InvalidArgumentError);
  expect((err as Error).message).toMatch(/file 1 of its base image: .*symlink/);
  expect(fs.readdirSync(dir)).toEqual([]);
});
