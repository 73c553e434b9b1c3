/**
 * The trim of TCG's translated-code buffer in an idle VM (QEMU 7.2, `-accel tcg,split-wx=on`,
 * one vCPU), done on the host while the VM is stopped (zero-trim.ts's whileStopped).
 *
 * QEMU fills its code buffer (`tb-size`, 32 MiB) from the start, flushes it whole when it is
 * full and starts again at the start. A boot fills it once, so after the boot's flush plus the
 * rehearsal only the first ~17 MiB hold live code, while all 32 MiB stay resident. With
 * split-wx QEMU 7.2 allocates the buffer as a memfd named "tcg-jit" mapped twice (read-write
 * for the translator, read-execute for running it; tcg/region.c,
 * alloc_code_gen_buffer_splitwx_memfd). It closes the fd, but the mapping can be opened through
 * /proc/<pid>/map_files, and punching the dead tail out of the memfd frees it on the host.
 *
 * Why the tail is dead, by construction (tcg/region.c and tcg/tcg.c of QEMU 7.2):
 * - with one vCPU (max_cpus == 1) tcg_n_regions() gives one region: the prologue at the start
 *   of the buffer, then code from `after_prologue` upward to the end less a guard page;
 * - translation blocks and their data (the TranslationBlock structs, constant pools) are carved
 *   from the same pointer (tcg_tb_alloc), so everything live lies below `code_gen_ptr`;
 * - a flush (tcg_region_reset_all) resets that pointer to the start and drops every TB and jump
 *   cache entry, so code above the pointer is never run or read again; new code is written
 *   there (through the read-write mapping, which faults in fresh pages) before it is run;
 * - `info jit` reports `gen code size <code_gen_ptr - after_prologue>/<capacity>`, and the
 *   capacity is the buffer less one guard page and one TCG_HIGHWATER (1 KiB) only when there is
 *   exactly one region: anything else, and the trim is skipped;
 * - with the VM stopped no vCPU translates, so the pointer does not move while we punch.
 * The punch starts JIT_MARGIN_BYTES above the reported size (the prologue is far smaller).
 */
import * as fs from 'node:fs';
import { runPerl } from '../../../util/perl';
import { UnavailableError } from '../../../errors';
import { qmpCommand } from '../qmp';
import { fallocateSyscall, PERL_OPEN_CHECKED } from './zero-trim';

/** The link of QEMU's code buffer memfd in /proc/<pid>/maps and map_files. */
export const JIT_MEMFD_LINK = '/memfd:tcg-jit (deleted)';
/** What is left above the reported code size (covers the prologue, alignment, one more TB). */
export const JIT_MARGIN_BYTES = 1 << 20;
const PAGE = 4096;
/** tcg.h's TCG_HIGHWATER: the slack kept at the end of each region. */
const TCG_HIGHWATER = 1024;

/** `info jit`'s "gen code size used/capacity". */
export interface JitUsage {
  codeBytes: number;
  capacityBytes: number;
}

/** The code size line of `info jit` (HMP), or undefined when it is not there. */
export function parseInfoJit(text: string): JitUsage | undefined {
  const m = /^gen code size\s+(\d+)\/(\d+)\s*$/m.exec(text);
  return m ? { codeBytes: Number(m[1]), capacityBytes: Number(m[2]) } : undefined;
}

/**
 * The offset in a code buffer of `bufferBytes` from which nothing is live, given `info jit`;
 * undefined when the capacity says the layout is not the single region expected (see the
 * module comment) or nothing is left to trim.
 */
export function deadTailFrom(usage: JitUsage, bufferBytes: number): number | undefined {
  if (usage.capacityBytes !== bufferBytes - PAGE - TCG_HIGHWATER) return undefined;
  if (usage.codeBytes > usage.capacityBytes) return undefined;
  const from = Math.ceil((usage.codeBytes + JIT_MARGIN_BYTES) / PAGE) * PAGE;
  return from < bufferBytes ? from : undefined;
}

/**
 * `/proc/<pid>/map_files/<range>` of QEMU's code buffer: its one read-write shared mapping of
 * the tcg-jit memfd at offset 0. Throws when there is none or more than one.
 */
export function findJitMapping(pid: number): string {
  const found: string[] = [];
  for (const line of fs.readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+-[0-9a-f]+) (\S+) ([0-9a-f]+) \S+ \S+\s+(.*)$/.exec(line);
    if (m && m[4] === JIT_MEMFD_LINK && m[2] === 'rw-s' && Number.parseInt(m[3], 16) === 0) found.push(m[1]);
  }
  if (found.length !== 1)
    throw new UnavailableError(
      `process ${pid} has ${found.length} read-write mappings of ${JIT_MEMFD_LINK}, expected one`,
    );
  return `/proc/${pid}/map_files/${found[0]}`;
}

const PUNCH_TAIL_SCRIPT = `${PERL_OPEN_CHECKED}
  my ($from) = @rest; $from += 0;
  die "bad offset $from\\n" if $from % 4096 || $from <= 0 || $from >= $size;
  my $before = $a[12] * 512;
  my $r = syscall($nr + 0, fileno($fh), 3, $from, $size - $from); # PUNCH_HOLE | KEEP_SIZE
  die "fallocate: $!\\n" if $r < 0;
  my @c = stat($fh);
  print "$before ", $c[12] * 512, "\\n";`;

/** Punches [from, sizeBytes) out of the file at the /proc link `path`; resolves with its allocated bytes before and after. */
export async function punchTail(
  path: string,
  link: string,
  sizeBytes: number,
  from: number,
): Promise<{ before: number; after: number }> {
  const m = await runPerl(
    PUNCH_TAIL_SCRIPT,
    [path, link, String(sizeBytes), String(fallocateSyscall()), String(from)],
    {
      what: `cannot punch ${path} from ${from}`,
      expect: /^(\d+) (\d+)\n$/,
      timeoutMs: 5000,
    },
  );
  return { before: Number(m[1]), after: Number(m[2]) };
}

/** What trimJitBuffer did. */
export interface JitTrimResult {
  codeBytes: number;
  /** Allocated bytes of the buffer before and after the punch. */
  before: number;
  after: number;
}

/**
 * Whether the running VM's code buffer has pages allocated above its live code, i.e. whether a
 * trim would free anything: `info jit` and the memfd's allocated size, read without stopping
 * the VM. A hint only (the trim re-reads `info jit` with the VM stopped). A clone whose buffer
 * was never flushed holds nothing above its code, so its trim can skip the stop altogether.
 */
export async function jitTrimWorthwhile(qmpSock: string, pid: number, bufferBytes: number): Promise<boolean> {
  const text = await qmpCommand(qmpSock, 'human-monitor-command', { 'command-line': 'info jit' });
  const usage = typeof text === 'string' ? parseInfoJit(text) : undefined;
  const from = usage ? deadTailFrom(usage, bufferBytes) : undefined;
  if (from === undefined) return false;
  // Below `from` there are at most `from` bytes, so more allocated means some above it.
  return fs.statSync(findJitMapping(pid)).blocks * 512 > from;
}

/**
 * Punches the dead tail of the stopped VM's code buffer (`bufferBytes`, the tb-size). Resolves
 * undefined, touching nothing, when `info jit` does not show the expected single-region layout.
 * Only for a VM with one vCPU, started with split-wx, and stopped (the caller checks all three).
 */
export async function trimJitBuffer(
  qmpSock: string,
  pid: number,
  bufferBytes: number,
): Promise<JitTrimResult | undefined> {
  const text = await qmpCommand(qmpSock, 'human-monitor-command', { 'command-line': 'info jit' });
  const usage = typeof text === 'string' ? parseInfoJit(text) : undefined;
  if (!usage) throw new UnavailableError('`info jit` shows no code size');
  const from = deadTailFrom(usage, bufferBytes);
  if (from === undefined) return undefined;
  const r = await punchTail(findJitMapping(pid), JIT_MEMFD_LINK, bufferBytes, from);
  return { codeBytes: usage.codeBytes, ...r };
}
