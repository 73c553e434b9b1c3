/**
 * The records of a CRI checkpoint archive's saved sandbox VM (src/api/cri/checkpoint-archive.ts),
 * rebuilt for a restore on this node (./cri-restore.ts). Both came in a file on the node that
 * anyone may have made, so nothing of them is taken as it is: each field is checked and the
 * records are written anew from the checked fields alone.
 *
 *   vm.json   the saved VM's size, devices, stamp, NICs, and its one joined container (the
 *             checkpointed one: its name must be the manifest's, its disk copy `joined-0.disk`,
 *             its SCSI addresses small integers); its image disk pointed at the archive's own
 *             copy (`image-0.ext4` in the checkpoint's final directory, with its identity
 *             here), never at a host path the archive names, and kept by the restore
 *             (`joinedStay`). A VM whose record names disks of its own (a CRI sandbox's pause
 *             has none) is refused.
 *   pod.json  the new sandbox's own record, its pause renamed to the saved one's id with the
 *             saved one's init process id: what the restore takes over in the guest
 *             (./checkpoints.ts savedMain).
 */
import type { SavedVmRecord } from '../../vm/qemu/snapshots/saved-record';
import { mainContainer, type PodRecord } from '../types';

/** The archive's copy of the checkpointed container's image disk, in the checkpoint's directory. */
export const CRI_IMAGE_DISK_COPY = 'image-0.ext4';
/** The archive's copy of the checkpointed container's layer. */
export const CRI_LAYER_COPY = 'joined-0.disk';

/** The largest VM an archive may ask for (the archive's state is bounded at 17 GiB too). */
const MAX_MEMORY_MIB = 64 * 1024;
const MAX_CPUS = 64;

/** A refusal of a record, naming what is wrong. */
export class CriRecordError extends Error {}

/** Fail unless `ok`, naming `what` of record `file`. */
function check(ok: boolean, file: string, what: string): asserts ok {
  if (!ok) throw new CriRecordError(`its ${file} is not one this daemon reads: ${what}`);
}

/** An integer in [lo, hi]. */
function intIn(v: unknown, lo: number, hi: number): v is number {
  return Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;
}

/** An object (not null, not an array). */
function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A SCSI address of a joined disk, rebuilt. */
function scsiAddress(v: unknown): { scsiId: number; lun: number } {
  check(isObject(v) && intIn(v.scsiId, 0, 255) && intIn(v.lun, 0, 16383), 'vm.json', "a joined disk's address");
  return { scsiId: v.scsiId, lun: v.lun };
}

/**
 * The vm.json of the restore, from the archive's (`raw`, parsed JSON): the saved CRI sandbox VM
 * whose one joined container goes by `diskName`, its image disk `imageDisk` (the archive's copy
 * at its final path, and that file's identity). CriRecordError when it is not one.
 */
export function criRestoreVmRecord(
  raw: unknown,
  diskName: string,
  imageDisk: { file: string; identity: string },
): SavedVmRecord {
  const f = 'vm.json';
  check(isObject(raw) && raw.format === 1, f, 'not format 1');
  const size = raw.size;
  check(isObject(size) && intIn(size.memoryMiB, 16, MAX_MEMORY_MIB) && intIn(size.cpus, 1, MAX_CPUS), f, 'its size');
  const d = raw.devices;
  const bool = (v: unknown) => typeof v === 'boolean';
  check(
    isObject(d) &&
      intIn(d.nics, 1, 16) &&
      bool(d.volumes) &&
      bool(d.upperDisk) &&
      (d.imageDisk === undefined || bool(d.imageDisk)),
    f,
    'not the devices of a CRI sandbox VM',
  );
  // A CRI sandbox's pause has no disk: nothing of the VM's own is restored from a host path.
  check(raw.imageDisk === undefined && raw.diskCopy === undefined, f, 'its VM has disks of its own');
  check(typeof raw.splitWx === 'boolean', f, 'splitWx');
  check(typeof raw.stamp === 'string' && raw.stamp.length <= 4096, f, 'its stamp');
  check(typeof raw.savedAt === 'string' && raw.savedAt.length <= 64, f, 'savedAt');
  check(raw.nics === undefined || (Array.isArray(raw.nics) && raw.nics.length === d.nics), f, 'its NICs');
  const joined = raw.joined;
  check(Array.isArray(joined) && joined.length === 1 && isObject(joined[0]), f, 'not one container in its VM');
  const j = joined[0] as Record<string, unknown>;
  check(j.containerId === diskName, f, "its container is not the manifest's");
  check(j.diskCopy === CRI_LAYER_COPY, f, `its container's layer is not ${CRI_LAYER_COPY}`);
  check(isObject(j.at), f, "its container's disk addresses");
  return {
    format: 1,
    size: { memoryMiB: size.memoryMiB, cpus: size.cpus },
    devices: {
      nics: d.nics,
      volumes: d.volumes as boolean,
      upperDisk: d.upperDisk as boolean,
      imageDisk: !!d.imageDisk,
    },
    splitWx: raw.splitWx,
    stamp: raw.stamp,
    savedAt: raw.savedAt,
    // Each NIC's saved interface is checked field by field where it is read (savedNics).
    ...(raw.nics ? { nics: raw.nics as SavedVmRecord['nics'] } : {}),
    joined: [
      {
        containerId: diskName,
        diskCopy: CRI_LAYER_COPY,
        imageDisk,
        at: { upper: scsiAddress(j.at.upper), image: scsiAddress(j.at.image) },
      },
    ],
    joinedStay: true,
  };
}

/**
 * The pod.json of the restore: sandbox record `now` (the new sandbox's) with its pause as the
 * archive's pod.json (`raw`) saved it, the id and the init process id the guest knows it by.
 * CriRecordError when `raw` is not a CRI sandbox's record.
 */
export function criRestorePodRecord(raw: unknown, now: PodRecord): PodRecord {
  const f = 'pod.json';
  check(isObject(raw) && typeof raw.id === 'string' && /^[a-f0-9]{64}$/.test(raw.id), f, 'its id');
  const containers = raw.containers;
  check(isObject(containers) && Object.keys(containers).length === 1, f, 'not one container');
  const c = containers[raw.id];
  check(isObject(c), f, 'its container is not its own');
  const proc = c.process;
  check(typeof proc === 'string' && /^[\w.-]{1,128}$/.test(proc), f, "its container's init process");
  const main = mainContainer(now);
  return {
    ...now,
    id: raw.id,
    containers: { [raw.id]: { ...main, spec: { ...main.spec, id: raw.id }, process: proc } },
  };
}
