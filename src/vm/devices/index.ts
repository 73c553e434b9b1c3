/**
 * Devices of a VM (types.ts): planning a new VM's devices, their QEMU arguments, and whether a
 * VM's devices fit a request (the pool hands out only VMs that fit).
 */
import { InvalidArgumentError } from '../../errors';
import type { VmPaths } from '../qemu/runtime-dir';
import type { FileTransport } from './share-args';
import { MAX_NICS, nicQemuArgs, planNics, TAP_FD_BASE } from './nic';
import type { VmDeviceRequest, VmDevices } from './types';
import { planVolumeShare, volumeShareQemuArgs } from './volume-share';
import { planUpperDisk, upperDiskQemuArgs } from './upper-disk/upper-disk';
import { layersShareQemuArgs } from './layers-share';
import { imageDiskQemuArgs, planImageDisk } from './image-disk/image-disk';

export { joinedDiskNames, type JoinedDiskNames } from './joined-disks';

export type {
  ImageDiskDevice,
  NicDevice,
  UpperDiskDevice,
  VmDeviceRequest,
  VmDevices,
  VolumeShareDevice,
} from './types';

/** A request with every field set (and checked). */
export function normalizeRequest(req: VmDeviceRequest | undefined): Required<VmDeviceRequest> {
  const nics = req?.nics ?? 0;
  if (!Number.isInteger(nics) || nics < 0 || nics > MAX_NICS)
    throw new InvalidArgumentError(`a VM has 0 to ${MAX_NICS} network interfaces, not ${nics}`);
  return {
    nics,
    volumes: req?.volumes ?? false,
    upperDisk: req?.upperDisk ?? false,
    imageDisk: req?.imageDisk ?? false,
  };
}

/**
 * Whether a VM with devices `have` serves a request for `want`: at least as many NICs and the
 * volume share when asked for. More is fine: an unused NIC stays down and unaddressed in the
 * guest (loopback only, as Docker's `--network none`), an unused volume share is never mounted,
 * an unused upper or image disk stays on its placeholder. But a VM with an image disk has no
 * layers share, so it does not serve a container that reads its image over that share.
 */
export function devicesFit(have: VmDeviceRequest | undefined, want: VmDeviceRequest | undefined): boolean {
  const h = normalizeRequest(have);
  const w = normalizeRequest(want);
  return (
    h.nics >= w.nics &&
    (h.volumes || !w.volumes) &&
    (h.upperDisk || !w.upperDisk) &&
    (h.imageDisk || !w.imageDisk) &&
    !(readsLayersShare(w) && h.imageDisk)
  );
}

/**
 * Whether a VM of request `r` reads its container's image over the layers share: one with an
 * upper disk and no image disk. A VM with an image disk has no layers share (devicesQemuArgs),
 * so it never serves such a request.
 */
function readsLayersShare(r: Required<VmDeviceRequest>): boolean {
  return r.upperDisk && !r.imageDisk;
}

/** The devices of new VM `vmId`. */
export function planDevices(vmId: string, req: VmDeviceRequest | undefined, paths: VmPaths): VmDevices {
  const r = normalizeRequest(req);
  return {
    nics: planNics(vmId, r.nics),
    ...(r.volumes ? { volumes: planVolumeShare(paths) } : {}),
    ...(r.upperDisk ? { upperDisk: planUpperDisk() } : {}),
    ...(r.imageDisk ? { imageDisk: planImageDisk() } : {}),
  };
}

/**
 * virtio-mmio transports of a microvm booted without ACPI, as podvisor's guest kernel boots it:
 * every virtio device takes one, and QEMU refuses a device beyond them ("No 'virtio-bus' bus
 * found"). Over 9p the most a VM asks for fits: the rootfs share, virtio-serial, MAX_NICS NICs,
 * the volume share and the upper disk. A VM booted over virtio-fs also has its balloon, so there
 * that is one too many (a VM with an upper disk is booted only when its clone failed).
 */
export const MICROVM_VIRTIO_SLOTS = 8;

/** The virtio transports a cloned (9p) VM's machine takes for itself: the rootfs share and virtio-serial. */
export const NINEP_MACHINE_TRANSPORTS = 2;

/**
 * Whether a cloned VM asked for devices `req` has a transport left for an image disk: a VM of
 * 4 NICs, the volume share and the upper disk has none, and its container reads its image over
 * the rootfs share instead (it then cannot be saved, as one that reads the layers share).
 */
export function imageDiskFits(req: VmDeviceRequest): boolean {
  const r = normalizeRequest({ ...req, imageDisk: false });
  return NINEP_MACHINE_TRANSPORTS + r.nics + (r.volumes ? 1 : 0) + (r.upperDisk ? 1 : 0) + 1 <= MICROVM_VIRTIO_SLOTS;
}

/** The virtio transports the devices of `d` take (the layers share, which is optional, aside). */
export function deviceTransports(d: VmDevices): number {
  return d.nics.length + (d.volumes ? 1 : 0) + (d.upperDisk ? 1 : 0) + (d.imageDisk ? 1 : 0);
}

/**
 * Whether a VM of devices `d` over `transport`, whose machine's own devices take `taken`
 * transports, gets the image-layers share: a 9p VM with an upper disk and no image disk (a VM
 * with the image disk reads its container's image from it), when a transport is left for it.
 */
export function hasLayersShare(d: VmDevices, transport: FileTransport, taken: number): boolean {
  return !!d.upperDisk && !d.imageDisk && transport === '9p' && taken + deviceTransports(d) < MICROVM_VIRTIO_SLOTS;
}

/**
 * QEMU arguments of every device (NICs in order, the volume share over `transport`, the upper
 * disk, the image disk and, over 9p, the image-layers share that goes with it when a transport is left for it).
 * `taken`: the transports the machine's own devices take (the rootfs share, virtio-serial...).
 */
export function devicesQemuArgs(
  d: VmDevices,
  paths: VmPaths,
  transport: FileTransport,
  taken: number,
  tapFds = false,
): string[] {
  const asked = taken + deviceTransports(d);
  if (asked > MICROVM_VIRTIO_SLOTS)
    throw new InvalidArgumentError(`a VM has ${MICROVM_VIRTIO_SLOTS} virtio devices at most, not ${asked}`);
  const layers = hasLayersShare(d, transport, taken);
  return [
    ...d.nics.flatMap((n, i) => nicQemuArgs(n, i, tapFds ? TAP_FD_BASE + i : undefined)),
    ...(d.volumes ? volumeShareQemuArgs(paths, transport) : []),
    ...(d.upperDisk ? upperDiskQemuArgs(d.upperDisk) : []),
    ...(d.imageDisk ? imageDiskQemuArgs(d.imageDisk) : []),
    ...(layers ? layersShareQemuArgs(paths) : []),
  ];
}
