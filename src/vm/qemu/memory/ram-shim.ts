/**
 * The RAM shim (host/ram-shim): how a clone hands the memory its guest frees back to the host.
 *
 * A clone's RAM is a private copy-on-write mapping of its template's RAM file. Its guest reports
 * free 2 MiB blocks through the balloon (free page reporting), and QEMU discards each one: a
 * hole punched in the file, then, for a private mapping, MADV_DONTNEED, which drops the clone's
 * own copies of the pages so that they read the template's again. The hole would zero the
 * template's pages under every clone, and QEMU 10 refuses any discard on a file it opened
 * read-only. The shim, preloaded into the clone's QEMU for its template's RAM file only, opens
 * that file read-only when QEMU asks read-write and answers the hole punch with success without
 * making it, so QEMU goes on to drop its copies. The jail binds the file read-only all the same.
 *
 * A guest never assumes a reported page reads zero (the kernel has no init_on_free and no page
 * poisoning: guest/kernel/podvisor.config), so the template's bytes there are as good.
 */
import type { QemuProgram } from '../binaries';

/** Whether VMs of `program` that can be saved (templates, clones) get a free-page-reporting balloon. */
export function savedVmsHaveBalloon(program: QemuProgram): boolean {
  return program.privateRamReadOnly === true && program.ramShim !== undefined;
}

/**
 * `program` with the shim preloaded for the clone's private mapping of `ramFile` (the path as
 * QEMU is given it), or `program` itself when its VMs have no balloon.
 */
export function withRamShim(program: QemuProgram, ramFile: string): QemuProgram {
  if (!savedVmsHaveBalloon(program)) return program;
  return {
    ...program,
    env: { ...program.env, LD_PRELOAD: program.ramShim!, PODVISOR_RAM_FILE: ramFile },
  };
}
