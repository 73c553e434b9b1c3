/**
 * A saved VM's record as a checkpoint image carries it (docs/checkpoint-images.md): the fields
 * of a checkpoint's vm.json (src/vm/qemu/snapshots/saved-record.ts) that travel, without the
 * host paths the sending daemon had (its image disk's file, the name of its disk copy), and
 * how one that came from a registry is read (hostile: checked field by field, rebuilt from the
 * checked fields) and written back as the vm.json of the state unpacked here.
 */
import * as path from 'node:path';
import { writeFileAtomic } from '../util/atomic';
import { imageDiskIdentity, VM_RECORD_FILE, type SavedVmRecord } from '../vm/qemu/snapshots/saved-record';

/** What travels of a saved VM's record. */
export type TravellingVmRecord = Pick<
  SavedVmRecord,
  'format' | 'size' | 'devices' | 'splitWx' | 'stamp' | 'savedAt' | 'nics'
>;

/** The files of an unpacked state: the state, the copy of the container's disk, its image's disk. */
export const STATE_FILE = 'vm.state';
export const DISK_FILE = 'upper.ext4';
export const IMAGE_DISK_FILE = 'image.ext4';

/** Fail unless `ok`, with what was wrong. */
function check(ok: boolean, why: string): asserts ok {
  if (!ok) throw new Error(`its VM record is not one this daemon reads: ${why}`);
}

/** An integer in [lo, hi]. */
function intIn(v: unknown, lo: number, hi: number): v is number {
  return Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;
}

/** One NIC's saved interface, rebuilt from its checked fields (null stays null). */
function readNic(n: unknown): NonNullable<SavedVmRecord['nics']>[number] {
  if (n === null) return null;
  const o = n as Record<string, unknown>;
  check(typeof o === 'object', 'a NIC is not an object');
  check(typeof o.name === 'string' && /^[\w.-]{1,15}$/.test(o.name), "a NIC's name");
  check(typeof o.mac === 'string' && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(o.mac), "a NIC's MAC");
  check(intIn(o.mtu, 68, 65535) && typeof o.up === 'boolean', "a NIC's MTU or state");
  const v4 = typeof o.address === 'string' && /^(\d{1,3}\.){3}\d{1,3}$/.test(o.address) && intIn(o.prefix, 0, 32);
  check(o.address === undefined || v4, "a NIC's address");
  return {
    name: o.name,
    mac: o.mac,
    mtu: o.mtu as number,
    up: o.up,
    ...(v4 ? { address: o.address as string, prefix: o.prefix as number } : {}),
  };
}

/** The travelling part of checkpoint record `r` (the sender's side). */
export function travellingVmRecord(r: SavedVmRecord): TravellingVmRecord {
  return {
    format: r.format,
    size: r.size,
    devices: r.devices,
    splitWx: r.splitWx,
    stamp: r.stamp,
    savedAt: r.savedAt,
    ...(r.nics ? { nics: r.nics } : {}),
  };
}

/** A VM record as it came in an image (hostile), checked and rebuilt; Error otherwise. */
export function readTravellingVmRecord(v: unknown): TravellingVmRecord {
  const o = v as Record<string, unknown>;
  check(typeof o === 'object' && o !== null && o.format === 1, 'not format 1');
  const size = o.size as Record<string, unknown>;
  check(typeof size === 'object' && size !== null, 'no size');
  check(intIn(size.memoryMiB, 16, 1024 * 1024) && intIn(size.cpus, 1, 1024), 'its size');
  const d = o.devices as Record<string, unknown>;
  check(typeof d === 'object' && d !== null && intIn(d.nics, 0, 16), 'its devices');
  check(typeof d.volumes === 'boolean' && typeof d.upperDisk === 'boolean', 'its devices');
  check(d.imageDisk === true && d.upperDisk === true, 'not saved over an image disk and a disk of its own');
  check(typeof o.splitWx === 'boolean', 'splitWx');
  check(typeof o.stamp === 'string' && o.stamp.length <= 4096, 'its stamp');
  check(typeof o.savedAt === 'string' && o.savedAt.length <= 64, 'savedAt');
  check(o.nics === undefined || (Array.isArray(o.nics) && o.nics.length === d.nics), 'its NICs');
  return {
    format: 1,
    size: { memoryMiB: size.memoryMiB as number, cpus: size.cpus as number },
    devices: { nics: d.nics as number, volumes: d.volumes, upperDisk: true, imageDisk: true },
    splitWx: o.splitWx,
    stamp: o.stamp,
    savedAt: o.savedAt,
    ...(o.nics ? { nics: (o.nics as unknown[]).map(readNic) } : {}),
  };
}

/**
 * Write the vm.json of a state unpacked in `dir` (its files named above) that will be at
 * `finalDir` once renamed: the checked record `r`, with this host's image disk file (the
 * unpacked one) and its identity, and the disk copy's name.
 */
export async function writeUnpackedVmRecord(dir: string, finalDir: string, r: TravellingVmRecord): Promise<void> {
  const identity = imageDiskIdentity(path.join(dir, IMAGE_DISK_FILE));
  if (!identity) throw new Error('its image disk was not unpacked');
  const record: SavedVmRecord = {
    ...r,
    imageDisk: { file: path.join(finalDir, IMAGE_DISK_FILE), identity },
    diskCopy: DISK_FILE,
  };
  await writeFileAtomic(path.join(dir, VM_RECORD_FILE), JSON.stringify(record));
}
