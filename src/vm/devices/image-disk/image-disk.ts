/**
 * The image disk device: a read-only SCSI disk for the image of a container run with
 * `--storage-opt image=disk` (an ext4 filesystem the host made once per image from its merged
 * tree: src/storage/image-disks/image-disks.ts). The guest's overlay takes it as its lower layer, so the
 * VM reads no 9p share and can be saved (docs/checkpoint.md).
 *
 * As the upper disk (../upper-disk/upper-disk.ts), and for the same reasons (microvm has no hot-plug, a
 * clone has its template's devices), a VM that may run such a container is booted with the
 * device there, backed by a read-only `null-co` placeholder of the device's size; the host
 * opens the image's file read-only as a new node and switches the format node over to it
 * (QMP `blockdev-add` + `blockdev-reopen`). Every node is read-only, so QEMU reports the
 * disk write-protected to the guest and takes a shared lock on the file: any
 * number of VMs open one image disk at once, and a VM saved with it loads again over the same
 * file (a checkpoint records which: src/vm/qemu/snapshots/checkpoint.ts).
 *
 * The device is LUN 0 of the VM's one virtio-scsi controller (SCSI_CONTROLLER_ID), not a
 * virtio-blk device of its own: a microvm has 8 virtio-mmio transports and a pool VM uses them
 * all, and a controller takes one transport for any number of disks. The containers that join
 * this VM later (`--network container:X`, a CRI pod's containers) get their own image and upper
 * disks as further LUNs hot-plugged on it (../joined-disks.ts).
 *
 * The guest finds the device by its serial (IMAGE_DISK_SERIAL, the unit serial number VPD page
 * /sys/block/sdX/device/vpd_pg80), not by its name: the upper disk keeps `vda`.
 */
import type { ImageDiskDevice } from '../types';

/** Size of every image disk file and of the placeholder (the guest reads the capacity once, at probe). */
export const IMAGE_DISK_BYTES = 16 * 1024 * 1024 * 1024;

/** The serial the guest finds the device by. */
export const IMAGE_DISK_SERIAL = 'podvisor-image';

/** The id of the VM's virtio-scsi controller (its bus is `<id>.0`). */
export const SCSI_CONTROLLER_ID = 'pvscsi';

/** QEMU node names: the format node the device uses, its placeholder child and a file child. */
export const IMAGE_DISK_NODE = 'imgdisk';
export const IMAGE_DISK_PLACEHOLDER = 'imgdisk-none';
export const IMAGE_DISK_FILE_NODE = 'imgdisk-file';

/** The image disk of a new VM. */
export function planImageDisk(): ImageDiskDevice {
  return { serial: IMAGE_DISK_SERIAL, sizeBytes: IMAGE_DISK_BYTES };
}

/**
 * QEMU arguments of the image disk: the placeholder, the read-only raw node over it, the SCSI
 * controller and the disk as its target 0, LUN 0 (a hot-plugged LUN takes a free target).
 */
export function imageDiskQemuArgs(d: ImageDiskDevice): string[] {
  return [
    '-blockdev',
    `driver=null-co,node-name=${IMAGE_DISK_PLACEHOLDER},size=${d.sizeBytes},read-zeroes=on,read-only=on`,
    '-blockdev',
    `driver=raw,node-name=${IMAGE_DISK_NODE},file=${IMAGE_DISK_PLACEHOLDER},read-only=on`,
    '-device',
    `virtio-scsi-device,id=${SCSI_CONTROLLER_ID}`,
    '-device',
    `scsi-hd,bus=${SCSI_CONTROLLER_ID}.0,scsi-id=0,lun=0,drive=${IMAGE_DISK_NODE},serial=${d.serial}`,
  ];
}

/** The QMP commands that put host file `file` behind the image disk, read-only. */
export function attachImageCommands(file: string): Array<[string, Record<string, unknown>]> {
  return [
    [
      'blockdev-add',
      {
        driver: 'file',
        'node-name': IMAGE_DISK_FILE_NODE,
        filename: file,
        'read-only': true,
        cache: { direct: false },
      },
    ],
    [
      'blockdev-reopen',
      { options: [{ driver: 'raw', 'node-name': IMAGE_DISK_NODE, file: IMAGE_DISK_FILE_NODE, 'read-only': true }] },
    ],
  ];
}

/** The QMP commands that put the placeholder back and close the file. */
export function detachImageCommands(): Array<[string, Record<string, unknown>]> {
  return [
    [
      'blockdev-reopen',
      { options: [{ driver: 'raw', 'node-name': IMAGE_DISK_NODE, file: IMAGE_DISK_PLACEHOLDER, 'read-only': true }] },
    ],
    ['blockdev-del', { 'node-name': IMAGE_DISK_FILE_NODE }],
  ];
}
