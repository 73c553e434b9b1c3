/**
 * The daemon's VM runtime, set up once at start: which guest kernel VMs boot, KVM or TCG,
 * the QEMU hypervisor (templates and clones where it can), whether containers' writable
 * layers go on disks of their own (block mode), and the warm pool of idle VMs that rehearse
 * a container before a user's `docker run` gets them. src/daemon/main.ts wires the rest of
 * the daemon to what this returns.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { imageOnDiskIn, type DaemonOptions } from './options';
import { logger } from '../util/log';
import { resolveAccel, type AccelDecision } from '../vm/accel';
import { AgentClient } from '../vm/agent/client';
import { chooseGuestImages } from '../vm/guest-images';
import { CachedFactory, DirectFactory } from '../vm/pool';
import { poolGrowth } from '../vm/pool-demand';
import { canCreateTaps } from '../vm/devices/nic';
import { UPPER_DISK_BYTES } from '../vm/devices/upper-disk/upper-disk';
import type { VmDeviceRequest } from '../vm/devices';
import { poolWarmStep, Rehearsal } from '../vm/rehearsal';
import { readyDiskStep } from './ready-disks';
import { QemuHypervisor } from '../vm/qemu/hypervisor';
import { unpackedQemu } from '../vm/qemu/binaries';
import { seccompFilterFor } from '../pod/security/seccomp';
import { POD_VM_NICS } from '../pod/network/network';
import { scratchDisks } from '../storage/upper-disk-file';
import { allowUnconfinedVms } from '../vm/qemu/confinement/policy';

const log = logger('daemon');
/** The filesystem size of a pool rehearsal's upper disk (block mode; it holds a few small files). */
const REHEARSAL_DISK_FS_BYTES = 64 * 1024 * 1024;

/** What openVmRuntime set up. */
export interface VmRuntime {
  /** KVM or TCG, and why (`docker info` shows it). */
  accel: AccelDecision;
  hypervisor: QemuHypervisor;
  /** True when a container of its own VM gets its writable layer on a disk (--rootfs-disk, cloned VMs). */
  blockMode: boolean;
  /** The size of a VM no request sizes (--vm-memory, --vm-cpus). */
  vmDefaults: { memoryMiB: number; cpus: number };
  /** The devices pool VMs are booted with (NICs; the upper disk in block mode). */
  poolDevices: VmDeviceRequest;
  /** The warm pool (not started: main.ts starts it once containers are re-adopted). */
  vmFactory: CachedFactory;
}

/** Choose the guest and the accelerator, make the hypervisor and the (idle) pool. */
export async function openVmRuntime(opts: DaemonOptions): Promise<VmRuntime> {
  // podvisor's own kernel when the bootstrap has built it, else Debian's (guest-images.ts); a
  // --kernel given by the user boots with microvm's defaults.
  const guest = chooseGuestImages();
  const kernel = opts.kernel ?? guest.kernel;
  const initrd = opts.initrd ?? guest.initrd;
  const machineOpts = opts.kernel ? undefined : guest.machineOpts;
  if (!opts.kernel) log.info(`guest kernel: ${guest.why}`);
  const accel = await resolveAccel({ mode: opts.accel, execRoot: opts.execRoot, kernel, initrd, machineOpts });
  if (opts.accel === 'auto' && accel.accel === 'tcg') {
    log.warn(
      `accel: falling back to TCG (software emulation, slower VMs): ${accel.reason}${accel.cached ? ' (remembered in accel.json)' : ''}`,
    );
  } else {
    log.info(
      `accel: ${accel.accel.toUpperCase()}: ${accel.reason}${accel.cached ? ' (remembered in accel.json)' : ''}`,
    );
  }
  // A VM this host cannot confine fails its start, unless --unconfined-vms says otherwise.
  allowUnconfinedVms(opts.unconfinedVms);
  const hypervisor = new QemuHypervisor({
    execRoot: opts.execRoot,
    kernel,
    initrd,
    machineOpts,
    // Without --kernel the choice is made again before each boot: a kernel the bootstrap is
    // building in the background is taken once it is there.
    ...(opts.kernel || opts.initrd ? {} : { guest: () => chooseGuestImages() }),
    accel: accel.accel,
    connectAgent: (e) => AgentClient.connect(e),
    templates: opts.vmTemplates,
  });
  // Block mode (--rootfs-disk) needs VMs cloned from templates: in a booted VM (virtio-fs:
  // --vm-templates=false, Debian's kernel) the guest refuses the overlay of its image layers
  // with an upper on the disk (EINVAL; not yet understood), so there the layer stays on the
  // host. Decided at start: a daemon that began on Debian's kernel keeps it until a restart.
  const blockMode = opts.rootfsDisk && hypervisor.willClone();
  if (opts.rootfsDisk && !blockMode)
    log.info('block mode (--rootfs-disk) needs VMs cloned from templates: writable layers stay on the host');
  const cloneQemu = unpackedQemu();
  log.info(
    cloneQemu
      ? `cloned VMs: ${cloneQemu.bin} (its 9p server makes FIFOs and unix sockets)`
      : "cloned VMs: the host's QEMU (guest/out/qemu is missing: run scripts/bootstrap.sh); mkfifo, mknod and bind() of unix sockets fail in their shares with ENXIO",
  );
  const vmDefaults = { memoryMiB: opts.vmMemoryMiB, cpus: opts.vmCpus };
  // Pool VMs rehearse a container in the background before they go idle (src/vm/rehearsal.ts),
  // then give back their guest RAM pages that hold only zeros (Vm.trimIdleMemory).
  // The rehearsal's container gets the default seccomp filter, so the agent has it compiled.
  // In block mode the rehearsal's writable layer is on an upper disk of its own (a small ext4
  // in a file of the device's size, made in the exec root), as a user's container's will be.
  const rehearsal = Rehearsal.create({
    seccomp: seccompFilterFor({ seccomp: { profile: 'default' } }) ?? undefined,
    ...(blockMode
      ? { disks: scratchDisks(path.join(opts.execRoot, 'rehearsal-disks'), UPPER_DISK_BYTES, REHEARSAL_DISK_FS_BYTES) }
      : {}),
  });
  // Pool VMs boot with the NICs of a networked pod (host taps, attached to a bridge when a
  // container joins a network, spares for network connect) where taps can be made: they fit
  // requests for fewer too (src/vm/devices).
  // With --vm-pool-max the pool grows with demand up to that many VMs (and the memory budget)
  // and refills on every idle core (src/vm/pool-demand.ts); --vm-pool-size is its size with no
  // demand (0: no pool at all).
  // Requests waiting for VMs get a clone per core at once (a clone is cheap), a boot at a time.
  // With --rootfs-disk every VM has an upper disk (a placeholder until a container's file is
  // put behind it: src/vm/devices/upper-disk/upper-disk.ts), so pool VMs serve block-mode containers.
  // Cloned VMs also have the volume share (a 9p device of QEMU's on an empty directory until a
  // container mounts a volume or host directory: no process of its own), so the pool serves
  // containers with volumes and binds, and every CRI sandbox (its VM takes the host mounts of
  // the containers that join it), which otherwise waited for a clone of a template of their
  // own (~150-180 ms). Booted VMs do not: there it is a virtiofsd per VM.
  // With the daemon's --storage-opt image=disk (the default), a pool VM also has an image disk (a placeholder
  // until a container's image disk is put behind it), so it serves the containers that read
  // their image from a disk, which are then most of them; such a VM has no layers share (its
  // transport holds the image disk), so a container that reads the layers (image=layers, a
  // pod of several) gets a VM of its own shape instead (src/vm/devices devicesFit).
  const poolDevices = {
    nics: canCreateTaps() ? POD_VM_NICS : 0,
    ...(blockMode ? { upperDisk: true } : {}),
    ...(imageOnDiskIn(opts, blockMode) ? { imageDisk: true } : {}),
    ...(hypervisor.willClone() ? { volumes: true } : {}),
  };
  const vmFactory = new CachedFactory(
    opts.vmPoolSize,
    new DirectFactory(hypervisor),
    { size: vmDefaults, devices: poolDevices },
    {
      // Block mode: each warmed VM then holds a fresh upper disk, mounted ahead (./ready-disks.ts).
      warm: poolWarmStep(
        rehearsal,
        blockMode ? readyDiskStep(path.join(opts.dataRoot, 'upper-disks'), UPPER_DISK_BYTES) : undefined,
      ),
      waiterBoots: () => (hypervisor.willClone() ? os.cpus().length : 1),
      ...(opts.vmPoolSize > 0 && opts.vmPoolMax > opts.vmPoolSize
        ? poolGrowth(vmDefaults.memoryMiB, opts.vmPoolSize, opts.vmPoolMax)
        : {}),
    },
  );
  return { accel, hypervisor, blockMode, vmDefaults, poolDevices, vmFactory };
}
