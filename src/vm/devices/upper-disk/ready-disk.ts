/**
 * A fresh upper disk held behind an idle VM's device, its filesystem mounted ahead in the
 * guest (the agent's READY_DISK): the VM's first block-mode container takes the file as its
 * own disk (a rename into its directory) and its create skips the disk's attach and mount.
 * Any other file put behind the device lets the held one go first (DROP_READY_DISK), and the
 * held file is removed then, or when the VM ends.
 */
import * as fs from 'node:fs';

/** What a container's disk is to be (src/storage/upper-disk-file.ts DiskSize). */
export interface WantedDisk {
  bytes: number;
  fsBytes?: number;
}

/** The ready disk of one VM (QemuVm keeps one). */
export class ReadyUpperDisk {
  private held: { file: string; bytes: number } | undefined;
  private takenAs: string | undefined;

  /** `file` (an empty disk of `bytes`) is behind the device now, mounted ahead in the guest. */
  hold(file: string, bytes: number): void {
    this.held = { file, bytes };
    this.takenAs = undefined;
  }

  /**
   * Move the held file to `to` when `disk` asks for what it holds: its size, with no smaller
   * filesystem (as SpareDisks.take). True when taken; the file stays behind the device.
   */
  async take(to: string, disk: WantedDisk): Promise<boolean> {
    const held = this.held;
    if (!held || disk.bytes !== held.bytes || (disk.fsBytes !== undefined && disk.fsBytes < disk.bytes)) return false;
    await fs.promises.rename(held.file, to);
    this.held = undefined;
    this.takenAs = to;
    return true;
  }

  /** Whether `file` is the one taken, behind the device and mounted already (asked once). */
  takenFor(file: string): boolean {
    const taken = this.takenAs === file;
    if (taken) this.takenAs = undefined;
    return taken;
  }

  /** Whether the guest may hold a disk mounted ahead: let it go before another file goes behind the device. */
  get mountedAhead(): boolean {
    return this.held !== undefined || this.takenAs !== undefined;
  }

  /** Another file went behind the device, or the VM ended: the held file goes. */
  async discard(): Promise<void> {
    const held = this.held;
    this.held = undefined;
    this.takenAs = undefined;
    if (held) await fs.promises.rm(held.file, { force: true });
  }
}
