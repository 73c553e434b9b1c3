/**
 * mount(2) and umount2(2) for the daemon without a process per call.
 *
 * Node has no mount call, and spawning mount(8) costs 2.5-7 ms per mount (fork and exec from a
 * large process, then libmount reading the mount table), on the path of every container start.
 * A Mounter keeps one small perl process (./line-helper.ts) that makes the system calls for
 * it: ~0.3 ms a request.
 *
 * Wire format, one request per line on the helper's stdin, every string field hex-encoded (so
 * no path can break the framing):
 *
 *   m <cwd> <source> <target> <fstype> <flags> <data>      mount(2), after chdir(cwd) when set
 *   u <cwd> <target> <flags>                               umount2(2)
 *   t <cwd> <source> <target> <attr> <propagation>            a copy of the tree at source (open_tree(2),
 *                                                          recursive), given mount attributes
 *                                                          (mount_setattr(2)) while still detached,
 *                                                          then attached at target (move_mount(2))
 *
 * and one answer per request, in order: `0`, or `<errno> <message>`. An empty field is passed
 * as a NULL pointer. The helper only ever gets requests from this module; it is restarted on
 * the next request when it died, and killed when a request takes longer than the timeout.
 * On architectures whose syscall numbers are not known here, mount(8)/umount(8) are spawned.
 *
 * The module also reads the mount table (/proc/self/mountinfo) for the daemon: isMountPoint,
 * mountsBelow.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { UnavailableError } from '../errors';
import { PerlLineHelper } from './line-helper';

/** mount(2) flags used by podvisor. */
/** mount(2): set-user-ID and set-group-ID bits are not honoured for programs run from it. */
export const MS_NOSUID = 0x2;
/** mount(2): device nodes on it cannot be opened. */
export const MS_NODEV = 0x4;
export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
/** mount(2): make the mount a slave of its peer group (propagation flag). */
export const MS_SLAVE = 0x80000;
/** umount2(2): detach now, free when no longer busy. */
export const MNT_DETACH = 2;
/** umount2(2): do not follow a symlink in the last component. */
export const UMOUNT_NOFOLLOW = 8;
/** mount_setattr(2) attributes. */
export const MOUNT_ATTR_RDONLY = 0x1;
export const MOUNT_ATTR_NOSUID = 0x2;
export const MOUNT_ATTR_NODEV = 0x4;

/** One mount(2) call. */
export interface MountRequest {
  source: string;
  target: string;
  /** Filesystem type (omit for a bind mount). */
  fstype?: string;
  flags?: number;
  /** The filesystem's option string (e.g. overlay's lowerdir=...). */
  data?: string;
  /** Working directory for relative paths in `data` (overlay's short layer links). */
  cwd?: string;
}

/** A copy of the tree at `source` attached at `target` (Mounter.bindTree). */
export interface BindTreeRequest {
  source: string;
  /** Where it goes: typically `/proc/<pid>/fd/<fd>` of a held directory or file (./beneath.ts). */
  target: string;
  /** Read-only, every mount of the copy, before it is attached (no moment it is writable). */
  readOnly?: boolean;
  /** nosuid and nodev on the copy. */
  nosuidNodev?: boolean;
  /** The copy a slave of its source (mount --make-rslave): the host's later mounts show, none go back. */
  slave?: boolean;
}

/** How long one request may take before the helper is killed and the request fails. */
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * System call numbers; open_tree (428), move_mount (429) and mount_setattr (442) are the same
 * on every architecture (Linux 5.2 and 5.12).
 */
const SYSCALLS: Partial<Record<NodeJS.Architecture, { mount: number; umount2: number }>> = {
  x64: { mount: 165, umount2: 166 },
  arm64: { mount: 40, umount2: 39 },
};

const hex = (s: string | undefined): string => Buffer.from(s ?? '', 'utf8').toString('hex');

function helperScript(nr: { mount: number; umount2: number }): string {
  return [
    '$| = 1;',
    'use POSIX ();',
    'sub arg { my $v = pack("H*", $_[0]); length($v) ? $v : 0 }',
    // open_tree(AT_FDCWD, src, OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC|AT_RECURSIVE); mount_setattr
    // (fd, "", AT_EMPTY_PATH|AT_RECURSIVE, {attr_set, 0, 0, 0}); the target opened O_PATH
    // (following /proc's magic link to what the caller holds); move_mount(fd, "", tfd, "",
    // MOVE_MOUNT_F_EMPTY_PATH|MOVE_MOUNT_T_EMPTY_PATH); then the propagation, on the attached
    // copy through its own fd (mount_setattr refuses MS_SLAVE on a detached private copy).
    'sub bind_tree { my ($src, $dst, $attr, $prop) = @_;',
    '  my $e = "";',
    '  my $fd = syscall(428, -100, $src, 1 | 0x80000 | 0x8000); return -1 if $fd < 0;',
    '  my $r = 0;',
    '  if ($attr) { my $a = pack("QQQQ", $attr, 0, 0, 0); $r = syscall(442, $fd, $e, 0x1000 | 0x8000, $a, 32); }',
    '  if ($r == 0) { my $t = POSIX::open($dst, 0x200000 | 0x80000);',
    '    if (!defined $t) { $r = -1; } else { $r = syscall(429, $fd, $e, $t, $e, 0x4 | 0x40); my $s = $!; POSIX::close($t); $! = $s; } }',
    `  if ($r == 0 && $prop) { $r = syscall(${nr.mount}, 0, "/proc/self/fd/$fd", 0, $prop | ${MS_REC}, 0); }`,
    '  my $s = $!; POSIX::close($fd); $! = $s; return $r; }',
    'while (my $l = <STDIN>) {',
    '  chomp $l;',
    '  my @f = split / /, $l, -1;',
    '  my $op = shift @f;',
    '  my $cwd = pack("H*", shift @f);',
    '  if (length($cwd) && !chdir($cwd)) { print 0 + $!, " chdir $cwd: $!\\n"; next; }',
    '  my $r;',
    `  if ($op eq "m") { $r = syscall(${nr.mount}, arg($f[0]), arg($f[1]), arg($f[2]), 0 + $f[3], arg($f[4])); }`,
    `  elsif ($op eq "u") { $r = syscall(${nr.umount2}, arg($f[0]), 0 + $f[1]); }`,
    '  elsif ($op eq "t") { $r = bind_tree(pack("H*", $f[0]), pack("H*", $f[1]), 0 + $f[2], 0 + $f[3]); }',
    '  else { $r = -1; $! = 22; }',
    '  print $r == 0 ? "0\\n" : (0 + $!) . " $!\\n";',
    '  chdir("/");',
    '}',
  ].join('\n');
}

/** Mounts and unmounts through one long-lived helper process (see the module comment). */
export class Mounter {
  private readonly nr = SYSCALLS[process.arch];
  private readonly helper = this.nr
    ? new PerlLineHelper(helperScript(this.nr), 'mount helper', REQUEST_TIMEOUT_MS)
    : undefined;

  /** mount(2); rejects with UnavailableError carrying the system's error message. */
  mount(r: MountRequest): Promise<void> {
    const describe =
      r.flags && r.flags & MS_SLAVE
        ? `mount --make-rslave ${r.target}`
        : `mount ${r.fstype ?? (r.flags && r.flags & MS_BIND ? 'bind' : '')} ${r.source} on ${r.target}`;
    if (!this.helper) return this.spawnMount(r, describe);
    return this.helper.request(
      ['m', hex(r.cwd), hex(r.source), hex(r.target), hex(r.fstype), String(r.flags ?? 0), hex(r.data)].join(' '),
      describe,
    );
  }

  /**
   * `mount --make-rslave target`: mounts made under the target's source (its peers) still
   * show at the target, but mounts and unmounts at or under the target reach nobody else.
   */
  makeRslave(target: string): Promise<void> {
    return this.mount({ source: '', target, flags: MS_SLAVE | MS_REC });
  }

  /**
   * umount2(2) of `target`; with `detach`, MNT_DETACH (a busy mount goes once unused); with
   * `noFollow`, UMOUNT_NOFOLLOW (a symlink as the last component is not followed).
   */
  unmount(target: string, opts: { detach?: boolean; noFollow?: boolean } = {}): Promise<void> {
    const describe = `umount ${opts.detach ? '-l ' : ''}${target}`;
    if (!this.helper) return spawnP('umount', [...(opts.detach ? ['-l'] : []), target], describe);
    const flags = (opts.detach ? MNT_DETACH : 0) | (opts.noFollow ? UMOUNT_NOFOLLOW : 0);
    return this.helper.request(['u', '', hex(target), String(flags)].join(' '), describe);
  }

  /**
   * A recursive bind of `source` at `target` made with the new mount API: the copy is made
   * detached, gets its attributes (read-only...) and propagation, and only then is attached,
   * onto what `target` reaches (a `/proc/<pid>/fd/<fd>` path names a held directory or file).
   */
  bindTree(r: BindTreeRequest): Promise<void> {
    const describe = `mount --rbind${r.readOnly ? ' -o ro' : ''} ${r.source} on ${r.target}`;
    if (!this.helper) throw new UnavailableError(`${describe}: not supported on ${process.arch}`);
    const attr = (r.readOnly ? MOUNT_ATTR_RDONLY : 0) | (r.nosuidNodev ? MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV : 0);
    const prop = r.slave ? MS_SLAVE : 0;
    return this.helper.request(['t', '', hex(r.source), hex(r.target), String(attr), String(prop)].join(' '), describe);
  }

  /** The helper's pid while one runs (diagnostics and tests). */
  get helperPid(): number | undefined {
    return this.helper?.pid;
  }

  /** Stop the helper (pending requests fail); a later request starts a new one. */
  close(): void {
    this.helper?.close();
  }

  private spawnMount(r: MountRequest, describe: string): Promise<void> {
    if (r.flags && r.flags & MS_SLAVE) return spawnP('mount', ['--make-rslave', r.target], describe);
    const args =
      r.flags && r.flags & MS_BIND
        ? [r.flags & MS_REC ? '--rbind' : '--bind', r.source, r.target]
        : ['-t', r.fstype ?? 'none', r.source, r.target];
    if (r.data) args.push('-o', r.data);
    return spawnP('mount', args, describe, r.cwd);
  }
}

function spawnP(cmd: string, args: string[], describe: string, cwd?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, timeout: REQUEST_TIMEOUT_MS }, (err, _stdout, stderr) => {
      if (err) reject(new UnavailableError(`${describe}: ${String(stderr).trim() || err.message}`));
      else resolve();
    });
  });
}

let shared: Mounter | undefined;

/** The process-wide Mounter (one helper for the daemon). */
export function sharedMounter(): Mounter {
  shared ??= new Mounter();
  return shared;
}

/** Decode the octal escapes mountinfo uses for spaces and the like. */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Every mount point of this process's mount namespace ([] when the table cannot be read). */
export function mountPoints(): string[] {
  let info: string;
  try {
    info = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  return info
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p)
    .map(unescapeMountPath);
}

/** Whether `dir` is a mount point now. */
export function isMountPoint(dir: string): boolean {
  return mountPoints().includes(path.resolve(dir));
}

/** Mount points at or below `dir`, deepest first. */
export function mountsBelow(dir: string): string[] {
  const root = path.resolve(dir);
  return mountPoints()
    .filter((p) => p === root || p.startsWith(root + '/'))
    .sort((a, b) => b.length - a.length);
}
