/** What a QemuVm (./qemu-vm.ts) is built from, and how the end of its processes is seen. */
import type { Agent, InterfaceInfo, VmDevices, VmSize } from '../types';
import type { VmPaths } from './runtime-dir';
import { pollUntilGone } from './processes/processes';

/** How the VM process ended, as far as the host can tell. */
export interface ProcessEnd {
  /** Exit code or signal when QEMU was our child; undefined for an adopted VM. */
  code?: number | null;
  signal?: NodeJS.Signals | null;
}

/** What a QemuVm is built from (by QemuHypervisor.createVm or adopt). */
export interface QemuVmInit {
  id: string;
  size: VmSize;
  devices: VmDevices;
  paths: VmPaths;
  qemuPid: number;
  /** The rootfs share's virtiofsd, then the volume share's when the VM has one. */
  virtiofsdPids: number[];
  agent: Agent;
  /** Resolves when QEMU has exited: the child's exit event, or polling /proc when adopted. */
  processEnd: Promise<ProcessEnd>;
  /**
   * Resolves when a virtiofsd has exited, likewise. A VM whose virtiofsd died cannot reach its
   * files any more (its processes hang on the next access): it is killed and counts as dead.
   */
  virtiofsdEnd: Promise<ProcessEnd>;
  /** A VM started from a checkpoint's save: its NICs' guest interfaces as restored (Vm.restoredNics). */
  restoredNics?: ReadonlyArray<InterfaceInfo | undefined>;
  /** Size of TCG's code buffer when it is a split-wx memfd the idle trim may cut (jit-trim.ts). */
  jitBufferBytes?: number;
  /**
   * A clone of a template (templates.ts): its RAM is the template's file mapped copy-on-write,
   * so the idle trim never punches guest RAM (it would punch the template's file, which every
   * clone maps); only the code buffer is trimmed.
   */
  clone?: boolean;
  /**
   * Whether a host file is behind the upper disk: false after a boot or a template's clone
   * (the placeholder is), absent when not known (an adopted or restored VM).
   */
  upperFileAttached?: boolean;
  /**
   * The host file behind the image disk: false after a boot or a template's clone (the
   * placeholder is), absent when not known (an adopted VM).
   */
  imageFileAttached?: string | false;
  /**
   * A copy-on-write overlay was hot-plugged as a container's upper disk before the VM's state
   * loaded (a restored pod of several: QemuVmDisks.mayHoldOverlay).
   */
  joinedOverlayAttached?: boolean;
}

/** Exit of an adopted QEMU or virtiofsd (not our child): polls /proc. */
export function adoptedProcessEnd(pid: number): Promise<ProcessEnd> {
  return pollUntilGone(pid).promise.then(() => ({}));
}
