/**
 * A guest's path below a share directory resolved in one openat2(2) call, for work a guest
 * starts by itself (a socket it connects to or binds, a file it watches: src/pod/network/share-sockets.ts,
 * src/pod/network/share-events.ts), where ./beneath.ts's walk would cost the host a few system calls
 * per component, in libuv's thread pool that every `fs` call of the daemon shares: a path
 * 1,800 levels deep (the most a 4 KiB path holds) was ~5,400 calls per event.
 *
 * Node has no openat2. A long-lived perl helper (./line-helper.ts, as the mount helper: perl
 * is Essential in Debian, nothing to build, a request is a pipe round trip) opens the share
 * root and calls openat2(root, rel, {O_PATH|O_CLOEXEC, RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|
 * RESOLVE_NO_MAGICLINKS}) and answers the fd's number; the daemon opens that fd through
 * /proc/<helper>/fd/<n> (root may open another process's fds, as the mount helper's callers
 * do), checks its kind with fstat, and has the helper close its copy. The kernel does the
 * whole walk under its own rules: no symlink anywhere (a trailing one fails too: no
 * O_NOFOLLOW, so the helper never holds a symlink whose reopening could follow it), nothing
 * above the root, no /proc magic link. RESOLVE_NO_XDEV is not set: the volume share holds the
 * host's bind mounts of the user's sources (src/pod/mounts/mounts.ts), and a socket or a watched file
 * in one of them is what the guest may reach; the guest itself cannot mount on the host.
 *
 * Measured on the project's machines (2 cores, a socket at the end of a 1,800-level path, the
 * resolving node process under `strace -f -c`, all threads): the walk took a median 244 ms and per
 * resolution ~1,800 each of openat, statx and close and ~20,000 futex calls (the thread pool's
 * hand-offs); this takes 0.7 ms: one openat2 and one open in the helper, 3 opens, 2 statx and 4
 * closes in the daemon, and ~25 futex calls. One helper serves every VM, and each VM has at
 * most src/pod/network/share-sockets.ts's MAX_EVENTS_IN_FLIGHT requests in it.
 *
 * A C helper passing the fd back over SCM_RIGHTS would save the reopen, but Node cannot take
 * an fd from a message; the perl line protocol is the one the daemon already speaks, and
 * needs nothing built.
 *
 * Bounds, before any system call: a path longer than MAX_GUEST_PATH bytes is refused
 * (ENAMETOOLONG, as the kernel would). Where openat2 is missing (Linux before 5.6: ENOSYS, or
 * no helper) the component walk of ./beneath.ts is the fallback, for at most
 * MAX_WALK_COMPONENTS components; a deeper path is refused there.
 */
import * as fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import { PerlLineHelper } from './line-helper';
import {
  O_PATH,
  openBeneath,
  openChild,
  relComponents,
  ROOT_FLAGS,
  SharePathError,
  joinBeneath,
  type BeneathKind,
  type BeneathPath,
} from './beneath';

/** The longest guest path (bytes) resolved: PATH_MAX less its NUL. */
export const MAX_GUEST_PATH = 4095;

/** Components the fallback walk takes at most (a path deeper than that is refused). */
export const MAX_WALK_COMPONENTS = 64;

const RESOLVE_NO_MAGICLINKS = 0x02;
const RESOLVE_NO_SYMLINKS = 0x04;
const RESOLVE_BENEATH = 0x08;
const O_CLOEXEC = 0o2000000;
const { O_DIRECTORY } = fs.constants;
/** openat2's number: the same on every architecture (the unified table, Linux 5.6). */
const SYS_OPENAT2 = 437;
const REQUEST_TIMEOUT_MS = 10_000;

const SCRIPT = [
  '$| = 1;',
  'use POSIX ();',
  'while (my $l = <STDIN>) {',
  '  chomp $l;',
  '  my @f = split / /, $l, -1;',
  '  if ($f[0] eq "c") { POSIX::close(0 + $f[1]); print "0\\n"; next; }',
  '  if ($f[0] ne "o") { print "22 bad request\\n"; next; }',
  `  my $d = POSIX::open(pack("H*", $f[1]), ${ROOT_FLAGS | O_CLOEXEC});`,
  '  if (!defined $d) { print 0 + $!, " $!\\n"; next; }',
  '  my $how = pack("QQQ", 0 + $f[3], 0, 0 + $f[4]);',
  `  my $fd = syscall(${SYS_OPENAT2}, 0 + $d, pack("H*", $f[2]), $how, 24);`,
  '  my $e = $!; POSIX::close($d); $! = $e;',
  '  print $fd >= 0 ? "0 $fd\\n" : (0 + $!) . " $!\\n";',
  '}',
].join('\n');

let helper: PerlLineHelper | undefined;
/** openat2 answered ENOSYS once: walk from then on. */
let noOpenat2 = false;

function errnoName(n: number): string | undefined {
  for (const [k, v] of Object.entries(osConstants.errno)) if (v === n) return k;
  return undefined;
}

/** What a failed resolution rejects with: SharePathError for a path the host refuses, else the system's error code. */
function failure(p: BeneathPath, errno: number, message: string): Error {
  const code = errnoName(errno);
  if (code === 'ELOOP' || code === 'EXDEV' || code === 'ENOTDIR')
    return new SharePathError(joinBeneath(p), 'a symlink, not a directory, or outside the share', code);
  return Object.assign(new Error(`${joinBeneath(p)}: ${message}`), { code, errno });
}

/**
 * Open `p` as openBeneath does (an O_PATH handle of the kind asked; SharePathError for a
 * symlink, `..` or a wrong kind), resolved in one openat2 call (see the module comment).
 */
export async function openGuestPath(p: BeneathPath, kind: BeneathKind = 'dir'): Promise<fs.promises.FileHandle> {
  const rel = Buffer.from(p.rel);
  if (rel.length > MAX_GUEST_PATH) throw new SharePathError(p.root, 'a guest path too long', 'ENAMETOOLONG');
  const parts = relComponents(p.rel);
  if (noOpenat2) return walk(p, parts.length, kind);
  helper ??= new PerlLineHelper(SCRIPT, 'openat2 helper', REQUEST_TIMEOUT_MS);
  const flags = O_PATH | O_CLOEXEC | (kind === 'dir' ? O_DIRECTORY : 0);
  const resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  let answer: string;
  let pid: number;
  try {
    ({ answer, pid } = await helper.query(
      `o ${Buffer.from(p.root).toString('hex')} ${rel.toString('hex')} ${flags} ${resolve}`,
      joinBeneath(p),
    ));
  } catch (e) {
    const errno = (e as { errno?: number }).errno;
    if (errno === undefined || errno === osConstants.errno.ENOSYS) {
      // No perl, or a kernel without openat2.
      noOpenat2 = errno === osConstants.errno.ENOSYS;
      return walk(p, parts.length, kind);
    }
    throw failure(p, errno, (e as Error).message);
  }
  const n = Number(answer);
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(`/proc/${pid}/fd/${n}`, O_PATH | (kind === 'dir' ? O_DIRECTORY : 0));
  } finally {
    // Only to the helper that opened it: a restarted one's fd n is another request's.
    if (helper?.pid === pid) void helper.request(`c ${n}`, 'close').catch(() => undefined);
  }
  try {
    const st = await fh.stat();
    if (!kindIs(st, kind)) throw new SharePathError(joinBeneath(p), 'of another kind than the host wants');
  } catch (e) {
    await fh.close();
    throw e;
  }
  return fh;
}

/**
 * The directory holding `p`'s last component, resolved as openGuestPath does (the share root
 * itself for a one-component path), with that last name.
 */
export async function openGuestParent(p: BeneathPath): Promise<{ parent: fs.promises.FileHandle; name: string }> {
  const slash = p.rel.lastIndexOf('/');
  const name = p.rel.slice(slash + 1);
  relComponents(name);
  const parent =
    slash < 0
      ? await fs.promises.open(p.root, ROOT_FLAGS)
      : await openGuestPath({ root: p.root, rel: p.rel.slice(0, slash) }, 'dir');
  return { parent, name };
}

/** The last component of `p`, opened in its held parent with openChild (O_PATH, no symlink, the kind asked). */
export async function openGuestFile(p: BeneathPath, kind: BeneathKind): Promise<fs.promises.FileHandle> {
  const { parent, name } = await openGuestParent(p);
  try {
    return await openChild(parent, name, kind, O_PATH);
  } finally {
    await parent.close();
  }
}

function kindIs(st: fs.Stats, kind: BeneathKind): boolean {
  if (kind === 'dir') return st.isDirectory();
  if (kind === 'file') return st.isFile();
  if (kind === 'socket') return st.isSocket();
  return st.isDirectory() || st.isFile();
}

/** The fallback: ./beneath.ts's walk, for a shallow enough path. */
function walk(p: BeneathPath, depth: number, kind: BeneathKind): Promise<fs.promises.FileHandle> {
  if (depth > MAX_WALK_COMPONENTS)
    return Promise.reject(new SharePathError(joinBeneath(p), 'a guest path too deep to walk', 'ENAMETOOLONG'));
  return openBeneath(p, { kind });
}

/** Stop the helper (tests); the next resolution starts another. */
export function closeResolveHelper(): void {
  helper?.close();
  helper = undefined;
  noOpenat2 = false;
}

/** The helper's pid while one runs (tests). */
export function resolveHelperPid(): number | undefined {
  return helper?.pid;
}
