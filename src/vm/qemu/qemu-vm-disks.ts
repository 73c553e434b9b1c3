/**
 * The disks of a running QemuVm (./qemu-vm.ts) and their QMP steps: a container's file put
 * behind the upper disk or the image disk and taken away again, the upper disk's throttling,
 * and the fresh disk held behind an idle VM's upper disk, mounted ahead in the guest.
 */
import type { Agent, DiskThrottle, VmDevices } from '../types';
import { NotImplementedError, UnavailableError } from '../../errors';
import { attachFile, detachFile, flattenUpperDisk, setDiskThrottle } from '../devices/upper-disk/upper-disk-qmp';
import { attachImageFile, detachImageFile } from '../devices/image-disk/image-disk-qmp';
import { SCSI_CONTROLLER_ID } from '../devices/image-disk/image-disk';
import { joinedDiskNames, type JoinedDiskAddresses, type JoinedDiskNames } from '../devices/joined-disks';
import {
  attachJoinedFiles,
  detachJoinedFiles,
  joinedDiskAddresses,
  throttleJoinedUpper,
} from '../devices/joined-disks-qmp';
import { ReadyUpperDisk, type WantedDisk } from '../devices/upper-disk/ready-disk';
import { withQmp } from './qmp';
import { isOverlay } from '../../util/disk-chain';
import type { VmPaths } from './runtime-dir';
import type { QemuVmInit } from './qemu-vm-init';

/**
 * How long a flatten of the upper disk's chain may take (a merge of what the files above the
 * bottom one hold: a few MiB take well under a second; a disk full of a guest's writes, minutes).
 */
export const FLATTEN_TIMEOUT_MS = 300_000;

/** The VM whose disks a QemuVmDisks works on. */
export interface DisksVm {
  id: string;
  devices: VmDevices;
  paths: VmPaths;
  agent: Agent;
  /** False once the VM is gone or being destroyed. */
  running(): boolean;
}

/** The upper and image disks of one QemuVm, and what is behind each as far as the host knows. */
export class QemuVmDisks {
  /** Whether a host file is behind the upper disk; undefined when not known (QemuVmInit.upperFileAttached). */
  private upperFile: boolean | undefined;
  /**
   * Whether the file behind the upper disk is a copy-on-write overlay (a fork's or a restored
   * container's disk: src/util/disk-chain.ts); undefined when not known (a restore's, an adopted VM's).
   */
  private upperOverlay: boolean | undefined;
  /** A fresh disk behind the upper disk, mounted ahead in the guest (holdReadyDisk). */
  private readonly readyDisk = new ReadyUpperDisk();
  /** The host file behind the image disk, false for none; undefined when not known (QemuVmInit.imageFileAttached). */
  private imageFile: string | false | undefined;
  /** A joined container's upper disk was a copy-on-write overlay (a restored pod of several's). */
  private joinedOverlay: boolean;

  constructor(
    private readonly vm: DisksVm,
    init: Pick<QemuVmInit, 'upperFileAttached' | 'imageFileAttached' | 'joinedOverlayAttached'>,
  ) {
    this.upperFile = init.upperFileAttached;
    this.upperOverlay = init.upperFileAttached === false ? false : undefined;
    this.imageFile = init.imageFileAttached;
    this.joinedOverlay = init.joinedOverlayAttached === true;
  }

  /**
   * Whether the upper disk may be a copy-on-write overlay: QEMU keeps the overlay's cluster
   * tables in its own memory until a flush, and the guest sends none (its ext4 is mounted
   * barrier=0), so such a VM's QEMU (its upper disk's, or a joined container's) is stopped (QMP `stop` flushes every block device) before it
   * is killed (QemuVm.destroy); a raw file has each write in the host's page cache once done.
   */
  get mayHoldOverlay(): boolean {
    return this.upperOverlay !== false || this.joinedOverlay;
  }

  private notRunning(): UnavailableError {
    return new UnavailableError(`VM ${this.vm.id} is not running`);
  }

  /** Vm.holdReadyDisk: `file` behind the upper disk, its filesystem mounted ahead in the guest. */
  async holdReadyDisk(file: string, bytes: number): Promise<void> {
    const disk = this.vm.devices.upperDisk;
    const agent = this.vm.agent;
    if (!disk || !agent.readyDisk) throw new NotImplementedError(`VM ${this.vm.id} cannot mount a disk ahead`);
    await this.attachUpperDisk(file);
    try {
      await agent.readyDisk(disk.guestName);
    } catch (err) {
      await this.detachUpperDisk().catch(() => undefined);
      throw err;
    }
    this.readyDisk.hold(file, bytes);
  }

  /** Vm.takeReadyDisk: the held disk moved to `to` when it is what `disk` asks for. */
  takeReadyDisk(to: string, disk: WantedDisk): Promise<boolean> {
    return this.readyDisk.take(to, disk);
  }

  /** Vm.attachUpperDisk: host file `file` behind the upper disk (an earlier one detached first). */
  async attachUpperDisk(file: string): Promise<void> {
    const { id, devices, paths, agent } = this.vm;
    if (!devices.upperDisk) throw new NotImplementedError(`VM ${id} has no upper disk`);
    if (!this.vm.running()) throw this.notRunning();
    // The ready disk taken as this container's: behind the device and mounted already.
    if (this.readyDisk.takenFor(file)) return;
    // Another file: the guest lets go of the disk it mounted ahead before the swap.
    if (this.readyDisk.mountedAhead) await agent.dropReadyDisk?.();
    // A file an earlier container of this VM left behind the disk goes first; a VM known to
    // have none (a pool VM's first container) skips that. Unknown until the attach succeeds.
    const detachFirst = this.upperFile !== false;
    this.upperFile = undefined;
    await withQmp(paths.qmpSock, 10_000, async (q) => {
      if (detachFirst) await detachFile(q).catch(() => undefined);
      await attachFile(q, paths.disksDir, file);
    });
    this.upperFile = true;
    this.upperOverlay = isOverlay(file);
    await this.readyDisk.discard();
  }

  /** Vm.detachUpperDisk: the placeholder back behind the upper disk. */
  async detachUpperDisk(): Promise<void> {
    if (!this.vm.devices.upperDisk || !this.vm.running()) return;
    await withQmp(this.vm.paths.qmpSock, 10_000, detachFile);
    this.upperFile = false;
    this.upperOverlay = false;
  }

  /** The host file behind the image disk, when known (undefined: none, or a VM adopted from an earlier daemon). */
  get imageDiskFile(): string | undefined {
    return this.imageFile || undefined;
  }

  /** Vm.attachImageDisk: host file `file` behind the image disk, read-only (none when it is there already). */
  async attachImageDisk(file: string): Promise<void> {
    const { id, devices, paths } = this.vm;
    if (!devices.imageDisk) throw new NotImplementedError(`VM ${id} has no image disk`);
    if (!this.vm.running()) throw this.notRunning();
    if (this.imageFile === file) return;
    const detachFirst = this.imageFile !== false;
    this.imageFile = undefined;
    await withQmp(paths.qmpSock, 10_000, async (q) => {
      if (detachFirst) await detachImageFile(q).catch(() => undefined);
      await attachImageFile(q, paths.disksDir, file);
    });
    this.imageFile = file;
  }

  /** One joined container's disks changed at a time (QMP's file binds in the VM's directory have one name). */
  private joinedChain: Promise<unknown> = Promise.resolve();

  private joinedStep<T>(step: () => Promise<T>): Promise<T> {
    const next = this.joinedChain.then(step, step);
    this.joinedChain = next.catch(() => undefined);
    return next;
  }

  /** Vm.attachJoinedDisks: a joined container's upper and image disks hot-plugged on the SCSI controller. */
  async attachJoinedDisks(containerId: string, upperFile: string, imageFile: string): Promise<JoinedDiskNames> {
    const { id, devices, paths } = this.vm;
    if (!devices.imageDisk)
      throw new UnavailableError(
        `VM ${id} has no SCSI controller for the disks of container ${containerId} (it was started without an image disk)`,
      );
    if (!this.vm.running()) throw this.notRunning();
    if (isOverlay(upperFile)) this.joinedOverlay = true;
    await this.joinedStep(() =>
      withQmp(paths.qmpSock, 10_000, (q) =>
        attachJoinedFiles(q, paths.disksDir, SCSI_CONTROLLER_ID, containerId, upperFile, imageFile),
      ),
    );
    return joinedDiskNames(containerId);
  }

  /** Where a joined container's two disks sit on the SCSI controller (a save records it: ../qemu/snapshots/checkpoint.ts). */
  async joinedDiskAddresses(containerId: string): Promise<JoinedDiskAddresses> {
    if (!this.vm.running()) throw this.notRunning();
    return this.joinedStep(() =>
      withQmp(this.vm.paths.qmpSock, 10_000, (q) => joinedDiskAddresses(q, containerId), 'QMP qom-get'),
    );
  }

  /** Vm.throttleJoinedDisk: the I/O limits of a joined container's upper disk. */
  async throttleJoinedDisk(containerId: string, limits: DiskThrottle): Promise<void> {
    await withQmp(this.vm.paths.qmpSock, 10_000, (q) => throttleJoinedUpper(q, containerId, limits));
  }

  /** Vm.detachJoinedDisks: a joined container's disks unplugged (none there is fine). */
  async detachJoinedDisks(containerId: string): Promise<void> {
    if (!this.vm.devices.imageDisk || !this.vm.running()) return;
    await this.joinedStep(() => withQmp(this.vm.paths.qmpSock, 10_000, (q) => detachJoinedFiles(q, containerId)));
  }

  /**
   * QemuVm.flattenUpperDisk: the copy-on-write disk behind the upper disk made to stand on the
   * raw file at the bottom of its chain alone, by this QEMU (../devices/upper-disk/upper-disk-qmp.ts
   * flattenUpperDisk).
   */
  async flattenUpperDisk(): Promise<void> {
    if (!this.vm.devices.upperDisk) throw new NotImplementedError(`VM ${this.vm.id} has no upper disk`);
    if (!this.vm.running()) throw this.notRunning();
    await withQmp(
      this.vm.paths.qmpSock,
      FLATTEN_TIMEOUT_MS + 10_000,
      (q) => flattenUpperDisk(q, FLATTEN_TIMEOUT_MS),
      'flattening its disk',
    );
  }

  /** Vm.throttleUpperDisk: the upper disk's I/O limits. */
  async throttleUpperDisk(limits: DiskThrottle): Promise<void> {
    if (!this.vm.devices.upperDisk) throw new NotImplementedError(`VM ${this.vm.id} has no upper disk`);
    await withQmp(this.vm.paths.qmpSock, 10_000, (q) => setDiskThrottle(q, limits));
  }

  /** The VM ended: the held ready disk's file (if any) removed. */
  async discardReadyDisk(): Promise<void> {
    await this.readyDisk.discard();
  }
}
