/**
 * The zero-page trim of an idle VM's guest RAM, done on the host.
 *
 * Guest RAM is a shared memfd (`memory-backend-memfd,share=on`, which vhost-user virtiofsd
 * needs), so every guest page the guest ever touched stays allocated in it. After a boot and a
 * rehearsal about a third of those pages hold nothing but zeros (measured ~21 of ~67 MiB:
 * zeroed allocations still in use, such as virtio-console receive buffers, which the kernel
 * zeroes on allocation, and bss; they are not free pages, so the balloon does not get them).
 * Punching those pages out of the memfd (fallocate PUNCH_HOLE) frees them on the host; a hole
 * reads back as zeros, so the guest sees exactly the same memory, and a page comes back only
 * when the guest writes to it again.
 *
 * Correctness needs one thing: nothing writes guest RAM between the moment a page is read as
 * all zeros and the moment it is punched (a write in between would be lost). What can write
 * guest RAM, and why none of it does during the trim:
 * - the vCPU (the guest kernel and its processes): stopped with QMP `stop` for the whole scan
 *   and punch, and `cont` runs in a `finally`, so the VM never stays paused;
 * - QEMU's virtio-serial, when the host sends on the agent's ports (its chardev handler may
 *   fill the guest's receive buffers while the VM is stopped): nobody talks to the VM during
 *   the trim. The caller (QemuVm.trimIdleMemory) first waits for an agent ping, which the
 *   agent answers after every earlier request, so the channel is idle; the pool trims a VM
 *   only while it owns it alone (CachedFactory's warming step, before the VM goes idle);
 * - virtiofsd, which writes its replies straight into guest RAM: the caller waits a short
 *   settle after the ping, so that requests the guest sent on its own (the asynchronous FUSE
 *   release of files a container closed) are answered; and QEMU's `stop` also stops the
 *   vhost-user-fs device (the rings' GET_VRING_BASE, which virtiofsd answers once its queue
 *   thread is done), so virtiofsd does not touch the rings until `cont`;
 * - the balloon: it only moves pages when the guest or the host asks (the post-boot squeeze is
 *   awaited before the trim; free page reporting is driven by the guest's vCPU, and QEMU does
 *   not poll the balloon's statistics here). A page the balloon discards is a hole anyway.
 *
 * Node has no lseek(SEEK_DATA) or fallocate, so a perl script (perl-base is part of every
 * Debian system, as for post-boot-reclaim.ts) scans and punches in one process: it walks the allocated
 * extents with SEEK_DATA/SEEK_HOLE, reads them in 1 MiB blocks, and punches each run of
 * all-zero 4 KiB pages with one fallocate(PUNCH_HOLE | KEEP_SIZE).
 */
import * as fs from 'node:fs';
import { runPerl } from '../../../util/perl';
import { UnavailableError } from '../../../errors';
import { qmpCommand } from '../qmp';

/**
 * What /proc/<pid>/fd/<n> shows for QEMU's guest RAM: QEMU 7.2 names the memfd of a
 * `memory-backend-memfd` object after the object's type (not its id); our VMs have one.
 */
export const GUEST_MEMFD_LINK = '/memfd:memory-backend-memfd (deleted)';

/** fallocate's syscall number on the architectures we run on (Node's process.arch). */
const FALLOCATE_SYSCALL: Partial<Record<string, number>> = { x64: 285, arm64: 47 };

/** How long the scan and punch may take before it is killed (the VM is stopped meanwhile). */
const PUNCH_TIMEOUT_MS = 5000;

/** What one trim found and did, in bytes. */
export interface ZeroTrimResult {
  /** Allocated in the memfd before the trim. */
  allocatedBytes: number;
  /** Pages that held only zeros, now punched out. */
  punchedBytes: number;
  /** fallocate calls made (runs of consecutive zero pages). */
  ranges: number;
  /** Time the scan and punch took (the VM's stopped time is this plus two QMP round trips). */
  ms: number;
}

/**
 * The path `/proc/<pid>/fd/<n>` of process `pid`'s guest RAM memfd: the one fd whose link is
 * GUEST_MEMFD_LINK and whose size is `sizeBytes`. Throws when there is none, or more than one.
 * Only the host's view of QEMU's fd table is read; nothing comes from the guest.
 */
export function findGuestMemfd(pid: number, sizeBytes: number): string {
  const dir = `/proc/${pid}/fd`;
  const found: string[] = [];
  for (const fd of fs.readdirSync(dir)) {
    const p = `${dir}/${fd}`;
    let link: string;
    try {
      link = fs.readlinkSync(p);
    } catch {
      continue; // closed meanwhile
    }
    if (link === GUEST_MEMFD_LINK) found.push(p);
  }
  if (found.length !== 1)
    throw new UnavailableError(
      `process ${pid} has ${found.length} guest RAM memfds (${GUEST_MEMFD_LINK}), expected one`,
    );
  const size = fs.statSync(found[0]).size;
  if (size !== sizeBytes)
    throw new UnavailableError(`guest RAM memfd ${found[0]} has ${size} bytes, expected ${sizeBytes}`);
  return found[0];
}

/**
 * The start of the perl helpers (arguments: path, expected link, expected size, fallocate's
 * syscall number, then their own): opens the /proc link read-write as $fh and checks that the
 * link still reads as expected, that it names the file opened, and the file's size.
 */
export const PERL_OPEN_CHECKED = `
  use strict; use Fcntl qw(O_RDWR);
  my ($path, $want, $size, $nr, @rest) = @ARGV;
  sysopen(my $fh, $path, O_RDWR) or die "open $path: $!\\n";
  my $link = readlink($path);
  die "$path is not $want\\n" unless defined $link && $link eq $want;
  my @a = stat($fh); my @b = stat($path);
  die "$path changed under us\\n" unless @b && $a[0] == $b[0] && $a[1] == $b[1];
  die "$path has $a[7] bytes, expected $size\\n" unless $a[7] == $size;`;

/** fallocate's syscall number here, or an UnavailableError. */
export function fallocateSyscall(): number {
  const nr = FALLOCATE_SYSCALL[process.arch];
  if (nr === undefined) throw new UnavailableError(`no fallocate syscall number known for ${process.arch}`);
  return nr;
}

const PUNCH_SCRIPT = `${PERL_OPEN_CHECKED}
  my $P = 4096; my $zero = "\\0" x $P;
  my ($pos, $alloc, $punched, $ranges, $rs, $re) = (0, 0, 0, 0, -1, -1);
  my $flush = sub {
    return if $rs < 0;
    my $r = syscall($nr + 0, fileno($fh), 3, $rs + 0, $re - $rs); # PUNCH_HOLE | KEEP_SIZE
    die "fallocate: $!\\n" if $r < 0;
    $punched += $re - $rs; $ranges++; $rs = -1;
  };
  while ($pos < $size) {
    my $d = sysseek($fh, $pos, 3); # SEEK_DATA; undef (ENXIO) past the last data
    last unless defined $d;
    my $h = sysseek($fh, $d, 4);   # SEEK_HOLE
    die "SEEK_HOLE: $!\\n" unless defined $h;
    $d += 0; $h += 0;
    die "unaligned extent $d-$h\\n" if $d % $P || $h % $P;
    $alloc += $h - $d;
    for (my $off = $d; $off < $h; ) {
      my $n = $h - $off; $n = 1 << 20 if $n > 1 << 20;
      defined sysseek($fh, $off, 0) or die "seek: $!\\n";
      my $buf = ''; my $got = sysread($fh, $buf, $n);
      die "read at $off: " . (defined $got ? "short" : $!) . "\\n" unless defined $got && $got == $n;
      for (my $i = 0; $i < $n; $i += $P) {
        my $at = $off + $i;
        if (substr($buf, $i, $P) eq $zero) {
          if ($rs >= 0 && $re == $at) { $re += $P } else { $flush->(); ($rs, $re) = ($at, $at + $P) }
        }
      }
      $off += $n;
    }
    $pos = $h;
  }
  $flush->();
  print "$alloc $punched $ranges\\n";`;

/**
 * Punches every all-zero 4 KiB page of the shmem file open at `fdPath` (a /proc/<pid>/fd/<n>
 * link) out of it. Before touching anything the perl helper checks that the link still reads
 * `link` and names the file it opened, and that the file has `sizeBytes`. The file's content
 * reads the same afterwards. The caller guarantees nothing writes the file meanwhile (see the
 * module comment).
 */
export async function punchZeroPages(fdPath: string, link: string, sizeBytes: number): Promise<ZeroTrimResult> {
  const t0 = Date.now();
  const m = await runPerl(PUNCH_SCRIPT, [fdPath, link, String(sizeBytes), String(fallocateSyscall())], {
    what: `cannot trim zero pages of ${fdPath}`,
    expect: /^(\d+) (\d+) (\d+)\n$/,
    timeoutMs: PUNCH_TIMEOUT_MS,
  });
  return { allocatedBytes: Number(m[1]), punchedBytes: Number(m[2]), ranges: Number(m[3]), ms: Date.now() - t0 };
}

/**
 * Runs `fn` with the VM behind `qmpSock` stopped: QMP `stop`, `fn`, QMP `cont` in a `finally`
 * (retried once, so one lost monitor connection does not leave the VM paused). Each QMP command
 * has its own connection and a 2 s deadline. A VM that is not running (paused by its user) is
 * left alone: rejects without touching it.
 */
export async function whileStopped<T>(qmpSock: string, fn: () => Promise<T>): Promise<T> {
  const status = (await qmpCommand(qmpSock, 'query-status')) as { status?: string } | undefined;
  if (status?.status !== 'running')
    throw new UnavailableError(`the VM is ${status?.status ?? 'in an unknown state'}, not running: not trimmed`);
  try {
    // Inside the try: a `stop` that timed out may still have stopped the VM.
    await qmpCommand(qmpSock, 'stop');
    return await fn();
  } finally {
    await qmpCommand(qmpSock, 'cont').catch(() => qmpCommand(qmpSock, 'cont'));
  }
}

/**
 * The trim of a running VM (QEMU `pid`, monitor `qmpSock`, `memoryBytes` of guest RAM): the
 * guest RAM memfd found and its zero pages punched, with the VM stopped (whileStopped). The
 * caller makes the VM quiescent first (module comment).
 */
export function trimGuestZeroPages(qmpSock: string, pid: number, memoryBytes: number): Promise<ZeroTrimResult> {
  return whileStopped(qmpSock, () => punchZeroPages(findGuestMemfd(pid, memoryBytes), GUEST_MEMFD_LINK, memoryBytes));
}
