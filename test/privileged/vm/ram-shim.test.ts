/**
 * The RAM shim (host/ram-shim, built by the bootstrap; src/vm/qemu/memory/ram-shim.ts),
 * preloaded into programs as a clone's QEMU gets it, against a file standing for a template's
 * RAM: a hole punched in that file succeeds and changes nothing, a write to it fails however it
 * was opened, and other files are punched and written as without the shim. A private mapping
 * of the file dropped with MADV_DONTNEED reads the file's bytes again (what QEMU does next).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { ramShimLibrary, type QemuProgram } from '../../../src/vm/qemu/binaries';
import { withRamShim } from '../../../src/vm/qemu/memory/ram-shim';

const lib = ramShimLibrary();
let dir: string;
let ram: string;
let other: string;

const digest = (f: string): string => createHash('sha256').update(fs.readFileSync(f)).digest('hex');

/** Run `argv` with the environment a clone's QEMU of a QEMU with the shim gets for `ram`. */
function underShim(argv: string[]): { status: number | null; stdout: string; stderr: string } {
  const program: QemuProgram = { bin: argv[0], args: [], privateRamReadOnly: true, ramShim: lib };
  const env = { ...process.env, ...withRamShim(program, ram).env };
  const r = spawnSync(argv[0], argv.slice(1), { env, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  if (!lib) throw new Error('host/out/podvisor-ram-shim.so is missing: run scripts/bootstrap.sh');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-ram-shim-'));
  ram = path.join(dir, 'ram');
  other = path.join(dir, 'other');
  fs.writeFileSync(ram, randomBytes(1 << 20));
  fs.writeFileSync(other, randomBytes(1 << 20));
});

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('a hole punched in the RAM file succeeds and changes nothing; in another file it is made', () => {
  const before = digest(ram);
  expect(underShim(['fallocate', '--punch-hole', '--offset', '0', '--length', '65536', ram]).status).toBe(0);
  expect(digest(ram)).toBe(before);
  const otherBefore = digest(other);
  expect(underShim(['fallocate', '--punch-hole', '--offset', '0', '--length', '65536', other]).status).toBe(0);
  expect(digest(other)).not.toBe(otherBefore);
  expect(fs.readFileSync(other).subarray(0, 65536).equals(Buffer.alloc(65536))).toBe(true);
});

test('a write to the RAM file fails, opened read-write or write-only; another file is written', () => {
  const before = digest(ram);
  const w = underShim(['dd', 'if=/dev/zero', `of=${ram}`, 'bs=4096', 'count=1', 'conv=notrunc']);
  expect(w.status).not.toBe(0);
  expect(w.stderr).toMatch(/Bad file descriptor/);
  expect(underShim(['sh', '-c', `printf x >> '${ram}'`]).status).not.toBe(0);
  expect(underShim(['truncate', '-s', '0', ram]).status).not.toBe(0);
  expect(digest(ram)).toBe(before);
  expect(underShim(['dd', 'if=/dev/zero', `of=${other}`, 'bs=4096', 'count=1', 'conv=notrunc']).status).toBe(0);
});

test("opened read-write through the shim the RAM file is read-only, its private mapping writable, and MADV_DONTNEED brings back the file's bytes", () => {
  // What a clone's QEMU does with it: open it read-write, map it privately, write to the
  // mapping, punch a hole (a no-op here), then drop its own copies.
  const script = [
    'import ctypes, fcntl, mmap, os, sys',
    'fd = os.open(sys.argv[1], os.O_RDWR)',
    'mode = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE',
    'm = mmap.mmap(fd, 65536, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)',
    'orig = m[:8]',
    "m[:8] = b'XXXXXXXX'",
    'written = m[:8]',
    'libc = ctypes.CDLL(None, use_errno=True)',
    'rc = libc.fallocate64(fd, 3, ctypes.c_long(0), ctypes.c_long(65536))',
    'm.madvise(mmap.MADV_DONTNEED)',
    'print(mode == os.O_RDONLY, written.decode(), m[:8] == orig, rc)',
  ].join('\n');
  const before = digest(ram);
  const r = underShim(['python3', '-c', script, ram]);
  expect(r).toMatchObject({ status: 0, stderr: '', stdout: 'True XXXXXXXX True 0\n' });
  expect(digest(ram)).toBe(before);
});
