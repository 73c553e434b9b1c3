/**
 * The TCG code buffer trim's host side: reading `info jit`, the layout check that decides
 * whether anything may be cut (only QEMU's single-region buffer), and the punch of the dead
 * tail on a real shmem file (a private tmpfs, as the tcg-jit memfd is).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  deadTailFrom,
  findJitMapping,
  JIT_MARGIN_BYTES,
  parseInfoJit,
  punchTail,
} from '../../../src/vm/qemu/memory/jit-trim';

const MiB = 1048576;
const BUFFER = 32 * MiB;
/** `info jit` of a QEMU 7.2 pool VM (tb-size=32, one vCPU) after its boot and a rehearsal. */
const INFO_JIT =
  'Translation buffer state:\r\ngen code size       17016147/33549312\r\nTB count            30701\r\nTB avg target size  18 max=1721 bytes\r\nTB avg host size    312 bytes (expansion ratio: 17.2)\r\ncross page TB count 91 (0%)\r\ndirect jump count   18892 (61%) (2 jumps=15881 51%)\r\nTB hash buckets     13900/16384 (84.84% head buckets used)\r\nTB hash occupancy   44.05% avg chain occ. Histogram: [0,10)%|▄ █  ▇▁▅▁▂|[90,100]%\r\nTB hash avg chain   1.049 buckets. Histogram: 1|█▁▁|3\r\n\r\nStatistics:\r\nTB flush count      1\r\nTB invalidate count 11745\r\nTLB full flushes    0\r\nTLB partial flushes 37237\r\nTLB elided flushes  112299\r\n[TCG profiler not compiled]\r\n';

describe('the layout check', () => {
  it('reads the code size and capacity from `info jit`', () => {
    expect(parseInfoJit(INFO_JIT)).toEqual({ codeBytes: 17016147, capacityBytes: 33549312 });
    expect(parseInfoJit('Translation buffer state:\n')).toBeUndefined();
  });

  it('cuts above the live code plus a margin, page-aligned, only for the single-region buffer', () => {
    const from = deadTailFrom({ codeBytes: 17016147, capacityBytes: 33549312 }, BUFFER)!;
    expect(from % 4096).toBe(0);
    expect(from).toBeGreaterThanOrEqual(17016147 + JIT_MARGIN_BYTES);
    expect(from).toBeLessThan(17016147 + JIT_MARGIN_BYTES + 4096);
    // Two regions (two vCPUs): one more guard page and highwater less capacity: not touched.
    expect(deadTailFrom({ codeBytes: 1000, capacityBytes: BUFFER - 2 * 4096 - 2 * 1024 }, BUFFER)).toBeUndefined();
    // Another buffer size than the one we asked QEMU for: not touched.
    expect(deadTailFrom({ codeBytes: 1000, capacityBytes: 33549312 }, 64 * MiB)).toBeUndefined();
    // Nothing left above the margin, or a code size beyond the capacity: not touched.
    expect(deadTailFrom({ codeBytes: 33000000, capacityBytes: 33549312 }, BUFFER)).toBeUndefined();
    expect(deadTailFrom({ codeBytes: 40000000, capacityBytes: 33549312 }, BUFFER)).toBeUndefined();
  });
});

describe('punchTail', () => {
  let base: string;
  let fd: number;
  beforeEach(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-jittrim-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', base]);
  });
  afterEach(() => {
    fs.closeSync(fd);
    execFileSync('umount', [base]);
    fs.rmdirSync(base);
  });

  it('frees everything from the offset on and leaves what is below it as it was', async () => {
    const file = path.join(base, 'jit');
    const data = Buffer.alloc(4 * MiB, 0xcc);
    fs.writeFileSync(file, data);
    fd = fs.openSync(file, 'r+');
    const link = `/proc/${process.pid}/fd/${fd}`;
    expect(await punchTail(link, file, 4 * MiB, MiB)).toEqual({ before: 4 * MiB, after: MiB });
    const now = fs.readFileSync(file);
    expect(now.subarray(0, MiB).equals(data.subarray(0, MiB))).toBe(true);
    expect(now.subarray(MiB).equals(Buffer.alloc(3 * MiB))).toBe(true);
    await expect(punchTail(link, file, 4 * MiB, 1000)).rejects.toThrow(/bad offset 1000/);
    await expect(punchTail(link, file, 8 * MiB, MiB)).rejects.toThrow(/expected 8388608/);
  });
});

it('finds no code buffer mapping in a process that has none', () => {
  expect(() => findJitMapping(process.pid)).toThrow(/has 0 read-write mappings of \/memfd:tcg-jit/);
});
