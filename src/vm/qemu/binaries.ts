/**
 * Where the host programs the QEMU hypervisor needs are, and what to say when one is missing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UnavailableError } from '../../errors';
import { PACKAGE_ROOT } from '../../util/package-info';

/** A QEMU to run: its binary, the arguments it always needs first, and its environment. */
export interface QemuProgram {
  /** qemu-system-x86_64 */
  bin: string;
  /** Arguments before the VM's own (e.g. `-L <its data directory>`). */
  args: string[];
  /** Variables added to the daemon's environment (e.g. QEMU_MODULE_DIR); none when absent. */
  env?: Record<string, string>;
  /**
   * It can map a private (copy-on-write) RAM file opened read-only (`readonly=on,rom=off`, QEMU
   * 8.2 and later), so a clone's jail can hold its template's RAM file read-only; QEMU 7.2
   * opens it read-write.
   */
  privateRamReadOnly?: boolean;
  /**
   * The library preloaded into its clones (host/ram-shim, ../memory/ram-shim.ts) that lets a
   * clone hand back the pages its guest frees while its template's RAM file stays read-only to
   * it. Set only for a QEMU that also has privateRamReadOnly: its VMs that can be saved (a
   * template and its clones) then have a free-page-reporting balloon; without it they have none.
   */
  ramShim?: string;
}

/** The host programs a QEMU VM needs. */
export interface QemuTools {
  /** qemu-system-x86_64: booted VMs (virtio-fs) and the KVM probe. */
  qemu: string;
  /** virtiofsd (the C one that ships with Debian 12's qemu-system-common) */
  virtiofsd: string;
  /**
   * The QEMU of templates and their clones, whose files reach the guest over 9p:
   * guest/out/qemu when the bootstrap unpacked it (scripts/qemu-9p.sh: a QEMU whose 9p server
   * creates FIFOs and unix sockets, which Debian 12's 7.2 refuses with ENXIO), else `qemu`.
   */
  cloneQemu: QemuProgram;
}

/**
 * The QEMU unpacked at `<root>/guest/out/qemu` by scripts/qemu-9p.sh, with its own firmware
 * directory (`-L`) and module directory, or undefined when it is not there.
 */
export function unpackedQemu(root: string = PACKAGE_ROOT): QemuProgram | undefined {
  const dir = path.join(root, 'guest', 'out', 'qemu');
  const bin = path.join(dir, 'usr', 'bin', 'qemu-system-x86_64');
  if (!isExecutable(bin)) return undefined;
  return {
    bin,
    args: ['-L', path.join(dir, 'usr', 'share', 'qemu')],
    env: { QEMU_MODULE_DIR: path.join(dir, 'usr', 'lib', 'x86_64-linux-gnu', 'qemu') },
    privateRamReadOnly: true,
    ...(ramShimLibrary(root) ? { ramShim: ramShimLibrary(root) } : {}),
  };
}

/**
 * The library preloaded into a clone's QEMU, where scripts/bootstrap.sh builds it
 * (make -C host/ram-shim OUT=host/out), or undefined when it is not there.
 */
export function ramShimLibrary(root: string = PACKAGE_ROOT): string | undefined {
  const lib = path.join(root, 'host', 'out', 'podvisor-ram-shim.so');
  return fs.existsSync(lib) && fs.statSync(lib).isFile() ? lib : undefined;
}

/**
 * The host's holder of a clone's 9p locks, where scripts/bootstrap.sh builds it
 * (make -C host/lock-holder OUT=host/out; src/vm/qemu/processes/lock-holder.ts), or undefined when it
 * is not there.
 */
export function lockHolderBinary(root: string = PACKAGE_ROOT): string | undefined {
  const bin = path.join(root, 'host', 'out', 'podvisor-lock-holder');
  return isExecutable(bin) ? bin : undefined;
}

/** Places virtiofsd is installed by distributions (it is not on PATH). */
const VIRTIOFSD_PLACES = ['/usr/lib/qemu/virtiofsd', '/usr/libexec/virtiofsd', '/usr/lib/virtiofsd'];

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** First executable `name` on PATH, or undefined. */
export function findOnPath(name: string, envPath: string = process.env.PATH ?? ''): string | undefined {
  for (const dir of envPath.split(':').filter(Boolean)) {
    const p = path.join(dir, name);
    if (isExecutable(p)) return p;
  }
  return undefined;
}

/**
 * Find qemu-system-x86_64 and virtiofsd (explicit paths win). Throws UnavailableError naming
 * the Debian package to install when one is missing.
 */
export function locateQemuTools(explicit: Partial<QemuTools> = {}, root: string = PACKAGE_ROOT): QemuTools {
  const qemu = explicit.qemu ?? findOnPath('qemu-system-x86_64');
  if (!qemu || !isExecutable(qemu)) {
    throw new UnavailableError(
      `qemu-system-x86_64 not found${explicit.qemu ? ` at ${explicit.qemu}` : ' on PATH'}: install it with "apt-get install qemu-system-x86" (or run scripts/bootstrap.sh)`,
    );
  }
  const virtiofsd = explicit.virtiofsd ?? VIRTIOFSD_PLACES.find(isExecutable) ?? findOnPath('virtiofsd');
  if (!virtiofsd || !isExecutable(virtiofsd)) {
    throw new UnavailableError(
      `virtiofsd not found${explicit.virtiofsd ? ` at ${explicit.virtiofsd}` : ` (looked in ${VIRTIOFSD_PLACES.join(', ')} and PATH)`}: install it with "apt-get install qemu-system-common" (or run scripts/bootstrap.sh)`,
    );
  }
  // An explicit QEMU (a test's stand-in) serves clones too.
  const cloneQemu = explicit.cloneQemu ?? (explicit.qemu ? undefined : unpackedQemu(root)) ?? { bin: qemu, args: [] };
  return { qemu, virtiofsd, cloneQemu };
}

/** Throws UnavailableError when the guest kernel or initramfs file is missing. */
export function checkGuestImages(kernel: string, initrd: string): void {
  for (const [what, file] of [
    ['guest kernel', kernel],
    ['guest initramfs', initrd],
  ] as const) {
    if (!fs.existsSync(file)) {
      throw new UnavailableError(
        `${what} ${file} is missing: run scripts/bootstrap.sh (it builds the guest into guest/out)`,
      );
    }
  }
}
