/**
 * docker cp, diff, export and commit of a block-mode container (its writable layer is an ext4
 * filesystem that only its guest mounts: src/storage/rootfs.ts), done in the guest by the
 * agent's ARCHIVE processes (guest/agent/archive.c) and checked on the host (./guest-tar.ts).
 *
 * A `GuestFiles` is the container's agent for the time of one request: the VM of a running
 * container, or a short-lived VM with the container's disk and root mounted and nothing of it
 * running (the pod layer's openGuestFiles). Its `release` ends it.
 *
 * What the guest says is checked: a stat is parsed strictly, a tar is re-packed entry by
 * entry, an error line is bounded; sizes are bounded by the container's disk.
 *
 * A path under a volume the guest keeps on the container's disk is served with the volume's
 * mount point as the guest's root (`root`): the path is sent relative to it, and the names
 * reported (the stat's, the tar's top entry) are still those of the path the client gave.
 */
import * as path from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { InvalidArgumentError, NotFoundError, UnavailableError } from '../../errors';
import { withoutDaemonFiles, type Change } from './changes';
import { checkedTar, committedLayer, layerChanges } from './guest-tar';
import { mountFor } from './mounts';
import { goTime, type ContainerPathStat } from './stat';

/**
 * What an ARCHIVE process does (the agent's PV_OP_ARCHIVE; the VM layer's ArchiveRequest
 * less the ids, which the GuestFiles adds).
 */
export type GuestArchiveRequest =
  | { kind: 'stat'; path: string; follow: boolean; root?: string }
  | { kind: 'get'; path: string; follow: boolean; name: string; root?: string }
  | { kind: 'put'; path: string; noOverwriteDirNonDir: boolean; owner?: { uid: number; gid: number }; root?: string }
  | { kind: 'export' }
  | { kind: 'layer'; headersOnly: boolean; freeze?: boolean };

/** An ARCHIVE process as the agent's client gives it (an GuestProcess of the VM layer). */
export interface GuestProcess {
  readonly processId: string;
  readonly stdout: Readable;
  readonly stderr: Readable | null;
  readonly stdin: Writable | null;
  readonly exited: Promise<{ exitCode: number }>;
}

/** Exit statuses of an ARCHIVE process (guest/agent/archive.c); any other: failed, stderr says why. */
export const ArchiveExit = { OK: 0, FAILED: 1, NO_SUCH_PATH: 2, NOT_A_DIRECTORY: 3, REFUSED: 4 } as const;

/** A request's view of a container's guest (see the module comment). */
export interface GuestFiles {
  /** Start an ARCHIVE process in the container (its ids are added here). */
  archive(req: GuestArchiveRequest): Promise<GuestProcess>;
  /** End an ARCHIVE process early (SIGKILL): its reader or writer on the host went away. */
  kill(p: GuestProcess): Promise<void>;
  /** Read a small file of the container (/etc/passwd for copyUIDGID). */
  readFile(path: string, maxBytes: number): Promise<Buffer>;
  /** The request is over: a short-lived VM is stopped. */
  release(): Promise<void>;
}

/** Opens a container's guest for one request (the pod layer provides it). */
export type GuestOpener = (containerId: string) => Promise<GuestFiles>;

/** Longest error line kept from a guest. */
const MAX_ERROR = 1024;
/** How long the guest's tar reader has to end once a client went away mid-upload. */
const ABANDON_GRACE_MS = 10_000;

/** Go's os.FileMode bits from a Linux st_mode (as ./stat.ts from fs.Stats). */
function goMode(mode: number): number {
  const GO = { DIR: 2 ** 31, SYMLINK: 2 ** 27, DEVICE: 2 ** 26, PIPE: 2 ** 25, SOCKET: 2 ** 24, CHAR: 2 ** 21 };
  let m = mode & 0o777;
  const t = mode & 0o170000;
  if (t === 0o040000) m += GO.DIR;
  else if (t === 0o120000) m += GO.SYMLINK;
  else if (t === 0o060000) m += GO.DEVICE;
  else if (t === 0o020000) m += GO.DEVICE + GO.CHAR;
  else if (t === 0o010000) m += GO.PIPE;
  else if (t === 0o140000) m += GO.SOCKET;
  if (mode & 0o4000) m += 2 ** 23;
  if (mode & 0o2000) m += 2 ** 22;
  if (mode & 0o1000) m += 2 ** 20;
  return m;
}

/** The guest's stat answer ("MODE SIZE SEC NSEC\nTARGET"), parsed strictly. */
export function parseGuestStat(text: string, name: string): ContainerPathStat {
  const nl = text.indexOf('\n');
  const m = /^(\d{1,10}) (\d{1,20}) (-?\d{1,20}) (\d{1,9})$/.exec(nl < 0 ? text : text.slice(0, nl));
  const target = nl < 0 ? '' : text.slice(nl + 1);
  if (!m || target.length > 4096 || target.includes('\0') || (target !== '' && !target.startsWith('/')))
    throw new UnavailableError('the guest sent a bad stat');
  const [mode, size, sec, nsec] = [Number(m[1]), Number(m[2]), BigInt(m[3]), BigInt(m[4])];
  const mtimeNs = sec * 1_000_000_000n + nsec;
  const st = { mtimeNs, mtimeMs: Number(mtimeNs / 1_000_000n) } as unknown as Parameters<typeof goTime>[0];
  return { name, size, mode: goMode(mode), mtime: goTime(st), linkTarget: target };
}

/** What a finished ARCHIVE process said: its exit status and first stderr line. */
interface Ended {
  status: { exitCode: number };
  error: string;
}

/** Collect stderr (bounded) and wait for the exit. */
function ended(p: GuestProcess): Promise<Ended> {
  let err = '';
  p.stderr?.on('data', (c: Buffer) => {
    if (err.length < MAX_ERROR) err += c.toString('utf8').slice(0, MAX_ERROR - err.length);
  });
  p.stderr?.on('error', () => undefined);
  return p.exited.then((status) => ({ status, error: err.split('\n')[0].trim() }));
}

/** The error for an ARCHIVE process that did not end with 0 (`notFound`: for exit 2). */
function failure(e: Ended, notFound: () => Error): Error {
  switch (e.status.exitCode) {
    case ArchiveExit.NO_SUCH_PATH:
      return notFound();
    case ArchiveExit.NOT_A_DIRECTORY:
      // dockerd answers this one with a 500.
      return new UnavailableError('extraction point is not a directory');
    case ArchiveExit.REFUSED:
      return new InvalidArgumentError(e.error || 'the archive was refused');
    default:
      return new UnavailableError(`in the guest: ${e.error || `exit status ${e.status.exitCode}`}`);
  }
}

/** The archive operations of one block-mode container (see the module comment). */
export class GuestArchive {
  /**
   * `limits.maxBytes`: file data a layer tar may hold (the disk's size); a tar of the whole
   * root (export, cp of /) holds the image's layers too, so its budget is `treeBytes`.
   */
  constructor(
    private readonly open: GuestOpener,
    private readonly limits: { layerBytes: number; treeBytes: number },
  ) {}

  private async with<T>(id: string, fn: (g: GuestFiles) => Promise<T>): Promise<T> {
    const g = await this.open(id);
    try {
      return await fn(g);
    } finally {
      await g.release();
    }
  }

  private async statIn(g: GuestFiles, p: string, ref: string, root?: string): Promise<ContainerPathStat> {
    const proc = await g.archive({ kind: 'stat', ...at(p, root), follow: followsLast(p) });
    const [out, end] = await Promise.all([collectBounded(proc.stdout, 8192), ended(proc)]);
    if (end.status.exitCode !== ArchiveExit.OK) throw failure(end, () => notFound(p, ref));
    return parseGuestStat(out.toString('utf8'), path.posix.basename(p.replace(/\/+\.?$/, '')) || '/');
  }

  /**
   * HEAD /archive of a path in the container's root, or under the guest's mount at container
   * path `root` (a volume on the container's disk).
   */
  stat(id: string, ref: string, p: string, root?: string): Promise<ContainerPathStat> {
    return this.with(id, (g) => this.statIn(g, p, ref, root));
  }

  /** GET /archive: the stat and a checked tar of the path (the guest is held until it ends); `root` as for stat. */
  async get(id: string, ref: string, p: string, root?: string): Promise<{ stat: ContainerPathStat; tar: Readable }> {
    const g = await this.open(id);
    try {
      const stat = await this.statIn(g, p, ref, root);
      const base = p.endsWith('/.') || stat.name === '/' ? '.' : stat.name;
      const proc = await g.archive({ kind: 'get', ...at(p, root), follow: followsLast(p), name: base });
      return { stat, tar: this.finishing(g, proc, checkedTar(proc.stdout, { maxBytes: this.limits.treeBytes }, base)) };
    } catch (e) {
      await g.release();
      throw e;
    }
  }

  /** PUT /archive: extract `input` into directory `p` of the container's root (`root` as for stat). */
  async put(
    id: string,
    ref: string,
    p: string,
    input: Readable,
    opts: {
      noOverwriteDirNonDir?: boolean;
      owner?: (read: (file: string) => Promise<string | undefined>) => Promise<{ uid: number; gid: number }>;
    },
    root?: string,
  ): Promise<void> {
    await this.with(id, async (g) => {
      const owner = opts.owner ? await opts.owner((f) => readSmall(g, f)) : undefined;
      const proc = await g.archive({
        kind: 'put',
        ...at(p, root),
        noOverwriteDirNonDir: opts.noOverwriteDirNonDir ?? false,
        ...(owner ? { owner } : {}),
      });
      const stdin = proc.stdin;
      if (!stdin) throw new UnavailableError('the guest gave no input stream');
      proc.stdout.resume();
      const end = ended(proc);
      // The client's tar goes to the guest as it comes (the guest's credit paces it); the
      // guest stopping early (a refused entry) closes its side.
      stdin.on('error', () => undefined);
      // The client went away mid-archive: the guest's reader gets the end of its input, so it
      // sees a tar cut short and removes the file it was writing (as for a truncated tar); it
      // is killed only if it has not ended after ABANDON_GRACE_MS.
      let abandoned = false;
      const abandon = () => {
        if (abandoned) return;
        abandoned = true;
        input.unpipe(stdin);
        stdin.end();
        const t = setTimeout(() => void g.kill(proc).catch(() => undefined), ABANDON_GRACE_MS);
        void end.then(
          () => clearTimeout(t),
          () => clearTimeout(t),
        );
      };
      input.on('error', abandon);
      input.on('aborted', abandon);
      input.pipe(stdin);
      const e = await end;
      input.unpipe(stdin);
      if (e.status.exitCode !== ArchiveExit.OK) {
        input.resume();
        throw failure(e, () => notFound(p, ref));
      }
    });
  }

  /** Run `fn` with a reader of the container's small files (its /etc, for an owner). */
  withReader<T>(id: string, fn: (read: (file: string) => Promise<string | undefined>) => Promise<T>): Promise<T> {
    return this.with(id, (g) => fn((f) => readSmall(g, f)));
  }

  /** GET /changes: the writable layer's changes against the image (`lowerDirs`, top first). */
  async changes(id: string, lowerDirs: string[], hidden: readonly string[]): Promise<Change[]> {
    return this.with(id, async (g) => {
      const proc = await g.archive({ kind: 'layer', headersOnly: true });
      const end = ended(proc);
      const list = await layerChanges(proc.stdout, lowerDirs, { maxBytes: 0 }).catch(async (e: unknown) => {
        const x = await end;
        throw x.status.exitCode !== ArchiveExit.OK ? failure(x, () => new UnavailableError(x.error)) : e;
      });
      const x = await end;
      if (x.status.exitCode !== ArchiveExit.OK) throw failure(x, () => new UnavailableError(x.error));
      return withoutDaemonFiles(list, hidden);
    });
  }

  /** GET /export: a checked tar of the whole root. */
  async export(id: string): Promise<Readable> {
    const g = await this.open(id);
    try {
      const proc = await g.archive({ kind: 'export' });
      return this.finishing(g, proc, checkedTar(proc.stdout, { maxBytes: this.limits.treeBytes }));
    } catch (e) {
      await g.release();
      throw e;
    }
  }

  /**
   * The writable layer as an image layer tar for a commit (what dockerd leaves out is left
   * out), and how many entries it has once it has ended. The guest is held until it ends.
   * `freeze`: the container's processes are frozen while the layer is read (commit's pause:
   * the VM itself cannot be paused, its agent does the work).
   */
  async layer(
    id: string,
    lowerDirs: string[],
    freeze = false,
  ): Promise<{ stream: Readable; entries: Promise<number> }> {
    const g = await this.open(id);
    try {
      const proc = await g.archive({ kind: 'layer', headersOnly: false, freeze });
      const t = committedLayer(proc.stdout, lowerDirs, { maxBytes: this.limits.layerBytes });
      return { stream: this.finishing(g, proc, t.stream), entries: t.entries };
    } catch (e) {
      await g.release();
      throw e;
    }
  }

  /**
   * `out` (made from proc's stdout) until it ends: then the process's exit is checked (a
   * failed one fails the stream) and the guest released.
   */
  private finishing(g: GuestFiles, proc: GuestProcess, out: Readable): Readable {
    const end = ended(proc);
    end.catch(() => undefined);
    const res = new PassThrough({ highWaterMark: 256 * 1024 });
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      void g.release().catch(() => undefined);
    };
    out.on('error', async (e: Error) => {
      const x = await end.catch(() => undefined);
      res.destroy(x && x.status.exitCode !== ArchiveExit.OK ? failure(x, () => new UnavailableError(x.error)) : e);
      release();
    });
    out.on('end', async () => {
      const x = await end.catch((e: Error) => e);
      if (x instanceof Error) res.destroy(x);
      else if (x.status.exitCode !== ArchiveExit.OK) res.destroy(failure(x, () => new UnavailableError(x.error)));
      else res.end();
      release();
    });
    out.on('data', (c: Buffer) => {
      if (!res.write(c)) out.pause();
    });
    res.on('drain', () => out.resume());
    res.on('close', () => {
      if (!res.writableFinished) {
        // The reader went away: the process would wait for credit forever.
        out.destroy();
        void g.kill(proc).catch(() => undefined);
      }
      release();
    });
    return res;
  }
}

/** The trailing form dockerd keeps: a path ending in `/` or `/.` follows its last symlink. */
function followsLast(p: string): boolean {
  return p.endsWith('/') || p.endsWith('/.');
}

/**
 * What the guest is asked for container path `p`: `p` itself, or with a `root` (a mount point
 * `p` is at or under) `p` relative to it, as `/` and the rest (trailing `/` and `/.` kept).
 */
function at(p: string, root?: string): { path: string; root?: string } {
  if (root === undefined) return { path: p };
  const hit = mountFor(p, [{ target: root }]);
  if (!hit) throw new InvalidArgumentError(`${p} is not under ${root}`);
  return { path: hit.rel, root: path.posix.normalize(root).replace(/\/+$/, '') };
}

function notFound(p: string, ref: string): NotFoundError {
  return new NotFoundError(`Could not find the file ${p} in container ${ref}`);
}

/** A small file of the container, or undefined when it is missing or too large. */
async function readSmall(g: GuestFiles, file: string): Promise<string | undefined> {
  try {
    return (await g.readFile(file, 1 << 20)).toString('utf8');
  } catch {
    return undefined;
  }
}

/** All of a stream up to `max` bytes (more fails it). */
function collectBounded(s: Readable, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    s.on('data', (c: Buffer) => {
      n += c.length;
      if (n > max) {
        s.destroy();
        reject(new UnavailableError('the guest sent too much'));
      } else chunks.push(c);
    });
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
}
