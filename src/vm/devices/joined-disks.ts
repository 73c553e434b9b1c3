/**
 * The disks of a container that joined another container's VM (`docker run --network
 * container:X`, a CRI pod's containers in its sandbox's VM): its upper disk (its writable
 * layer, a file as the VM's own upper disk's: ./upper-disk/upper-disk.ts) and, read-only, its
 * image's disk (./image-disk/image-disk.ts), each a SCSI disk hot-plugged on the VM's
 * virtio-scsi controller for as long as the container runs there.
 *
 * microvm has no hot-plug of virtio devices, and its 8 transports are taken; a SCSI controller
 * hot-plugs LUNs (QMP `device_add` of a `scsi-hd`; QEMU gives it a free target, and the guest's
 * virtio-scsi driver adds the disk when QEMU's event reaches it). `device_del` removes it at
 * once (QEMU sends DEVICE_DELETED), after the agent let go of the filesystem on it.
 *
 * Every name is the container's: QEMU's node names and device ids and the serial the guest
 * finds the disk by (the agent waits for it to appear). So the host keeps no table of which
 * LUN is whose, and a daemon that re-adopted the VM removes them by name.
 */
import { createHash } from 'node:crypto';
import { backingNode } from './upper-disk/upper-disk';

/** The two disks of a joined container, as the guest and QEMU name them. */
export interface JoinedDiskNames {
  /** The upper disk's serial (the agent's CREATE_CONTAINER takes it for `upperDisk`). */
  upperSerial: string;
  /** The image disk's serial (CREATE_CONTAINER's `imageDisk`). */
  imageSerial: string;
}

/**
 * What names take from container id `containerId`: 16 hex digits of its SHA-256, so that any id
 * the agent takes gives names QEMU and the agent take (a letter first, no other characters).
 */
function short(containerId: string): string {
  return createHash('sha256').update(containerId).digest('hex').slice(0, 16);
}

/** The serials of container `containerId`'s joined disks (20 characters at most, as the agent takes). */
export function joinedDiskNames(containerId: string): JoinedDiskNames {
  const id = short(containerId);
  return { upperSerial: `pvu-${id}`, imageSerial: `pvi-${id}` };
}

/** QEMU's names of one joined disk: its device, its format node and its file node. */
function qemuNames(containerId: string, kind: 'u' | 'i'): { dev: string; node: string; file: string } {
  const id = short(containerId);
  return { dev: `jd${kind}-${id}`, node: `jd${kind}-${id}`, file: `jd${kind}-${id}-file` };
}

/** How a joined upper disk's file is opened: as the VM's own upper disk's (no O_DIRECT, flushes not passed on). */
const UPPER_FILE_CACHE = { direct: false, 'no-flush': true };

/**
 * Where a joined disk sits on its controller (its SCSI target and LUN): a VM restored from a
 * save has each disk where the save found it, since the saved state names the disk by it.
 */
export interface ScsiAddress {
  scsiId: number;
  lun: number;
}

/** The SCSI addresses of a joined container's two disks, as QMP's `qom-get` found them. */
export interface JoinedDiskAddresses {
  upper: ScsiAddress;
  image: ScsiAddress;
}

/**
 * The QMP commands that hot-plug container `containerId`'s disks on controller `controller`:
 * `upperFile` (read-write) and `imageFile` (read-only), each a raw node over a file node and a
 * `scsi-hd`, the upper disk first; each on a free target, or at `at` (a restore's). With
 * `backing` (the read-only files under it, the one just under it first: a restored pod's
 * container, src/util/disk-chain.ts), the upper file node is a qcow2 overlay over them, its
 * chain given explicitly as the VM's own upper disk's (./upper-disk/upper-disk.ts), so that no
 * header a guest may have written names a file QEMU opens.
 */
export function attachJoinedCommands(
  controller: string,
  containerId: string,
  upperFile: string,
  imageFile: string,
  at?: JoinedDiskAddresses,
  backing: string[] = [],
): Array<[string, Record<string, unknown>]> {
  const names = joinedDiskNames(containerId);
  const fileNode = (kind: 'u' | 'i', file: string): Record<string, unknown> => {
    const n = qemuNames(containerId, kind);
    if (kind === 'i')
      return { driver: 'file', 'node-name': n.file, filename: file, 'read-only': true, cache: { direct: false } };
    if (backing.length === 0) return { driver: 'file', 'node-name': n.file, filename: file, cache: UPPER_FILE_CACHE };
    return {
      driver: 'qcow2',
      'node-name': n.file,
      cache: UPPER_FILE_CACHE,
      file: { driver: 'file', filename: file },
      backing: backingNode(backing, `jdb-${short(containerId)}`),
    };
  };
  const disk = (kind: 'u' | 'i', file: string, serial: string): Array<[string, Record<string, unknown>]> => {
    const n = qemuNames(containerId, kind);
    const readOnly = kind === 'i';
    const address = at ? (readOnly ? at.image : at.upper) : undefined;
    return [
      ['blockdev-add', fileNode(kind, file)],
      [
        'blockdev-add',
        { driver: 'raw', 'node-name': n.node, file: n.file, ...(readOnly ? { 'read-only': true } : {}) },
      ],
      [
        'device_add',
        {
          driver: 'scsi-hd',
          bus: `${controller}.0`,
          drive: n.node,
          serial,
          id: n.dev,
          ...(address ? { 'scsi-id': address.scsiId, lun: address.lun } : {}),
        },
      ],
    ];
  };
  return [...disk('u', upperFile, names.upperSerial), ...disk('i', imageFile, names.imageSerial)];
}

/** The ids of container `containerId`'s two disk devices (QMP `device_del`). */
export function joinedDeviceIds(containerId: string): string[] {
  return [qemuNames(containerId, 'u').dev, qemuNames(containerId, 'i').dev];
}

/** The nodes of container `containerId`'s disks, each format node before its file node (QMP `blockdev-del`). */
export function joinedNodeNames(containerId: string): string[] {
  const u = qemuNames(containerId, 'u');
  const i = qemuNames(containerId, 'i');
  return [u.node, u.file, i.node, i.file];
}
