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

/** How long one request may take before the helper is killed and the request fails. */
const REQUEST_TIMEOUT_MS = 30_000;

const SYSCALLS: Partial<Record<NodeJS.Architecture, { mount: number; umount2: number }>> = {
  x64: { mount: 165, umount2: 166 },
  arm64: { mount: 40, umount2: 39 },
};

const hex = (s: string | undefined): string => Buffer.from(s ?? '', 'utf8').toString('hex');

function helperScript(nr: { mount: number; umount2: number }): string {
  return [
    '$| = 1;',
    'sub arg { my $v = pack("H*", $_[0]); length($v) ? $v : 0 }',
    'while (my $l = <STDIN>) {',
    '  chomp $l;',
    '  my @f = split / /, $l, -1;',
    '  my $op = shift @f;',
    '  my $cwd = pack("H*", shift @f);',
    '  if (length($cwd) && !chdir($cwd)) { print 0 + $!, " chdir $cwd: $!\\n"; next; }',
    '  my $r;',
    `  if ($op eq "m") { $r = syscall(${nr.mount}, arg($f[0]), arg($f[1]), arg($f[2]), 0 + $f[3], arg($f[4])); }`,
    `  elsif ($op eq "u") { $r = syscall(${nr.umount2}, arg($f[0]), 0 + $f[1]); }`,
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

  /** umount2(2) of `target`; with `detach`, MNT_DETACH (a busy mount goes once unused). */
  unmount(target: string, opts: { detach?: boolean } = {}): Promise<void> {
    const describe = `umount ${opts.detach ? '-l ' : ''}${target}`;
    if (!this.helper) return spawnP('umount', [...(opts.detach ? ['-l'] : []), target], describe);
    return this.helper.request(['u', '', hex(target), String(opts.detach ? MNT_DETACH : 0)].join(' '), describe);
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
