/**
 * The stamp of a saved VM (SavedVmRecord.stamp): what its state was made under, so that a start
 * from it (a restore, a fork, a checkpoint image pulled on another host) loads it only where the
 * guest's code and QEMU's device model are the same, and otherwise refuses naming what differs.
 *
 * The stamp is lines of `name=value`:
 *   kernel     the guest kernel file's sha256 (its content, not its path or time: a daemon on
 *              another host with the same build, copied or made again, matches: the kernel
 *              and initramfs builds are reproducible, scripts/guest-kernel.sh, guest/build.sh);
 *   initramfs  the initramfs's sha256 (the agent is in it);
 *   qemu       the QEMU binary's sha256 that loads saved states, and `+balloon` when saved VMs
 *              have a balloon device (memory/ram-shim.ts);
 *   machine    the microvm machine's extra properties;
 *   cmdline    the guest kernel's command line, less tsc_early_khz (a booted guest never reads
 *              it again);
 *   tsc        the TSC rate the guest calibrated to (TCG: the host's): a guest moved to a host
 *              whose TSC runs at another rate keeps the saved rate and its clock drifts, so the
 *              rate must match;
 *   accel      tcg or kvm.
 * The VM's size, devices and code-buffer mode are the record's own fields: a start always asks
 * for those.
 */
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import type { GuestImages } from '../../guest-images';
import type { QemuTools } from '../binaries';
import { savedVmsHaveBalloon } from '../memory/ram-shim';
import type { StartHost } from '../start-host';

/** What each stamp part is, in the words of a refusal. */
const PART_NAMES: Record<string, string> = {
  kernel: 'guest kernel',
  initramfs: 'initramfs (the agent is in it)',
  qemu: 'QEMU',
  machine: "microvm machine's properties",
  cmdline: 'guest kernel command line',
  tsc: "host's TSC rate",
  accel: 'acceleration',
};

/** The digests of files read, by the identity of the file they were read from. */
const digests = new Map<string, string>();

/** The identity a digest is kept under: the file's device, inode, size and modification time. */
function identityOf(st: fs.Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
}

/**
 * The sha256 of file `file`'s content (hex), read once per identity (device, inode, size and
 * modification time); `missing:<path>` when it cannot be read, which matches no digest.
 */
export function fileDigest(file: string): string {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch {
    return `missing:${file}`;
  }
  try {
    const id = identityOf(fs.fstatSync(fd));
    const known = digests.get(id);
    if (known) return known;
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) hash.update(buf.subarray(0, n));
    const digest = hash.digest('hex');
    digests.set(id, digest);
    return digest;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Read the digests of `files` in the background (streamed, off the event loop's long path), so
 * that the first save or start does not read them itself; errors are left to fileDigest.
 */
export async function warmFileDigests(files: string[]): Promise<void> {
  for (const file of files) {
    try {
      const fh = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      try {
        const id = identityOf(await fh.stat());
        if (digests.has(id)) continue;
        const hash = createHash('sha256');
        for await (const chunk of fh.createReadStream({ autoClose: false, highWaterMark: 1 << 20 }))
          hash.update(chunk as Buffer);
        digests.set(id, hash.digest('hex'));
      } finally {
        await fh.close();
      }
    } catch {
      // fileDigest says what is missing when a stamp needs it.
    }
  }
}

/** The files a stamp reads: the guest kernel, the initramfs and the QEMU that loads saves. */
export function stampedFiles(tools: QemuTools, guest: GuestImages): string[] {
  return [guest.kernel, guest.initrd, tools.cloneQemu.bin];
}

/** The TSC rate a kernel command line hands the guest (`tsc_early_khz=`), or `none`. */
function tscOf(cmdline: string): string {
  return /(?:^|\s)tsc_early_khz=(\d+)(?=\s|$)/.exec(cmdline)?.[1] ?? 'none';
}

/** The stamp of a VM started by `h` now with `tools` and `guest` (see the module comment). */
export function saveStamp(h: StartHost, tools: QemuTools, guest: GuestImages): string {
  const parts: [string, string][] = [
    ['kernel', fileDigest(guest.kernel)],
    ['initramfs', fileDigest(guest.initrd)],
    ['qemu', `${fileDigest(tools.cloneQemu.bin)}${savedVmsHaveBalloon(tools.cloneQemu) ? '+balloon' : ''}`],
    ['machine', (guest.machineOpts ?? []).join(',')],
    [
      'cmdline',
      h.cmdline
        .split(' ')
        .filter((a) => !a.startsWith('tsc_early_khz='))
        .join(' '),
    ],
    ['tsc', tscOf(h.cmdline)],
    ['accel', h.opts.accel],
  ];
  return parts.map(([name, value]) => `${name}=${value}`).join('\n');
}

/** A stamp's parts by name; undefined for a stamp that is not lines of `name=value`. */
function partsOf(stamp: string): Map<string, string> | undefined {
  const parts = new Map<string, string>();
  for (const line of stamp.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) return undefined;
    parts.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return parts;
}

/** A value for a refusal: a digest cut to 12 characters, anything else bounded. */
function shown(value: string | undefined): string {
  if (value === undefined) return 'none';
  if (/^[0-9a-f]{64}/.test(value)) return `sha256:${value.slice(0, 12)}${value.slice(64)}`;
  return value.length > 80 ? `${value.slice(0, 77)}...` : value;
}

/**
 * Why a state saved under stamp `saved` cannot start under stamp `now`, naming each part that
 * differs with its value here and in the save; undefined when they match. A stamp of an older
 * podvisor (not lines of `name=value`) is said to be one.
 */
export function stampDifference(saved: string, now: string): string | undefined {
  if (saved === now) return undefined;
  const was = partsOf(saved);
  const is = partsOf(now);
  if (!was || !is) return 'it was saved by an older podvisor, whose saves name their guest files by path and time';
  const differing = Object.keys(PART_NAMES)
    .filter((name) => was.get(name) !== is.get(name))
    .map((name) => `its ${PART_NAMES[name]} (${shown(was.get(name))} in the save, ${shown(is.get(name))} here)`);
  return differing.length > 0 ? differing.join('; ') : 'its stamp names parts this daemon does not know';
}
