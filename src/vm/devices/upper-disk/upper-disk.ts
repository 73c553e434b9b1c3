/**
 * The upper disk device: a virtio-blk disk for a container's writable layer (an ext4
 * filesystem on a per-container sparse file the host made with mkfs.ext4; src/storage/rootfs.ts).
 *
 * microvm has no hot-plug and a clone can have only the devices of its template, so a VM that
 * may run a block-mode container is booted (or its template saved) with the device already
 * there, backed by a placeholder: a `null-co` node of the same size that reads zeros and is
 * never a file. When a container starts on the VM, the host opens the container's file as a
 * new node and switches the disk's format node over to it (QMP `blockdev-reopen` with a new
 * `file` child: QemuVm.attachUpperDisk); the guest sees the same device and capacity, and the
 * agent drops what it had cached of the device (BLKFLSBUF) before it mounts it. Detaching
 * switches back to the placeholder and closes the file.
 *
 * The file is opened with `cache.no-flush`: the guest's flushes (each ext4 journal commit) do
 * not become an fdatasync of the host file. What the guest wrote is in the host's page cache
 * when QEMU has written it, so it survives the VM (killed or not) and the daemon; only a crash
 * of the host itself can lose it, as a container's layer under dockerd's overlay2 (whose
 * writes are not synced either). Measured: (docs/performance.md, bench:fs).
 *
 * What the guest sees: `/dev/vda` (the only virtio-blk device of a podvisor VM), zeros until
 * a container's file is behind it. The host never mounts the file once a guest has written it
 * (a guest could craft it to attack the host kernel): everything the host does with a
 * block-mode container's files goes through the guest.
 */
import type { UpperDiskDevice } from '../types';

/** Size of every upper disk and of its placeholder (the guest reads the capacity once, at probe). */
export const UPPER_DISK_BYTES = 16 * 1024 * 1024 * 1024;

/** QEMU node names: the format node the device uses, its placeholder child and a file child. */
export const UPPER_DISK_NODE = 'updisk';
export const UPPER_DISK_PLACEHOLDER = 'updisk-none';
export const UPPER_DISK_FILE_NODE = 'updisk-file';

/** The upper disk of a new VM. */
export function planUpperDisk(): UpperDiskDevice {
  return { guestName: 'vda', sizeBytes: UPPER_DISK_BYTES };
}

/** QEMU arguments of the upper disk: the placeholder, the raw node over it and the device. */
export function upperDiskQemuArgs(d: UpperDiskDevice): string[] {
  return [
    '-blockdev',
    `driver=null-co,node-name=${UPPER_DISK_PLACEHOLDER},size=${d.sizeBytes},read-zeroes=on`,
    '-blockdev',
    `driver=raw,node-name=${UPPER_DISK_NODE},file=${UPPER_DISK_PLACEHOLDER}`,
    '-device',
    `virtio-blk-device,drive=${UPPER_DISK_NODE}`,
  ];
}

/** The QMP commands that put host file `file` behind the disk (an earlier file is detached first). */
export function attachCommands(file: string): Array<[string, Record<string, unknown>]> {
  return [
    [
      'blockdev-add',
      { driver: 'file', 'node-name': UPPER_DISK_FILE_NODE, filename: file, cache: { direct: false, 'no-flush': true } },
    ],
    ['blockdev-reopen', { options: [{ driver: 'raw', 'node-name': UPPER_DISK_NODE, file: UPPER_DISK_FILE_NODE }] }],
  ];
}

/** The QMP commands that put the placeholder back and close the file. */
export function detachCommands(): Array<[string, Record<string, unknown>]> {
  return [
    ['blockdev-reopen', { options: [{ driver: 'raw', 'node-name': UPPER_DISK_NODE, file: UPPER_DISK_PLACEHOLDER }] }],
    ['blockdev-del', { 'node-name': UPPER_DISK_FILE_NODE }],
  ];
}
