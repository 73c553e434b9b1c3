/**
 * bench/idle-memory.ts's split of a QEMU's PSS: TCG's code buffer, guest RAM (a clone's
 * template RAM file, a booted VM's memfd) and the rest, from smaps text as the kernel writes it.
 */
import { pssPartsOf } from '../../../bench/idle-memory';

const mapping = (name: string, pssKb: number) =>
  [
    `7f0000000000-7f0002000000 rw-s 00000000 00:01 1234                       ${name}`.trimEnd(),
    'Size:              32768 kB',
    `Rss:               ${pssKb} kB`,
    `Pss:               ${pssKb} kB`,
    'Pss_Dirty:             0 kB',
  ].join('\n');

test('each mapping counts in its part, in MiB', () => {
  const text = [
    mapping('/memfd:tcg-jit (deleted)', 20480),
    mapping('/memfd:tcg-jit (deleted)', 1024),
    mapping('/run/podvisor/templates/0123456789ab/ram', 8192),
    mapping('/memfd:pc.ram (deleted)', 1024),
    mapping('/usr/bin/qemu-system-x86_64', 4096),
    mapping('[heap]', 5120),
    mapping('', 2048),
  ].join('\n');
  expect(pssPartsOf(text)).toEqual({ jit: 21, guestRam: 9, qemu: 11 });
});

test("a file named like RAM outside a template directory is QEMU's own", () => {
  expect(pssPartsOf(mapping('/var/lib/ram', 1024))).toEqual({ jit: 0, guestRam: 0, qemu: 1 });
});
