/**
 * resolveAccel with stand-in QEMU programs (shell scripts) that power off, hang or abort the
 * way real QEMU does on hosts where KVM works, hangs, or fails: the decision, its reason, the
 * bound on the probe, and the remembered answer.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveAccel } from '../../../src/vm/accel';

let dir: string;
let kvmDevice: string;
let kernel: string;
let initrd: string;

/** A fake qemu-system-x86_64: runs `body` and appends its arguments to calls.log. */
function fakeQemu(body: string): string {
  const p = path.join(dir, 'bin', 'qemu-system-x86_64');
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, `#!/bin/sh\necho "$*" >> ${dir}/calls.log\n${body}\n`, { mode: 0o755 });
  return p;
}

function probes(): string[] {
  try {
    return fs.readFileSync(path.join(dir, 'calls.log'), 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-accel-'));
  kvmDevice = path.join(dir, 'kvm');
  fs.writeFileSync(kvmDevice, '');
  kernel = path.join(dir, 'vmlinux');
  initrd = path.join(dir, 'initrd');
  fs.writeFileSync(kernel, 'k');
  fs.writeFileSync(initrd, 'i');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const opts = () => ({ mode: 'auto' as const, execRoot: path.join(dir, 'exec'), kernel, initrd, kvmDevice });

it('takes tcg and kvm as given, without probing', async () => {
  const qemu = fakeQemu('exit 0');
  expect(await resolveAccel({ ...opts(), qemu, mode: 'tcg' })).toMatchObject({ accel: 'tcg' });
  expect(await resolveAccel({ ...opts(), qemu, mode: 'kvm' })).toMatchObject({ accel: 'kvm' });
  expect(probes()).toEqual([]);
});

it('uses KVM when the probe boot powers off, and remembers it', async () => {
  const qemu = fakeQemu('exit 0');
  const first = await resolveAccel({ ...opts(), qemu });
  expect(first).toMatchObject({ accel: 'kvm', cached: false });
  expect(probes()).toHaveLength(1);
  expect(probes()[0]).toContain('-accel kvm');
  expect(probes()[0]).toContain('rdinit=/init -- --poweroff');
  expect(await resolveAccel({ ...opts(), qemu })).toMatchObject({ accel: 'kvm', cached: true });
  expect(probes()).toHaveLength(1);
  expect(JSON.parse(fs.readFileSync(path.join(dir, 'exec/accel.json'), 'utf8'))).toMatchObject({ accel: 'kvm' });
});

it('falls back to TCG when the probe boot hangs, killing it at the deadline', async () => {
  const qemu = fakeQemu('exec sleep 60');
  const d = await resolveAccel({ ...opts(), qemu, probeTimeoutMs: 300 });
  expect(d.accel).toBe('tcg');
  expect(d.reason).toMatch(/did not power off within 300 ms/);
  // The probe directory is gone, so nothing of the killed probe is left.
  expect(fs.readdirSync(path.join(dir, 'exec'))).toEqual(['accel.json']);
});

it("falls back to TCG with QEMU's own words when it aborts", async () => {
  const qemu = fakeQemu('echo "qemu-system-x86_64: error: failed to set MSR 0x10a" >&2; kill -ABRT $$');
  const d = await resolveAccel({ ...opts(), qemu });
  expect(d.accel).toBe('tcg');
  expect(d.reason).toMatch(/SIGABRT.*failed to set MSR 0x10a/);
});

it('probes again when the QEMU binary or the kernel changes, not otherwise', async () => {
  const qemu = fakeQemu('exit 0');
  await resolveAccel({ ...opts(), qemu });
  expect(await resolveAccel({ ...opts(), qemu })).toMatchObject({ cached: true });
  fs.writeFileSync(kernel, 'a new kernel');
  expect(await resolveAccel({ ...opts(), qemu })).toMatchObject({ cached: false });
  expect(probes()).toHaveLength(2);
  // An upgraded QEMU: a new file in its place (a new size and inode).
  fs.rmSync(qemu);
  fakeQemu('exit 0 # upgraded');
  expect(await resolveAccel({ ...opts(), qemu })).toMatchObject({ cached: false });
  expect(probes()).toHaveLength(3);
});

it('does not probe without a usable /dev/kvm', async () => {
  const qemu = fakeQemu('exit 0');
  const d = await resolveAccel({ ...opts(), qemu, kvmDevice: path.join(dir, 'no-kvm') });
  expect(d).toMatchObject({ accel: 'tcg' });
  expect(d.reason).toMatch(/missing or not accessible/);
  expect(probes()).toEqual([]);
});
