/**
 * A checkpoint's record of its saved VM (vm.json, ./checkpoint.ts's module comment): what it
 * holds, how it is read back (checked field by field: the file is the host's, but may be cut or
 * old), and the checks a restore makes of what it names (an image disk's identity, the NICs'
 * saved interfaces, the disks of the containers that had joined the VM).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { InterfaceInfo, VmSize } from '../../types';
import type { VmDeviceRequest } from '../../devices/types';
import type { JoinedDiskAddresses } from '../../devices/joined-disks';
import { UnavailableError } from '../../../errors';
import type { SavedJoinedDisks } from './clone-layout';

/** The state file of a saved VM, in its checkpoint's directory. */
export const VM_STATE_FILE = 'vm.state';
/** The record of a saved VM, in its checkpoint's directory. */
export const VM_RECORD_FILE = 'vm.json';

/** What a checkpoint records of its VM (see the module comment). */
export interface SavedVmRecord {
  format: 1;
  size: VmSize;
  devices: Required<VmDeviceRequest>;
  splitWx: boolean;
  /** The guest kernel, initramfs, command line, accelerator and QEMU it was saved under. */
  stamp: string;
  savedAt: string;
  /** The host file behind its image disk, and its identity then (imageDiskIdentity). */
  imageDisk?: { file: string; identity: string };
  /** The name of the save's copy of its upper disk in the checkpoint's directory. */
  diskCopy?: string;
  /**
   * Each NIC's guest interface (LIST_INTERFACES) just before the save, in NIC order; null for
   * one the guest did not list. Absent in a checkpoint saved before they were recorded.
   */
  nics?: Array<InterfaceInfo | null>;
  /** The containers that had joined the VM, each with its disks (absent: none). */
  joined?: SavedJoinedRecord[];
  /**
   * The `joined` containers are the saved pod's own (a native pod of several, each container on
   * hot-plugged disks): a VM started from the save keeps them, each one's disk a copy-on-write
   * overlay over its copy (its fork template keeps them too, on disks of its own).
   */
  joinedStay?: true;
}

/** A container that had joined a saved VM, as its checkpoint records it. */
export interface SavedJoinedRecord {
  containerId: string;
  /** The name of the save's copy of its upper disk in the checkpoint's directory. */
  diskCopy: string;
  /** The host file behind its image disk, and its identity then (imageDiskIdentity). */
  imageDisk: { file: string; identity: string };
  /** Where its two disks sat on the VM's SCSI controller. */
  at: JoinedDiskAddresses;
}

/**
 * What tells an image disk file from another made at the same path later (its inode, size and
 * modification time): a guest saved over one filesystem must never load over another.
 */
export function imageDiskIdentity(file: string): string | undefined {
  try {
    const st = fs.statSync(file);
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return undefined;
  }
}

/** A restore of a checkpoint made under another guest kernel, agent or QEMU. */
export class CheckpointMismatchError extends UnavailableError {}

/**
 * The disks of checkpoint `dir`'s joined containers (record `r`), for its fork template;
 * CheckpointMismatchError when one's image disk is gone or was made again since.
 */
export function savedJoinedDisks(dir: string, r: SavedVmRecord): SavedJoinedDisks[] {
  return (r.joined ?? []).map((j) => {
    if (imageDiskIdentity(j.imageDisk.file) !== j.imageDisk.identity)
      throw new CheckpointMismatchError(
        `the image disk of container ${j.containerId} that had joined its VM (${j.imageDisk.file}) is gone or was made again since (docs/checkpoint.md)`,
      );
    return { containerId: j.containerId, upperFile: path.join(dir, j.diskCopy), imageFile: j.imageDisk.file, at: j.at };
  });
}

/**
 * The NICs' guest interfaces checkpoint record `r` holds, each checked (an entry that is not
 * one is taken as not recorded: its NIC gets a new MAC); undefined when it holds none.
 */
export function savedNics(r: SavedVmRecord): Array<InterfaceInfo | undefined> | undefined {
  if (!Array.isArray(r.nics) || r.nics.length !== r.devices.nics) return undefined;
  const ipv4 = (a: unknown) => typeof a === 'string' && /^\d{1,3}(\.\d{1,3}){3}$/.test(a);
  const int = (n: unknown, lo: number, hi: number) => Number.isInteger(n) && (n as number) >= lo && (n as number) <= hi;
  return r.nics.map((i, k) => {
    const ok =
      i !== null &&
      typeof i === 'object' &&
      i.name === `eth${k}` &&
      typeof i.mac === 'string' &&
      /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(i.mac) &&
      int(i.mtu, 0, 65535) &&
      typeof i.up === 'boolean' &&
      (i.address === undefined || (ipv4(i.address) && int(i.prefix, 0, 32))) &&
      (i.secondary === undefined ||
        (Array.isArray(i.secondary) && i.secondary.every((s) => ipv4(s?.address) && int(s?.prefix, 0, 32)))) &&
      (i.address6 === undefined || (typeof i.address6 === 'string' && int(i.prefix6, 0, 128)));
    return ok ? i : undefined;
  });
}

/** The record of the saved VM in `dir`, checked field by field (the file is the host's, but may be cut or old). */
export function readSavedVm(dir: string): SavedVmRecord {
  let r: SavedVmRecord;
  try {
    r = JSON.parse(fs.readFileSync(path.join(dir, VM_RECORD_FILE), 'utf8')) as SavedVmRecord;
  } catch (err) {
    throw new CheckpointMismatchError(`its VM record cannot be read: ${(err as Error).message}`);
  }
  const ok =
    r?.format === 1 &&
    Number.isInteger(r.size?.memoryMiB) &&
    Number.isInteger(r.size?.cpus) &&
    Number.isInteger(r.devices?.nics) &&
    typeof r.devices?.volumes === 'boolean' &&
    typeof r.devices?.upperDisk === 'boolean' &&
    (r.devices.imageDisk === undefined || typeof r.devices.imageDisk === 'boolean') &&
    (r.imageDisk === undefined || (typeof r.imageDisk.file === 'string' && typeof r.imageDisk.identity === 'string')) &&
    (r.diskCopy === undefined || (typeof r.diskCopy === 'string' && /^\w[\w.-]*$/.test(r.diskCopy))) &&
    typeof r.splitWx === 'boolean' &&
    typeof r.stamp === 'string' &&
    (r.joined === undefined || (Array.isArray(r.joined) && r.joined.every(isJoinedRecord))) &&
    (r.joinedStay === undefined || r.joinedStay === true);
  if (!ok) throw new CheckpointMismatchError('its VM record is not one this daemon reads');
  // Saved before VMs had image disks.
  r.devices.imageDisk ??= false;
  if (!fs.existsSync(path.join(dir, VM_STATE_FILE))) throw new CheckpointMismatchError('its VM state is missing');
  return r;
}

/** Whether `j` is a joined container's record as a save writes it (SavedJoinedRecord). */
function isJoinedRecord(j: SavedJoinedRecord): boolean {
  const address = (a: { scsiId?: unknown; lun?: unknown } | undefined) =>
    Number.isInteger(a?.scsiId) && Number.isInteger(a?.lun);
  return (
    typeof j?.containerId === 'string' &&
    /^[\w.-]{1,128}$/.test(j.containerId) &&
    typeof j.diskCopy === 'string' &&
    /^joined-\d+\.disk$/.test(j.diskCopy) &&
    typeof j.imageDisk?.file === 'string' &&
    typeof j.imageDisk.identity === 'string' &&
    address(j.at?.upper) &&
    address(j.at?.image)
  );
}
