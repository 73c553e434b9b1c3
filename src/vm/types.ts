/**
 * The contracts of the VM layer: a Hypervisor boots VMs, each VM carries a guest Agent, and
 * a VmFactory hands VMs to the pod layer (booting directly, or from a warm pool).
 *
 * Layers above (src/pod) use only these interfaces, never a concrete class. There are two
 * implementations of each: the real one (QEMU + our C agent, src/vm/qemu and src/vm/agent)
 * and a complete in-memory one for unit tests of upper layers (test/helpers/fake-vm).
 *
 * Life of a VM:
 *   factory.getVm({size, devices}) -> Vm (agent answered the version handshake; idle, no container)
 *   vm.agent.createContainer({id, rootfs}) -> the container's mount namespace exists
 *   vm.agent.startProcess({containerId, args, ...}) -> AgentProcess (streams + exit status)
 *   ... exec more processes, signal, resize, read/write small files ...
 *   vm.agent.destroyContainer(id)  (the VM is idle again: room for `replace` and reuse)
 *   vm.destroy() -> no qemu, virtiofsd, socket, mount or directory left
 *
 * The agent's contract (the Agent interface and what its calls take and give) is in
 * ./agent-types.ts and re-exported here: import both from this module.
 */
import type { VmDeviceRequest, VmDevices } from './devices/types';
import type { JoinedDiskNames } from './devices/joined-disks';
import type { Agent, InterfaceInfo } from './agent-types';

export type { NicDevice, UpperDiskDevice, VmDeviceRequest, VmDevices, VolumeShareDevice } from './devices/types';
export type {
  ProcessUser,
  ProcessSpec,
  ExitStatus,
  ResourceLimits,
  CgroupMemory,
  DiskUsage,
  AgentProcess,
  AgentProcessInfo,
  OutputResume,
  AgentVersion,
  GuestTask,
  GuestProcessTable,
  ContainerSpec,
  SeccompAction,
  SeccompArgTest,
  SeccompFilterRule,
  SeccompFilter,
  InterfaceConfig,
  RouteSpec,
  InterfaceInfo,
  ContainerMount,
  Agent,
  ActivateRequest,
  CapabilitySets,
  ProcessRlimit,
  GuestContainerSecurity,
  GuestDeviceRule,
  GuestDeviceNode,
  ArchiveRequest,
  SocketAcceptRequest,
  SocketListenRequest,
  ShareSocketEvent,
  PeerCredentials,
  SocketAnswerRequest,
  SocketDialRequest,
  FileEventRequest,
} from './agent-types';

/** Hardware of a VM. */
export interface VmSize {
  /** Guest RAM in MiB. */
  memoryMiB: number;
  /** Virtual CPUs. */
  cpus: number;
}

/**
 * What a VM is booted with: its hardware size and its devices (src/vm/devices; microvm has no
 * hot-plug, so a container's VM must have every device it may need from boot).
 */
export interface VmConfig {
  size: VmSize;
  /** Absent: no NIC, no volume share. */
  devices?: VmDeviceRequest;
}

/** Why and how a VM process went away. */
export interface VmExit {
  /** True when the host asked for it (destroy); false for a crash or a guest poweroff. */
  expected: boolean;
  /** A human-readable reason, including the last lines of the console log for crashes. */
  reason: string;
}

/**
 * A running VM whose agent is connected.
 * Fails (rejects its methods with UnavailableError) once the VM process has exited.
 */
export interface Vm {
  /** Unique id, also the name of its runtime directory. */
  readonly id: string;
  readonly size: VmSize;
  /** The devices it was booted with (tap names, MACs, the volume share's directory). */
  readonly devices: VmDevices;
  /**
   * A VM started from a checkpoint's save: each NIC's guest interface as the restored guest has
   * it (its MAC the NIC's, and the address, MTU and state it was saved with), in device order;
   * undefined for a NIC that was given a new MAC and taken down instead. The network join of
   * the start from the checkpoint leaves an interface that is already what its endpoint asks as
   * it is, and resets the others (it says how the guest was restored, not how it is later).
   * Absent for any other VM.
   */
  readonly restoredNics?: ReadonlyArray<InterfaceInfo | undefined>;
  /**
   * Host directory the guest sees (via virtio-fs) at AGENT_SHARE_MOUNT. Container rootfs
   * trees are mounted under it by the host (`containers/<id>/rootfs`), and later bind-mount
   * and volume sources.
   */
  readonly shareDir: string;
  /** The agent client for this VM. */
  readonly agent: Agent;
  /** Host pid of the VM process (QEMU), for stats and leak checks. */
  readonly pid: number;
  /** Resolves when the VM process has gone, however it went. Never rejects. */
  readonly exited: Promise<VmExit>;
  /** Freeze all vCPUs (docker pause). */
  pause(): Promise<void>;
  /** Thaw after pause. */
  resume(): Promise<void>;
  /**
   * Run on after a save of its state that stopped it (QMP `cont` when stopped), its guest's
   * clock set again and its rootfs share mounted again: after a save with --leave-running,
   * or one an earlier daemon died in the middle of. Absent where VMs cannot be saved.
   */
  resumeAfterSave?(): Promise<void>;
  /**
   * Kill the VM and remove everything it had on the host: QEMU and virtiofsd processes,
   * sockets, mounts under shareDir, its runtime directory. Idempotent; never rejects for a VM
   * that is already gone.
   */
  destroy(): Promise<void>;
  /** Resident memory, in bytes, of the VM process and its helpers (PSS where available). */
  memoryUsage(): Promise<number>;
  /**
   * Put host file `file` (a container's upper disk, exactly `devices.upperDisk.sizeBytes`
   * long) behind the VM's upper disk, replacing what was there. Rejects (NotImplemented) for a
   * VM booted without the device. Optional: VMs without block devices (test fakes) leave it out.
   */
  attachUpperDisk?(file: string): Promise<void>;
  /** Put the placeholder back behind the upper disk and close the file (nothing when none is attached). */
  detachUpperDisk?(): Promise<void>;
  /**
   * Put host file `file` (an image disk: src/storage/image-disks/image-disks.ts) behind the VM's read-only
   * image disk, the file an earlier start put there let go first (nothing when it is the same
   * file). Throws (NotImplemented) for a VM booted without the device. Optional, as attachUpperDisk.
   */
  attachImageDisk?(file: string): Promise<void>;
  /**
   * Hot-plug the disks of container `containerId`, which joins this VM (another container's):
   * `upperFile`, its writable layer's disk, and `imageFile`, its image's read-only disk, as
   * SCSI disks on the controller the VM's image disk is on (src/vm/devices/joined-disks.ts).
   * What the agent's CREATE_CONTAINER takes to find them. Rejects (Unavailable) for a VM
   * booted without an image disk. Optional, as attachUpperDisk.
   */
  attachJoinedDisks?(containerId: string, upperFile: string, imageFile: string): Promise<JoinedDiskNames>;
  /** Limit the rates of container `containerId`'s joined upper disk (as throttleUpperDisk for the VM's own). */
  throttleJoinedDisk?(containerId: string, limits: DiskThrottle): Promise<void>;
  /** Unplug container `containerId`'s joined disks, once the agent let go of them (none there is fine). */
  detachJoinedDisks?(containerId: string): Promise<void>;
  /**
   * Limit the rates of the VM's upper disk (QEMU's I/O throttling of the device), for the file
   * behind it now and later; every rate 0 (or absent) lifts them. Optional, as attachUpperDisk.
   */
  throttleUpperDisk?(limits: DiskThrottle): Promise<void>;
  /**
   * An idle VM (the pool's warming): put `file`, an empty disk of `bytes` whose directory is
   * on the containers' filesystem, behind the upper disk and have the guest mount it ahead
   * (the agent's READY_DISK). The file is the VM's until takeReadyDisk moves it; another file
   * put behind the device, or the VM's end, removes it. Rejects (the placeholder back) when the
   * guest cannot. Optional: fakes and VMs without the device leave it out.
   */
  holdReadyDisk?(file: string, bytes: number): Promise<void>;
  /**
   * Move the held ready disk to `to` (a container's disk file) when `disk` asks for what it
   * holds (its size, no smaller filesystem): true when moved; attachUpperDisk(to) then has
   * nothing left to do.
   */
  takeReadyDisk?(to: string, disk: { bytes: number; fsBytes?: number }): Promise<boolean>;
  /**
   * Why the VM's memory and device state cannot be saved now, in the hypervisor's words (QEMU:
   * its migration blockers, such as a 9p share the guest has mounted or a vhost-user-fs
   * device); empty when it can be. Optional: a VM that can never be saved (test fakes) leaves
   * it out.
   */
  saveBlockers?(): Promise<string[]>;
  /**
   * Put the VM's host cgroup (its QEMU's, with its memory and task limits) under `parent`, a
   * cleaned cgroup path (`/a/b` from the root of each cgroup hierarchy, `a/b` from the
   * daemon's own cgroup: as dockerd's cgroupfs driver takes --cgroup-parent), made when
   * missing; undefined puts it back under podvisor's own cgroup. Nothing to do when it is
   * there already. Rejects with InvalidArgumentError for a parent inside podvisor's own
   * cgroup, UnavailableError on a host without usable cgroups or when the move fails (the
   * parent's memory limit cannot take the VM's, say). Optional: VMs without a host cgroup
   * (test fakes) lack it.
   */
  placeCgroup?(parent: string | undefined): Promise<void>;
  /**
   * Give the host back the memory an idle VM holds without needing it (QEMU: the guest RAM
   * pages that hold only zeros, and TCG's translated code that is no longer live; the guest
   * sees the same memory afterwards). Only for a VM with
   * no container whose caller is its only user meanwhile (the pool's warming step): the VM is
   * briefly stopped and is running again when this resolves. Never rejects: a failure costs
   * memory only and is logged.
   */
  trimIdleMemory(): Promise<void>;
}

/**
 * The upper disks of a restored pod of several (Hypervisor.restoreVm's `joined`): `take` makes
 * container `containerId`'s disk a copy-on-write overlay over checkpoint file `copy` and
 * answers the container's disk file.
 */
export interface RestoreJoinedDisks {
  take(containerId: string, copy: string): Promise<string>;
}

/** Boots VMs. */
export interface Hypervisor {
  /**
   * Boot a new VM and wait for its agent's version handshake. Boots that do not answer within
   * the boot timeout are killed and retried once; a VM that still fails rejects with an
   * UnavailableError carrying the last console lines. Missing QEMU, kernel or virtiofsd reject
   * with a message that says what to install.
   */
  createVm(config: VmConfig): Promise<Vm>;
  /**
   * Re-adopt a VM left running by an earlier daemon (its id from the runtime directory).
   * Resolves undefined when that VM is gone (and cleans up what it left). The VM runs when it
   * resolves: one stopped by a pause, or by a save that daemon did not finish, is thawed for
   * the handshake, and the caller freezes a paused pod's again.
   */
  adopt(id: string): Promise<Vm | undefined>;
  /**
   * Ids of VMs in the runtime directory, running or not, and of VM processes found without one
   * (for adoption and cleanup).
   */
  listRuntimeVms(): Promise<string[]>;
  /**
   * True for a VM this daemon booted (or is booting) or adopted and that has not exited: the
   * start-up reclaim leaves it alone. Optional: without it, every listed VM not kept is reclaimed.
   */
  ownsVm?(id: string): boolean;
  /**
   * Save running VM `vm` whole into checkpoint directory `dir` (src/vm/qemu/snapshots/checkpoint.ts):
   * `disk.file`, behind its upper disk, copied to `disk.copy` while it is stopped; `imageDisk`,
   * behind its image disk, recorded (shared and read-only: not copied); `joined`, the
   * containers that joined the VM (Vm.attachJoinedDisks) with the files behind their disks:
   * each upper disk copied, each image disk recorded, and a VM started from the save has none
   * of them (its fork template lets them go), unless `joinedStay` (they are the pod's own
   * containers, a native pod of several: a restore keeps them, restoreVm's `joined`); with
   * `leaveRunning` it runs on, else it stays stopped for the caller to destroy. Optional: a
   * hypervisor whose VMs cannot be saved lacks it.
   */
  saveVm?(
    vm: Vm,
    dir: string,
    opts: {
      disk?: { file: string; copy: string };
      imageDisk?: string;
      joined?: Array<{ containerId: string; upperFile: string; imageFile: string }>;
      joinedStay?: boolean;
      leaveRunning: boolean;
    },
  ): Promise<void>;
  /**
   * A new VM started from the save in checkpoint directory `dir`, the container's disk behind
   * its upper disk (`disk.take` puts the checkpoint's copy that matches the guest's memory over
   * it first: the save's `disk.copy`, or its fork template's) and the image disk it was saved
   * over behind its image disk; refused (UnavailableError) for a save made under another guest
   * kernel, agent or QEMU, or whose image disk is gone. Its RAM maps the checkpoint's fork
   * template copy-on-write when it is made; `fork`: one of many VMs from it (the template made
   * first when there is none), sharing the pages none of them wrote. A save whose joined
   * containers stay (a pod of several) is restored with each one's disks where the save found
   * them, `joined.take` making its upper disk an overlay over the copy its memory knows (its
   * fork template's own, or the save's) first.
   */
  restoreVm?(
    dir: string,
    disk?: { copy?: string; take(copy: string | undefined): Promise<string | undefined> },
    opts?: { fork?: boolean; joined?: RestoreJoinedDisks },
  ): Promise<Vm>;
  /**
   * Make the fork template of checkpoint `dir` (its RAM as a file, its device state without
   * it), unless it is there or being made: a restore and every fork then map that file
   * copy-on-write instead of loading the whole state. A daemon shutdown cuts it short and
   * waits for its cleanup. Optional, as saveVm.
   */
  prepareForkTemplate?(dir: string): Promise<void>;
  /**
   * Refuse (UnavailableError, naming what differs) the save in checkpoint `dir` when this
   * hypervisor could not start it: made under another guest kernel, agent or QEMU. Optional,
   * as saveVm.
   */
  checkSavedVm?(dir: string): void;
  /** Cancels the makes of fork templates of checkpoints in or under `dir` (being removed); resolves once none is left. */
  forkTemplatesSettled?(dir: string): Promise<void>;
}

/**
 * Hands out VMs. Factories wrap one another: a DirectFactory boots on demand, a
 * CachedFactory keeps N idle VMs of the default size ready and refills in the background, and
 * a template factory can slot in later behind the same `getVm`.
 */
export interface VmFactory {
  /**
   * A fresh idle VM of this size whose devices fit the request (it may have more: see
   * devicesFit in src/vm/devices). From a warm cache this must not wait for a boot.
   */
  getVm(config: VmConfig): Promise<Vm>;
  /** Destroy every VM the factory still holds (idle ones). Used at daemon shutdown. */
  close(): Promise<void>;
}

/** Where the guest mounts the VM's shared directory. */
export const AGENT_SHARE_MOUNT = '/run/podvisor/share';

/**
 * Where the agent binds its init in a container created with `dockerInit` (docker --init), as
 * dockerd binds docker-init; the container's first process is then `DOCKER_INIT_PATH -- ARG...`.
 */
export const DOCKER_INIT_PATH = '/sbin/docker-init';

/**
 * Where the agent binds its own binary in a container created with `podPause` (a CRI
 * sandbox's infra container); its first process is then `POD_PAUSE_PATH`, the pod's pause.
 */
export const POD_PAUSE_PATH = '/pause';

/** Rate limits of a VM's upper disk (docker --device-read-bps and the like); 0 or absent: none. */
export interface DiskThrottle {
  readBps?: number;
  writeBps?: number;
  readIops?: number;
  writeIops?: number;
}
