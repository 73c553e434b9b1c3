/**
 * A saved VM's stamp (src/vm/qemu/snapshots/save-stamp.ts): it names the guest kernel,
 * initramfs and QEMU by content, so the same build at another path or of another time (another
 * host's) matches, and a start that cannot load the state is refused naming what differs.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { fileDigest, saveStamp, stampDifference, warmFileDigests } from '../../../../src/vm/qemu/snapshots/save-stamp';
import type { StartHost } from '../../../../src/vm/qemu/start-host';
import type { QemuTools } from '../../../../src/vm/qemu/binaries';
import type { GuestImages } from '../../../../src/vm/guest-images';

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-unit-stamp-'));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A host's guest files under `sub` with these contents, and its daemon's view of them. */
function host(
  sub: string,
  content: { kernel?: string; initrd?: string; qemu?: string } = {},
  cmdline = 'console=ttyS0 quiet tsc_early_khz=2400000 tsc=reliable',
): { h: StartHost; tools: QemuTools; guest: GuestImages } {
  const d = path.join(dir, sub);
  fs.mkdirSync(d);
  const file = (name: string, text: string) => {
    fs.writeFileSync(path.join(d, name), text);
    return path.join(d, name);
  };
  return {
    h: { cmdline, opts: { accel: 'tcg' } } as unknown as StartHost,
    tools: { cloneQemu: { bin: file('qemu', content.qemu ?? 'qemu 10'), args: [] } } as unknown as QemuTools,
    guest: {
      kernel: file('vmlinux', content.kernel ?? 'kernel 6.1'),
      initrd: file('initramfs', content.initrd ?? 'agent 1'),
    } as GuestImages,
  };
}

/** The stamp of host `x`. */
function stampOf(x: ReturnType<typeof host>): string {
  return saveStamp(x.h, x.tools, x.guest);
}

test("a file's digest is the sha256 of its content, read at another path alike", () => {
  const a = host('a');
  const b = host('b');
  expect(fileDigest(a.guest.kernel)).toBe(createHash('sha256').update('kernel 6.1').digest('hex'));
  expect(fileDigest(b.guest.kernel)).toBe(fileDigest(a.guest.kernel));
});

test('a changed file is read again: its digest is the new content', () => {
  const a = host('a');
  const before = fileDigest(a.guest.kernel);
  fs.writeFileSync(a.guest.kernel, 'kernel 6.2, longer');
  expect(fileDigest(a.guest.kernel)).not.toBe(before);
  expect(fileDigest(a.guest.kernel)).toBe(createHash('sha256').update('kernel 6.2, longer').digest('hex'));
});

test('a symlink or a missing file matches no digest', () => {
  const a = host('a');
  const link = path.join(dir, 'link');
  fs.symlinkSync(a.guest.kernel, link);
  expect(fileDigest(link)).toBe(`missing:${link}`);
  expect(fileDigest(path.join(dir, 'none'))).toBe(`missing:${path.join(dir, 'none')}`);
});

test('the same build at other paths and times (another host) has the same stamp', async () => {
  const a = host('a');
  const b = host('b');
  const old = new Date('2020-01-01T00:00:00Z');
  for (const f of [b.guest.kernel, b.guest.initrd, b.tools.cloneQemu.bin]) fs.utimesSync(f, old, old);
  await warmFileDigests([b.guest.kernel]);
  expect(stampOf(b)).toBe(stampOf(a));
  expect(stampDifference(stampOf(a), stampOf(b))).toBeUndefined();
});

test('another kernel, agent or QEMU is named with its digests, in the save and here', () => {
  const a = host('a');
  const kernel = createHash('sha256').update('kernel 6.1').digest('hex').slice(0, 12);
  const other = createHash('sha256').update('kernel 6.9').digest('hex').slice(0, 12);
  expect(stampDifference(stampOf(a), stampOf(host('k', { kernel: 'kernel 6.9' })))).toBe(
    `its guest kernel (sha256:${kernel} in the save, sha256:${other} here)`,
  );
  expect(stampDifference(stampOf(a), stampOf(host('i', { initrd: 'agent 2' })))).toMatch(
    /^its initramfs \(the agent is in it\) \(sha256:[0-9a-f]{12} in the save, sha256:[0-9a-f]{12} here\)$/,
  );
  const both = stampDifference(stampOf(a), stampOf(host('q', { qemu: 'qemu 11', kernel: 'kernel 6.9' })));
  expect(both).toMatch(/^its guest kernel \(.*\); its QEMU \(.*\)$/);
});

test('a host whose TSC runs at another rate is named; the rest of the command line is compared apart', () => {
  const a = host('a');
  const slower = host('s', {}, 'console=ttyS0 quiet tsc_early_khz=2000000 tsc=reliable');
  expect(stampDifference(stampOf(a), stampOf(slower))).toBe("its host's TSC rate (2400000 in the save, 2000000 here)");
  const debug = host('d', {}, 'console=ttyS0 quiet tsc_early_khz=2400000 tsc=reliable loglevel=7');
  expect(stampDifference(stampOf(a), stampOf(debug))).toBe(
    'its guest kernel command line (console=ttyS0 quiet tsc=reliable in the save, console=ttyS0 quiet tsc=reliable loglevel=7 here)',
  );
});

test("an older podvisor's stamp (a path and a time) is said to be one", () => {
  expect(stampDifference('4b5fc59f22ab//usr/bin/qemu@123@456', stampOf(host('a')))).toBe(
    'it was saved by an older podvisor, whose saves name their guest files by path and time',
  );
});
