/**
 * The default guest: podvisor's own kernel once guest/out/podvisor/ holds it (booted with
 * microvm's acpi=off), Debian's cloud kernel otherwise or when PODVISOR_GUEST_KERNEL=debian
 * asks for it; the KVM probe boots with the same machine properties.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chooseGuestImages, defaultGuestImages } from '../../../src/vm/guest-images';
import { probeArgs } from '../../../src/vm/accel';

let root: string;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-guest-images-'));
  fs.mkdirSync(path.join(root, 'guest', 'out'), { recursive: true });
  fs.writeFileSync(path.join(root, 'guest', 'out', 'vmlinux'), 'debian');
  fs.writeFileSync(path.join(root, 'guest', 'out', 'initramfs.cpio.gz'), 'debian initrd');
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

function buildOwn(): void {
  const dir = path.join(root, 'guest', 'out', 'podvisor');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'vmlinux'), 'own');
  fs.writeFileSync(path.join(dir, 'initramfs.cpio.gz'), 'own initrd');
}

test("Debian's kernel, with microvm's defaults, while the own kernel is not built", () => {
  const c = chooseGuestImages(root, {});
  expect(c).toMatchObject({ flavour: 'debian', kernel: path.join(root, 'guest', 'out', 'vmlinux') });
  expect(c.machineOpts).toBeUndefined();
  expect(c.why).toMatch(/not built/);
  expect(defaultGuestImages(root)).toEqual({ kernel: c.kernel, initrd: c.initrd });
});

test('the own kernel once built, with acpi=off; the choice follows the files', () => {
  // Half a build (the kernel without its initramfs) is not taken.
  fs.mkdirSync(path.join(root, 'guest', 'out', 'podvisor'));
  fs.writeFileSync(path.join(root, 'guest', 'out', 'podvisor', 'vmlinux'), 'own');
  expect(chooseGuestImages(root, {}).flavour).toBe('debian');
  buildOwn();
  const c = chooseGuestImages(root, {});
  expect(c).toMatchObject({
    flavour: 'own',
    kernel: path.join(root, 'guest', 'out', 'podvisor', 'vmlinux'),
    initrd: path.join(root, 'guest', 'out', 'podvisor', 'initramfs.cpio.gz'),
    machineOpts: ['acpi=off'],
  });
  expect(defaultGuestImages(root).machineOpts).toEqual(['acpi=off']);
});

test("PODVISOR_GUEST_KERNEL=debian keeps Debian's kernel", () => {
  buildOwn();
  const c = chooseGuestImages(root, { PODVISOR_GUEST_KERNEL: 'debian' });
  expect(c).toMatchObject({ flavour: 'debian', kernel: path.join(root, 'guest', 'out', 'vmlinux') });
  expect(c.why).toMatch(/PODVISOR_GUEST_KERNEL=debian/);
});

test("the KVM probe boots with the kernel's machine properties", () => {
  expect(probeArgs('k', 'i', 'c')).toEqual(expect.arrayContaining(['-M', 'microvm']));
  const args = probeArgs('k', 'i', 'c', ['acpi=off']);
  expect(args[args.indexOf('-M') + 1]).toBe('microvm,acpi=off');
});
