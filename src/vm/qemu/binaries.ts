/**
 * Where the host programs the QEMU hypervisor needs are, and what to say when one is missing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { UnavailableError } from '../../errors';

const execFileP = promisify(execFile);

/** The host programs a QEMU VM needs. */
export interface QemuTools {
  /** qemu-system-x86_64 */
  qemu: string;
  /** virtiofsd (the C one that ships with Debian 12's qemu-system-common) */
  virtiofsd: string;
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
export function locateQemuTools(explicit: Partial<QemuTools> = {}): QemuTools {
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
  return { qemu, virtiofsd };
}

/** Throws UnavailableError when the guest kernel or initramfs file is missing. */
export function checkGuestImages(kernel: string, initrd: string): void {
  for (const [what, file] of [['guest kernel', kernel], ['guest initramfs', initrd]] as const) {
    if (!fs.existsSync(file)) {
      throw new UnavailableError(`${what} ${file} is missing: run scripts/bootstrap.sh (it builds the guest into guest/out)`);
    }
  }
}

/** `qemu-system-x86_64 --version`'s first line, e.g. "QEMU emulator version 7.2.19 (Debian ...)". */
export async function qemuVersion(qemu: string): Promise<string> {
  const { stdout } = await execFileP(qemu, ['--version'], { timeout: 10_000 });
  return stdout.split('\n')[0].trim();
}
