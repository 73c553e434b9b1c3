/**
 * The regular files of an image's merged tree (the host's read-only mount of its layers,
 * ../layer-mounts.ts) in a fixed order, for an image disk's recipe (./recipe.ts): the sender and
 * the receiver list the same layers the same way, so a file's index in the list names the same
 * file on both sides.
 *
 * The order: depth first from the root, each directory's entries sorted by their name's bytes,
 * a subdirectory's files listed where its name sorts. Only regular files are listed, with their
 * size; a symlink is never followed (nor listed), a directory deeper than MAX_TREE_DEPTH, a name
 * that is not valid UTF-8 and anything past MAX_TREE_FILES are left out, the same on both
 * sides. The walk holds each directory open and reaches its entries through
 * `/proc/self/fd/<fd>/<name>` with O_NOFOLLOW (src/util/beneath.ts), and files are opened the same
 * way (TreeOpener), so nothing in the tree can lead a read outside it.
 *
 * A digest of the listing (every path and size, in order) lets the receiver tell a tree that
 * differs from the sender's before it reads a byte of it.
 */
import * as fs from 'node:fs';
import * as crypto from 'node:crypto';
import { at, openChild, ROOT_FLAGS } from '../../util/beneath';

/** Deepest directory walked (the root is depth 0). */
export const MAX_TREE_DEPTH = 128;
/** Most files listed. */
export const MAX_TREE_FILES = 1_000_000;

/** A regular file of the tree: its path below the root (`/`-separated) and its size. */
export interface TreeFile {
  rel: string;
  size: number;
}

/** A tree's files in order, and the digest of the listing. */
export interface TreeListing {
  files: TreeFile[];
  /** sha256 (hex) of each file's path, a NUL and its size (u64 big-endian), in order. */
  digest: string;
}

/** Whether `name` (as readdir gave its bytes) is valid UTF-8 that round-trips. */
function utf8Name(raw: Buffer): string | undefined {
  const s = raw.toString('utf8');
  return Buffer.from(s, 'utf8').equals(raw) ? s : undefined;
}

/** The kind of entry `name` of the directory `dir` holds, never following it. */
async function kindOf(dir: fs.promises.FileHandle, name: string, d: fs.Dirent): Promise<fs.Stats | 'dir' | 'other'> {
  if (d.isDirectory()) return 'dir';
  if (d.isSymbolicLink() || d.isBlockDevice() || d.isCharacterDevice() || d.isFIFO() || d.isSocket()) return 'other';
  const st = await fs.promises.lstat(at(dir, name));
  if (st.isDirectory()) return 'dir';
  return st.isFile() ? st : 'other';
}

/** The regular files below `root` (a directory the daemon mounted), in the order above. */
export async function listTreeFiles(root: string): Promise<TreeListing> {
  const files: TreeFile[] = [];
  const hash = crypto.createHash('sha256');
  const size = Buffer.alloc(8);
  async function walk(dir: fs.promises.FileHandle, prefix: string, depth: number): Promise<void> {
    const entries = (await fs.promises.readdir(at(dir), {
      withFileTypes: true,
      encoding: 'buffer',
    })) as unknown as (fs.Dirent & { name: Buffer })[];
    entries.sort((a, b) => Buffer.compare(a.name, b.name));
    for (const e of entries) {
      if (files.length >= MAX_TREE_FILES) return;
      const name = utf8Name(e.name);
      if (name === undefined) continue;
      const kind = await kindOf(dir, name, e);
      const rel = prefix + name;
      if (kind === 'dir') {
        if (depth + 1 > MAX_TREE_DEPTH) continue;
        const sub = await openChild(dir, name, 'dir', fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
        try {
          await walk(sub, `${rel}/`, depth + 1);
        } finally {
          await sub.close();
        }
      } else if (kind !== 'other') {
        files.push({ rel, size: kind.size });
        hash.update(rel);
        size.writeBigUInt64BE(BigInt(kind.size));
        hash.update(Buffer.from([0]));
        hash.update(size);
      }
    }
  }
  const top = await fs.promises.open(root, ROOT_FLAGS);
  try {
    await walk(top, '', 0);
  } finally {
    await top.close();
  }
  return { files, digest: hash.digest('hex') };
}

/** Directory handles kept open by a TreeOpener. */
const DIR_CACHE = 32;

/**
 * Opens files of a listed tree for reading, each path component opened by its parent's handle
 * with O_NOFOLLOW (a symlink anywhere fails the open), the last few directories kept open:
 * consecutive files of one directory cost one open each.
 */
export class TreeOpener {
  private readonly dirs = new Map<string, fs.promises.FileHandle>();
  private root?: fs.promises.FileHandle;

  constructor(private readonly rootPath: string) {}

  /** The directory `rel` ('' for the root), opened along its components. */
  private async dir(rel: string): Promise<fs.promises.FileHandle> {
    if (rel === '') return (this.root ??= await fs.promises.open(this.rootPath, ROOT_FLAGS));
    const cached = this.dirs.get(rel);
    if (cached) {
      this.dirs.delete(rel);
      this.dirs.set(rel, cached);
      return cached;
    }
    const cut = rel.lastIndexOf('/');
    const parent = await this.dir(cut < 0 ? '' : rel.slice(0, cut));
    const fh = await openChild(parent, rel.slice(cut + 1), 'dir', fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    this.dirs.set(rel, fh);
    while (this.dirs.size > DIR_CACHE) {
      const [oldest, h] = this.dirs.entries().next().value as [string, fs.promises.FileHandle];
      this.dirs.delete(oldest);
      await h.close();
    }
    return fh;
  }

  /** Regular file `rel` opened read-only (SharePathError for a symlink or another kind). */
  async open(rel: string): Promise<fs.promises.FileHandle> {
    const cut = rel.lastIndexOf('/');
    const parent = await this.dir(cut < 0 ? '' : rel.slice(0, cut));
    return openChild(parent, rel.slice(cut + 1), 'file', fs.constants.O_RDONLY);
  }

  /** Close every handle kept. */
  async close(): Promise<void> {
    for (const h of this.dirs.values()) await h.close().catch(() => undefined);
    this.dirs.clear();
    await this.root?.close().catch(() => undefined);
    this.root = undefined;
  }
}
