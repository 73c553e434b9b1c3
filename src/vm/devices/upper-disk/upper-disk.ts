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
 * A copy-on-write disk (a fork's, or a restored container's: src/util/disk-chain.ts) is a qcow2
 * overlay over read-only files: it is opened as a qcow2 node whose backing chain is given
 * explicitly, every file under it opened read-only (and bound read-only into the jail), so
 * nothing a header says (a guest-controlled QEMU may have written the overlay) names a file
 * QEMU opens; the disk's raw format node then stands on that qcow2 node instead of a file
 * node. The guest sees the same device either way. A chain grown deep (a fork of a fork's
 * checkpoint, and so on) is flattened by this QEMU before a save (flattenCommand,
 * ./upper-disk-qmp.ts flattenUpperDisk): the overlay takes in what the qcow2 files under it
 * hold, and stands on the raw file at the bottom (UPPER_DISK_BASE_NODE) alone.
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
/** The qcow2 node of a copy-on-write disk (its file and backing chain are its own children). */
export const UPPER_DISK_COW_NODE = 'updisk-cow';
/**
 * The raw node at the bottom of a copy-on-write disk's backing chain (a child of
 * UPPER_DISK_COW_NODE, deleted with it): the base a flatten merges the files above it down to.
 */
export const UPPER_DISK_BASE_NODE = 'updisk-base';

/** How the disk's file is opened: no O_DIRECT, and the guest's flushes not passed to the host. */
const FILE_CACHE = { direct: false, 'no-flush': true };

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

/**
 * The read-only node of `files` (the files under a copy-on-write disk, the one just under it
 * first): a qcow2 node over the next ones, down to the raw file at the bottom, named `baseNode`
 * (the upper disk's UPPER_DISK_BASE_NODE; a joined disk's own: ../joined-disks.ts).
 */
export function backingNode(files: string[], baseNode = UPPER_DISK_BASE_NODE): Record<string, unknown> {
  const [top, ...rest] = files;
  const file = { driver: 'file', filename: top, 'read-only': true };
  if (rest.length === 0) return { driver: 'raw', 'node-name': baseNode, 'read-only': true, file };
  return { driver: 'qcow2', 'read-only': true, file, backing: backingNode(rest, baseNode) };
}

/**
 * The QMP commands that put host file `file` behind the disk: a raw image, or with `backing`
 * (the read-only files under it, the one just under it first) a qcow2 overlay over them.
 */
export function attachCommands(file: string, backing: string[] = []): Array<[string, Record<string, unknown>]> {
  if (backing.length === 0)
    return [
      ['blockdev-add', { driver: 'file', 'node-name': UPPER_DISK_FILE_NODE, filename: file, cache: FILE_CACHE }],
      ['blockdev-reopen', { options: [{ driver: 'raw', 'node-name': UPPER_DISK_NODE, file: UPPER_DISK_FILE_NODE }] }],
    ];
  return [
    [
      'blockdev-add',
      {
        driver: 'qcow2',
        'node-name': UPPER_DISK_COW_NODE,
        cache: FILE_CACHE,
        file: { driver: 'file', filename: file },
        backing: backingNode(backing),
      },
    ],
    ['blockdev-reopen', { options: [{ driver: 'raw', 'node-name': UPPER_DISK_NODE, file: UPPER_DISK_COW_NODE }] }],
  ];
}

/**
 * The QMP command that starts job `jobId`: QEMU copies into a copy-on-write disk's overlay
 * what the qcow2 files under it hold (the clusters the overlay lacks), down to the raw file at
 * the bottom, and then stands the overlay on that file alone (QMP `block-stream` with a base
 * node; the guest reads and writes the disk meanwhile). The job stays, concluded, until
 * dismissed, so that its error can be read.
 */
export function flattenCommand(jobId: string): [string, Record<string, unknown>] {
  return [
    'block-stream',
    { 'job-id': jobId, device: UPPER_DISK_COW_NODE, 'base-node': UPPER_DISK_BASE_NODE, 'auto-dismiss': false },
  ];
}

/**
 * The QMP commands that put the placeholder back and close the file: the reopen, then the
 * removal of whichever node stood under the disk (a raw file's, or a copy-on-write disk's; the
 * other is not there).
 */
export function detachCommands(): Array<[string, Record<string, unknown>]> {
  return [
    ['blockdev-reopen', { options: [{ driver: 'raw', 'node-name': UPPER_DISK_NODE, file: UPPER_DISK_PLACEHOLDER }] }],
    ['blockdev-del', { 'node-name': UPPER_DISK_FILE_NODE }],
    ['blockdev-del', { 'node-name': UPPER_DISK_COW_NODE }],
  ];
}
