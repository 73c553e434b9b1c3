/**
 * The zero-page trim's host side on real shmem files (a private tmpfs, which is what a memfd
 * is): the perl helper punches exactly the all-zero pages, coalesced into runs, the content
 * reads back unchanged, and it refuses a file that is not the one it was told about. The memfd
 * lookup runs against a real process holding a memfd named as QEMU names its guest RAM.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { findGuestMemfd, GUEST_MEMFD_LINK, punchZeroPages } from '../../../src/vm/qemu/memory/zero-trim';
import { UnavailableError } from '../../../src/errors';

const PAGE = 4096;
const MiB = 1048576;
let base: string;
let file: string;
let fd: number | undefined;

beforeEach(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-zerotrim-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', base]);
  file = path.join(base, 'ram');
});
afterEach(() => {
  if (fd !== undefined) fs.closeSync(fd);
  fd = undefined;
  execFileSync('umount', [base]);
  fs.rmdirSync(base);
});

/** Allocated bytes of the file (tmpfs counts whole pages). */
const allocated = (): number => fs.statSync(file).blocks * 512;

/**
 * A 4 MiB file: a 2 MiB written extent whose pages are zero at 1-3, 254-257 (across the
 * helper's 1 MiB read blocks) and 511, the other pages zero but for their last byte; a 1 MiB
 * hole; two written zero pages at 3 MiB; a hole to the end.
 */
function makeRam(): Buffer {
  const size = 4 * MiB;
  const want = Buffer.alloc(size);
  const zeroPages = new Set([1, 2, 3, 254, 255, 256, 257, 511]);
  fd = fs.openSync(file, 'w+');
  for (let p = 0; p < 512; p++) if (!zeroPages.has(p)) want[p * PAGE + PAGE - 1] = (p % 250) + 1;
  fs.writeSync(fd, want, 0, 2 * MiB, 0);
  fs.writeSync(fd, Buffer.alloc(2 * PAGE), 0, 2 * PAGE, 3 * MiB);
  fs.ftruncateSync(fd, size);
  return want;
}

it('punches exactly the all-zero pages, one fallocate per run, and the content reads the same', async () => {
  const want = makeRam();
  expect(allocated()).toBe(514 * PAGE);
  const r = await punchZeroPages(`/proc/${process.pid}/fd/${fd}`, file, 4 * MiB);
  expect(r).toMatchObject({ allocatedBytes: 514 * PAGE, punchedBytes: 10 * PAGE, ranges: 4 });
  expect(allocated()).toBe(504 * PAGE);
  expect(fs.readFileSync(file).equals(want)).toBe(true);
  // Nothing is left to punch.
  expect(await punchZeroPages(`/proc/${process.pid}/fd/${fd}`, file, 4 * MiB)).toMatchObject({
    allocatedBytes: 504 * PAGE,
    punchedBytes: 0,
    ranges: 0,
  });
});

it('touches nothing when the fd is not the file it was told about or has another size', async () => {
  makeRam();
  await expect(punchZeroPages(`/proc/${process.pid}/fd/${fd}`, '/memfd:other (deleted)', 4 * MiB)).rejects.toThrow(
    /is not \/memfd:other/,
  );
  await expect(punchZeroPages(`/proc/${process.pid}/fd/${fd}`, file, 8 * MiB)).rejects.toThrow(
    /has 4194304 bytes, expected 8388608/,
  );
  await expect(punchZeroPages(`/proc/${process.pid}/fd/99999`, file, 4 * MiB)).rejects.toBeInstanceOf(UnavailableError);
  expect(allocated()).toBe(514 * PAGE);
});

describe('findGuestMemfd', () => {
  let holder: ChildProcess | undefined;
  afterEach(async () => {
    if (holder && holder.exitCode === null) {
      const gone = new Promise((r) => holder!.once('exit', r));
      holder.kill('SIGKILL');
      await gone;
    }
    holder = undefined;
  });

  /** A process holding memfds of these names and sizes (memfd_create is syscall 319 on x86_64, 279 on arm64). */
  async function memfdHolder(fds: Array<[string, number]>): Promise<number> {
    const nr = process.arch === 'arm64' ? 279 : 319;
    const script = `my @k; for (my $i = 0; $i < @ARGV; $i += 2) { my $fd = syscall(${nr}, $ARGV[$i], 0); die "memfd_create: $!" if $fd < 0;
      open(my $f, '+<&=', $fd) or die; truncate($f, $ARGV[$i + 1]) or die; push @k, $f } print "ready\\n"; $| = 1; sleep 1000;`;
    holder = spawn('perl', ['-e', script, ...fds.flatMap(([n, s]) => [n, String(s)])], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      holder!.stdout!.once('data', () => resolve());
      holder!.once('exit', (c) => reject(new Error(`memfd holder exited ${c}`)));
    });
    return holder.pid!;
  }

  it('finds the one guest RAM memfd of a process by its name and size', async () => {
    const pid = await memfdHolder([
      ['other', 8 * MiB],
      ['memory-backend-memfd', 8 * MiB],
    ]);
    const p = findGuestMemfd(pid, 8 * MiB);
    expect(p).toMatch(new RegExp(`^/proc/${pid}/fd/\\d+$`));
    expect(fs.readlinkSync(p)).toBe(GUEST_MEMFD_LINK);
    expect(() => findGuestMemfd(pid, 16 * MiB)).toThrow(/has 8388608 bytes, expected 16777216/);
  });

  it('refuses a process with no guest RAM memfd, or with two', async () => {
    expect(() => findGuestMemfd(process.pid, 8 * MiB)).toThrow(/has 0 guest RAM memfds/);
    const pid = await memfdHolder([
      ['memory-backend-memfd', MiB],
      ['memory-backend-memfd', MiB],
    ]);
    expect(() => findGuestMemfd(pid, MiB)).toThrow(/has 2 guest RAM memfds/);
  });
});
