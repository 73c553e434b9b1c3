/**
 * A clone's QEMU (./clone.ts): its command line on the template's RAM (or a checkpoint's),
 * waiting for its state, spawned confined; and its vm.json, by which a later daemon adopts it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { GuestImages } from '../../guest-images';
import type { QemuTools } from '../binaries';
import { qemuArgs } from '../cmdline';
import { writeVmRecord } from '../vm-record';
import { programPid } from '../confinement/jailed-process';
import { spawnConfinedQemu } from '../confinement/confinement';
import { shareVmDir } from '../confinement/jail-mounts';
import { activeJail } from '../confinement/jail';
import { hostQemuOptions, type StartHost } from '../start-host';
import { savedVmsHaveBalloon, withRamShim } from '../memory/ram-shim';
import type { CloneLayout, CloneProgress, SavedState } from './clone-layout';

/**
 * Spawn the clone's QEMU, confined, on the template's RAM file and waiting for its state
 * (`-incoming`), which it gets on CLONE_STATE_FD.
 */
export async function spawnCloneQemu(
  h: StartHost,
  tools: QemuTools,
  guest: GuestImages,
  layout: CloneLayout,
  from: SavedState,
  made: CloneProgress,
): Promise<ChildProcess> {
  const { id, size, paths, devices, splitWx } = layout;
  await shareVmDir(paths.dir);
  // A fork template being made writes its RAM file, which must exist to be bound in its jail.
  if (from.shareRam) fs.writeFileSync(from.ramFile, '', { mode: 0o600, flag: 'a' });
  // A template's (or fork template's) RAM file, mapped copy-on-write: read-only in the jail when
  // this QEMU can map it so; the RAM file of a restore of its own is in its directory.
  const ramMapped = !from.shareRam && path.resolve(from.ramFile) !== path.resolve(paths.ramFile);
  // A checkpoint's own state carries all its RAM: loaded into anonymous memory, where the pages
  // the stream marks as zero stay unallocated (qemuArgs `ram`).
  const anonymousRam = from.allRam === true && !from.shareRam;
  // A mapped template's RAM goes back to the host where the guest frees it (memory/ram-shim.ts):
  // QEMU then opens the file read-only through the shim, not with readonly=on, which refuses
  // every discard.
  const balloon = savedVmsHaveBalloon(tools.cloneQemu);
  const program = ramMapped ? withRamShim(tools.cloneQemu, from.ramFile) : tools.cloneQemu;
  made.stateFd = fs.openSync(from.stateFile, 'r'); // close-on-exec, as every fd Node opens
  made.qemu = await spawnConfinedQemu(
    program,
    qemuArgs({
      ...hostQemuOptions(h, guest),
      id,
      size,
      paths,
      devices,
      splitWx,
      transport: '9p',
      ram: anonymousRam
        ? 'anonymous'
        : {
            file: from.ramFile,
            share: from.shareRam === true,
            readOnlyFile:
              ramMapped && !balloon && tools.cloneQemu.privateRamReadOnly === true && activeJail() !== undefined,
          },
      incoming: true,
      tapFds: activeJail() !== undefined,
      ninePBalloon: balloon,
    }),
    paths.qemuLog,
    [made.stateFd],
    {
      paths,
      readOnly: [
        guest.kernel,
        guest.initrd,
        ...(ramMapped && tools.cloneQemu.privateRamReadOnly ? [from.ramFile] : []),
        ...(ramMapped && balloon ? [tools.cloneQemu.ramShim!] : []),
      ],
      readWrite: from.shareRam || (ramMapped && !tools.cloneQemu.privateRamReadOnly) ? [from.ramFile] : [],
      size,
      accel: h.opts.accel,
      taps: devices.nics.map((n) => n.tap),
      ninep: true,
    },
  );
  fs.closeSync(made.stateFd);
  made.stateFd = undefined;
  return made.qemu;
}

/** Write the clone's vm.json, by which a later daemon adopts it. */
export function writeCloneRecord(h: StartHost, guest: GuestImages, layout: CloneLayout, qemu: ChildProcess): void {
  const { id, size, paths, devices } = layout;
  writeVmRecord(paths, {
    format: 1,
    id,
    size,
    accel: h.opts.accel,
    qemuPid: programPid(qemu),
    devices,
    createdAt: new Date().toISOString(),
    kernel: guest.kernel,
    initrd: guest.initrd,
    transport: '9p',
  });
}
