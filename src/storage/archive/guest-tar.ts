/**
 * Tar streams that a guest made (block mode: the agent's ARCHIVE processes pack a container's
 * files in the VM, ./guest.ts), checked and re-packed on the host before anything uses them.
 * Nothing in them is trusted: the archive is parsed with tar-stream, and every entry must
 *   - have a relative name with no `..` component, no NUL, at most PATH_MAX bytes, and lie
 *     under the expected top (`base`, for docker cp);
 *   - be a file, directory, symlink, hard link (to an earlier entry of the same archive),
 *     character or block device or FIFO; anything else fails the stream;
 *   - fit the byte budget (`maxBytes`: file data in all) and entry budget.
 * What comes out is a new tar written by the host (tar-stream's pack), never the guest's bytes.
 *
 * Three uses: `checkedTar` (docker cp out, export), `layerChanges` (docker diff, from a
 * headers-only layer tar) and `committedLayer` (docker commit: the layer less what dockerd
 * never commits, as ./../commit-tar.ts does for a layer on the host).
 */
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { UnavailableError } from '../../errors';
import { packEntry, writeEntry, type TarHeader } from '../tar-pack';
import { existsInLayers, type Change } from './changes';

const PATH_MAX = 4096;
const TYPES = new Set(['file', 'directory', 'symlink', 'link', 'character-device', 'block-device', 'fifo']);
const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

/** Budgets of one guest tar. */
export interface GuestTarLimits {
  /** File data in all, bytes. */
  maxBytes: number;
  /** Entries in all (default 4,000,000). */
  maxEntries?: number;
}

/** The error a guest's malformed or over-budget tar gives (the guest failed, not the client). */
function bad(why: string): UnavailableError {
  return new UnavailableError(`the guest sent a bad archive: ${why}`);
}

/** `name` without a trailing slash, checked as an entry name; throws when it is not one. */
export function checkEntryName(name: string, base?: string): string {
  const n = name.replace(/\/+$/, '');
  if (n === '' || n.includes('\0') || Buffer.byteLength(n) > PATH_MAX)
    throw bad(`bad entry name ${JSON.stringify(name)}`);
  if (n.startsWith('/') || n.split('/').some((c) => c === '..' || c === ''))
    throw bad(`entry name ${JSON.stringify(name)} leaves the archive`);
  if (base !== undefined && n !== base && !n.startsWith(`${base}/`))
    throw bad(`entry ${JSON.stringify(name)} is not under ${JSON.stringify(base)}`);
  return n;
}

/** One checked entry: its header (name without trailing slash) and body. */
interface Checked {
  name: string;
  header: tar.Header;
  body: AsyncIterable<Buffer> & { resume(): unknown };
}

/** The entries of guest tar `input`, checked (see the module comment), one at a time. */
async function* checkedEntries(input: Readable, limits: GuestTarLimits, base?: string): AsyncGenerator<Checked> {
  const extract = tar.extract();
  input.on('error', (e) => extract.destroy(e));
  input.pipe(extract);
  const seen = new Set<string>();
  let bytes = 0;
  let entries = 0;
  const maxEntries = limits.maxEntries ?? 4_000_000;
  try {
    for await (const entry of extract) {
      const h = entry.header;
      if (++entries > maxEntries) throw bad(`more than ${maxEntries} entries`);
      if (!TYPES.has(h.type ?? '')) throw bad(`entry ${JSON.stringify(h.name)} has type ${String(h.type)}`);
      const name = checkEntryName(h.name, base);
      const size = h.type === 'file' ? (h.size ?? 0) : 0;
      if (!Number.isSafeInteger(size) || size < 0) throw bad(`entry ${JSON.stringify(h.name)} has a bad size`);
      bytes += size;
      if (bytes > limits.maxBytes) throw bad(`more than ${limits.maxBytes} bytes`);
      const link = h.linkname ?? '';
      if ((h.type === 'symlink' || h.type === 'link') && (link === '' || link.includes('\0') || link.length > PATH_MAX))
        throw bad(`entry ${JSON.stringify(h.name)} has a bad link target`);
      if (h.type === 'link' && !seen.has(checkEntryName(link, base)))
        throw bad(`hard link ${JSON.stringify(h.name)} to ${JSON.stringify(link)}, which the archive lacks`);
      seen.add(name);
      yield { name, header: h, body: entry as unknown as Checked['body'] };
      entry.resume(); // what the consumer left unread
    }
  } finally {
    input.unpipe(extract);
    extract.destroy();
    input.destroy();
  }
}

/** The host's header for a checked entry. */
function hostHeader(c: Checked, name = c.name): TarHeader {
  const h = c.header;
  const out: TarHeader = {
    name: h.type === 'directory' ? `${name}/` : name,
    type: h.type,
    mode: (h.mode ?? 0o644) & 0o7777,
    uid: h.uid ?? 0,
    gid: h.gid ?? 0,
    mtime: h.mtime ?? new Date(0),
    size: h.type === 'file' ? (h.size ?? 0) : 0,
  };
  if (h.type === 'symlink' || h.type === 'link') out.linkname = h.linkname ?? '';
  if (h.type === 'character-device' || h.type === 'block-device') {
    out.devmajor = h.devmajor ?? 0;
    out.devminor = h.devminor ?? 0;
  }
  return out;
}

/** Copy one entry (header and body) into `pack`. */
async function copyEntry(pack: tar.Pack, c: Checked, header: TarHeader): Promise<void> {
  if (header.type !== 'file' || !header.size) {
    c.body.resume();
    await packEntry(pack, header, Buffer.alloc(0)).done;
    return;
  }
  const { entry, done } = packEntry(pack, header);
  let got = 0;
  for await (const chunk of c.body) {
    got += chunk.length;
    await writeEntry(entry, chunk);
  }
  if (got !== header.size) throw bad(`entry ${JSON.stringify(c.name)} is short`);
  (entry as unknown as { end(): void }).end();
  await done;
}

/** Run `fill` into a new pack; the returned stream fails with fill's error. */
function packing(fill: (pack: tar.Pack) => Promise<void>): Readable {
  const pack = tar.pack();
  void fill(pack).then(
    () => pack.finalize(),
    (e: Error) => pack.destroy(e),
  );
  return Readable.from(pack);
}

/**
 * Guest tar `input` checked and re-packed by the host. With `base`, every entry must be
 * `base` or under it (docker cp of one path).
 */
export function checkedTar(input: Readable, limits: GuestTarLimits, base?: string): Readable {
  return packing(async (pack) => {
    for await (const c of checkedEntries(input, limits, base)) await copyEntry(pack, c, hostHeader(c));
  });
}

/** Where a walk of a layer tar is: the directories above the current entry. */
interface Dir {
  name: string;
  /** Everything below is new (the directory is not in the image, or is opaque). */
  belowNew: boolean;
  inLower: boolean;
  opaque: boolean;
  /** Commit: the directory's entry is in the layer already. */
  written: boolean;
  header?: TarHeader;
  /** Names of its children seen (commit's /etc rule). */
  children: string[];
}

function splitWhiteout(name: string): { dir: string; base: string } {
  const i = name.lastIndexOf('/');
  return { dir: i < 0 ? '' : name.slice(0, i), base: i < 0 ? name : name.slice(i + 1) };
}

/** Pop the directories of `stack` that are not above `name`; `onPop` sees each. */
function popTo(stack: Dir[], name: string, onPop: (d: Dir) => void): void {
  while (stack.length && !name.startsWith(`${stack[stack.length - 1].name}/`)) onPop(stack.pop() as Dir);
}

/**
 * docker diff from a layer tar of the guest (ARCHIVE's LAYER, headers only): `.wh.X` is X
 * deleted, an entry that also exists in the image (`lowerDirs`, top first, on the host) is
 * modified, any other added; everything below an added or opaque directory is added. The
 * same rules as ./changes.ts applies to an upper directory on the host, in the same order.
 */
export async function layerChanges(input: Readable, lowerDirs: string[], limits: GuestTarLimits): Promise<Change[]> {
  const out: Change[] = [];
  const stack: Dir[] = [];
  const belowNew = () => stack.length > 0 && stack[stack.length - 1].belowNew;
  for await (const c of checkedEntries(input, limits)) {
    c.body.resume();
    popTo(stack, c.name, () => undefined);
    const { dir, base } = splitWhiteout(c.name);
    if (base === OPAQUE) {
      const top = stack[stack.length - 1];
      if (top && top.name === dir) top.belowNew = true;
      continue;
    }
    if (base.startsWith(WHITEOUT)) {
      if (!belowNew()) out.push({ Path: `/${dir ? `${dir}/` : ''}${base.slice(WHITEOUT.length)}`, Kind: 2 });
      continue;
    }
    const inLower = !belowNew() && (await existsInLayers(lowerDirs, c.name.split('/')));
    out.push({ Path: `/${c.name}`, Kind: inLower ? 0 : 1 });
    if (c.header.type === 'directory')
      stack.push({ name: c.name, belowNew: !inLower, inLower, opaque: false, written: false, children: [] });
  }
  return out;
}

/** Files the pod layer writes into every root and dockerd keeps out of a commit. */
const RUNTIME_FILES = new Set(['etc/hostname', 'etc/hosts', 'etc/resolv.conf']);
/** Mount points the guest makes when an image lacks them (dockerd's init layer has them). */
const RUNTIME_DIRS = new Set(['dev', 'proc', 'sys']);

/**
 * docker commit from a layer tar of the guest (ARCHIVE's LAYER): the image layer, with what
 * ../commit-tar.ts leaves out of a layer on the host left out here too: the runtime files,
 * a directory of the image with nothing kept under it (a copy-up only), and, in an image
 * that lacks them, an empty /dev, /proc or /sys and an /etc holding only the runtime files.
 * Whiteouts below a new directory are dropped. Resolves with the stream and a promise of
 * how many entries it wrote (0: nothing changed), known once the stream has ended.
 */
export function committedLayer(
  input: Readable,
  lowerDirs: string[],
  limits: GuestTarLimits,
): { stream: Readable; entries: Promise<number> } {
  let count = 0;
  let settle: (n: number) => void = () => undefined;
  const entries = new Promise<number>((resolve) => (settle = resolve));
  const stream = packing(async (pack) => {
    const stack: Dir[] = [];
    const empty = Buffer.alloc(0);
    /** A directory's entry (and its opaque marker) into the layer. */
    const writeDir = async (d: Dir) => {
      d.written = true;
      count++;
      const header = d.header as TarHeader;
      await packEntry(pack, header, empty).done;
      if (!d.opaque) return;
      count++;
      await packEntry(pack, { ...header, name: `${d.name}/${OPAQUE}`, type: 'file', size: 0, mode: 0o600 }, empty).done;
    };
    const writeAncestors = async () => {
      for (const d of stack) if (!d.written) await writeDir(d);
    };
    /** A directory whose subtree is done: written now when it is a change of its own. */
    const closed: Dir[] = [];
    const settleDir = async (d: Dir) => {
      if (d.written) return;
      if (d.inLower && !d.opaque) return; // a copy-up only
      const top = !d.name.includes('/');
      if (top && RUNTIME_DIRS.has(d.name)) return;
      if (top && d.name === 'etc' && d.children.length > 0 && d.children.every((x) => RUNTIME_FILES.has(`etc/${x}`)))
        return;
      // Its parents are on the stack: written first, so the layer keeps parents before children.
      await writeAncestors();
      await writeDir(d);
    };
    const popAndSettle = async (name: string) => {
      popTo(stack, name, (d) => closed.push(d));
      while (closed.length) await settleDir(closed.shift() as Dir);
    };
    for await (const c of checkedEntries(input, limits)) {
      await popAndSettle(c.name);
      const parent = stack[stack.length - 1];
      const belowNew = parent ? parent.belowNew : false;
      const { dir, base } = splitWhiteout(c.name);
      if (parent && parent.name === dir) parent.children.push(base);
      if (base === OPAQUE) {
        if (parent && parent.name === dir && parent.inLower) {
          parent.opaque = true;
          parent.belowNew = true;
        }
        c.body.resume();
        continue;
      }
      if (base.startsWith(WHITEOUT)) {
        c.body.resume();
        if (belowNew) continue;
        await writeAncestors();
        count++;
        await copyEntry(pack, c, { ...hostHeader(c), type: 'file', size: 0, mode: 0o600 });
        continue;
      }
      if (RUNTIME_FILES.has(c.name)) {
        c.body.resume();
        continue;
      }
      if (c.header.type === 'directory') {
        c.body.resume();
        const inLower = !belowNew && (await existsInLayers(lowerDirs, c.name.split('/')));
        stack.push({
          name: c.name,
          belowNew: !inLower,
          inLower,
          opaque: false,
          written: false,
          header: hostHeader(c),
          children: [],
        });
        continue;
      }
      await writeAncestors();
      count++;
      await copyEntry(pack, c, hostHeader(c));
    }
    await popAndSettle('\0');
    settle(count);
  });
  stream.once('close', () => settle(count));
  return { stream, entries };
}
