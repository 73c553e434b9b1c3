/**
 * What the steps of a clone share (./clone.ts, ./fork-template.ts): where its state comes
 * from, its id, runtime directory, devices and shape, and what it has made so far for a
 * failure to undo.
 */
import type { ChildProcess } from 'node:child_process';
import type { Agent, InterfaceInfo, VmConfig, VmDevices, VmSize } from '../../types';
import type { VmPaths } from '../runtime-dir';
import type { JoinedDiskAddresses } from '../../devices/joined-disks';
import type { StartHost } from '../start-host';

/** The fd a clone's QEMU gets its template's state file on (the first after stdio). */
export const CLONE_STATE_FD = 3;

/**
 * What a clone starts from: a template's state and RAM file, or a checkpoint's state (saved with
 * all its RAM, `allRam`: the RAM file is then the clone's own, new) and the disk to put behind
 * its upper disk before the state loads.
 */
export interface SavedState {
  stateFile: string;
  /** The RAM file to map (a template's), or to write (`shareRam`); unused with `allRam` alone (anonymous RAM). */
  ramFile: string;
  allRam?: boolean;
  /** A checkpoint's state (or its fork template's): see restoreVmFrom. */
  checkpoint?: boolean;
  /** QEMU writes the RAM into `ramFile` (a fork template being made), instead of mapping it copy-on-write. */
  shareRam?: boolean;
  disk?: string;
  /** The image disk file to put behind its image disk before the state loads (a checkpoint's). */
  imageDisk?: string;
  /**
   * A checkpoint's: the disks of each container that had joined the saved VM, hot-plugged
   * where the save found them before the state loads (a fork template that lets them go,
   * ./fork-template.ts; or a restored pod of several, which keeps them: ./checkpoint.ts).
   */
  joined?: ReadonlyArray<SavedJoinedDisks>;
  /**
   * A checkpoint's: each NIC's guest interface as it was saved, its MAC the NIC's already
   * (./clone-nics.ts adoptSavedNics); undefined for a NIC the save did not record.
   */
  nics?: ReadonlyArray<InterfaceInfo | undefined>;
}

/**
 * The disks of a container that had joined a saved VM (--network container:X): its upper disk
 * (the save's copy), its image's disk, and where each sat on the VM's SCSI controller.
 */
export interface SavedJoinedDisks {
  containerId: string;
  upperFile: string;
  imageFile: string;
  at: JoinedDiskAddresses;
}

/** A clone's id, runtime directory, devices and shape: what each of its steps works on. */
export interface CloneLayout {
  id: string;
  paths: VmPaths;
  devices: VmDevices;
  size: VmSize;
  splitWx: boolean;
}

/** What a clone has made so far, for its failure to undo (undoFailedClone). */
export interface CloneProgress {
  /** The template's state file, open until QEMU has it. */
  stateFd?: number;
  /** The clone's QEMU, once spawned. */
  qemu?: ChildProcess;
  /** The agent's connection, once asked for. */
  agentPromise?: Promise<Agent>;
  /** True once the template's state was loaded: a later failure is not the template's. */
  restored: boolean;
}

/** The shape of a VM started from a checkpoint's state: its size, devices and code-buffer mode. */
export interface SavedShape {
  size: VmSize;
  devices: VmConfig['devices'];
  splitWx: boolean;
}

/** A new runtime directory for a VM of `shape` started from a checkpoint's state. */
export function checkpointCloneLayout(h: StartHost, shape: SavedShape): CloneLayout {
  return {
    ...h.newRuntimeDir({ size: shape.size, devices: shape.devices }),
    size: shape.size,
    splitWx: shape.splitWx,
  };
}
