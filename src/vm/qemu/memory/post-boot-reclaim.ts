/**
 * Memory a booted VM no longer needs, handed back to the host once its agent answered
 * (measured effect: docs/performance.md, "VM runtime"):
 *
 * - QEMU keeps the guest kernel and initramfs files mapped (its ROM copies, used again only on
 *   a guest reset, which -no-reboot turns into QEMU exiting). Those page-cache pages, ~46 MiB,
 *   are paged out of QEMU with process_madvise(MADV_PAGEOUT); they would be read back from the
 *   file if ever needed. MADV_PAGEOUT also drops them from the page cache (nothing else maps
 *   them), so the files are then read into the page cache again, unmapped (readIntoPageCache):
 *   otherwise the next boot waits ~150 ms for the kernel to come from disk. Unmapped page
 *   cache is in no process's PSS and the kernel may reclaim it under pressure.
 * - The boot touches guest pages it frees again (the kernel's init sections, the unpacked
 *   initramfs image, early allocations): ~11 MiB the host keeps backing. Inflating the balloon
 *   by 16 MiB makes the guest hand exactly those scattered free pages over first (the buddy
 *   allocator serves small free blocks first), QEMU discards them, and deflating gives the
 *   guest its memory back, untouched.
 */
import * as fs from 'node:fs';
import { runPerl } from '../../../util/perl';
import { QmpClient } from '../qmp';

/**
 * Read `files` through (1 MiB at a time, into one reused buffer), so that their pages are in
 * the page cache for the next QEMU that maps them. Never rejects: a file that cannot be read
 * only means a slower next boot.
 */
export async function readIntoPageCache(files: string[]): Promise<void> {
  const buf = Buffer.allocUnsafe(1 << 20);
  for (const f of files) {
    let fh: fs.promises.FileHandle | undefined;
    try {
      fh = await fs.promises.open(f, 'r');
      while ((await fh.read(buf, 0, buf.length, null)).bytesRead > 0) {
        // the read itself is the point
      }
    } catch {
      // missing or unreadable: the next boot reports it
    } finally {
      await fh?.close();
    }
  }
}

/**
 * Pages out QEMU's mappings of `files` (exact paths as in /proc/<pid>/maps). process_madvise
 * has no binding in Node, so perl (part of every Debian system: perl-base is essential) makes
 * the two syscalls: pidfd_open (434) and process_madvise (440), MADV_PAGEOUT = 21. Resolves
 * with the bytes advised; rejects when perl or the syscalls fail.
 */
export function pageOutMappings(pid: number, files: string[]): Promise<number> {
  const script = `
    my ($pid, @files) = @ARGV; my %want = map { $_ => 1 } @files;
    open(my $m, '<', "/proc/$pid/maps") or die "maps: $!\\n";
    my $pidfd = syscall(434, $pid + 0, 0); die "pidfd_open: $!\\n" if $pidfd < 0;
    my $total = 0;
    while (<$m>) {
      chomp; my ($range, $perm, $off, $dev, $ino, $path) = split(/\\s+/, $_, 6);
      next unless defined $path && $want{$path};
      my ($s, $e) = map { hex } split(/-/, $range);
      my $iov = pack('QQ', $s, $e - $s);
      my $r = syscall(440, $pidfd, $iov, 1, 21, 0); die "process_madvise: $!\\n" if $r < 0;
      $total += $r;
    }
    print "$total\\n";`;
  return runPerl(script, [String(pid), ...files], {
    what: `cannot page out ${files.join(', ')} of pid ${pid}`,
    expect: /^(\d+)\n$/,
    timeoutMs: 5000,
  }).then((m) => Number(m[1]));
}

/** How long each balloon step may take before the squeeze gives up (the guest is busy). */
const BALLOON_STEP_MS = 3000;

/**
 * Inflates the balloon of the VM behind `qmpSock` by `squeezeMiB`, waits until the guest gave
 * that much (or the step timed out), then deflates it back to `memoryMiB` and waits again.
 * The guest's memory is whole again afterwards even when the inflation did not finish.
 */
export async function squeezeBalloon(qmpSock: string, memoryMiB: number, squeezeMiB = 16): Promise<void> {
  const full = memoryMiB * 1048576;
  const target = (memoryMiB - squeezeMiB) * 1048576;
  const qmp = await QmpClient.connect(qmpSock);
  try {
    const waitFor = async (done: (actual: number) => boolean) => {
      const deadline = Date.now() + BALLOON_STEP_MS;
      for (;;) {
        const q = (await qmp.execute('query-balloon')) as { actual?: number };
        if (typeof q?.actual === 'number' && done(q.actual)) return;
        if (Date.now() > deadline) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await qmp.execute('balloon', { value: target });
    try {
      await waitFor((actual) => actual <= target);
    } finally {
      await qmp.execute('balloon', { value: full });
    }
    await waitFor((actual) => actual >= full);
  } finally {
    qmp.close();
  }
}
