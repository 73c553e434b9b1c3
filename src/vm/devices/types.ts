/**
 * The device model of a VM. QEMU's microvm machine has no hot-plug, so every device a
 * container of the VM may need is decided when the VM boots: a VM is booted with a
 * `VmDeviceRequest` and then has `VmDevices`, which the pod layer reads (tap names for
 * src/net, the volume share's directory for volumes). One module per device renders its QEMU
 * arguments and says what the guest sees: nic.ts, volume-share.ts, upper-disk.ts, image-disk.ts and,
 * with the upper disk over 9p, layers-share.ts.
 */

/** The devices a VM is asked for; absent fields mean none. */
export interface VmDeviceRequest {
  /** Network interfaces (virtio-net, each backed by a host tap device); 0..MAX_NICS. */
  nics?: number;
  /** A second virtio-fs share for volumes and bind mounts, with its own cache mode. */
  volumes?: boolean;
  /** A virtio-blk disk for a container's writable layer (./upper-disk/upper-disk.ts), a placeholder until a container's file is put behind it. */
  upperDisk?: boolean;
  /** A read-only virtio-blk disk for a container's image (./image-disk.ts), a placeholder until an image's file is put behind it. */
  imageDisk?: boolean;
}

/** One network interface of a VM, as booted. */
export interface NicDevice {
  /** Host tap device, created by QEMU at boot (`ifname=`), gone when QEMU exits. Down and on no bridge until src/net attaches it. */
  tap: string;
  /** The guest's hardware address (locally administered, chosen at boot), lower-case aa:bb:cc:dd:ee:ff. */
  mac: string;
  /** The interface name in the guest (eth0, eth1, ... in device order); the agent checks the MAC. */
  guestName: string;
}

/** The volume share of a VM, as booted. */
export interface VolumeShareDevice {
  /** Host directory its virtiofsd serves; volumes and bind-mount sources are mounted under it. */
  hostDir: string;
  /** The virtio-fs tag the guest mounts it by (Agent.mount with fstype virtiofs, source = tag). */
  tag: string;
  /** virtiofsd's cache mode: `auto`, because the host may change a volume under a running container. */
  cache: 'auto';
}

/** The upper disk of a VM, as booted. */
export interface UpperDiskDevice {
  /** The block device's name in the guest (`vda`). */
  guestName: string;
  /** Its capacity: every container's disk file has this size. */
  sizeBytes: number;
}

/** The image disk of a VM, as booted. */
export interface ImageDiskDevice {
  /** The serial the guest finds the block device by (/sys/block/vdX/serial). */
  serial: string;
  /** Its capacity: every image disk file has this size. */
  sizeBytes: number;
}

/** What a VM has. */
export interface VmDevices {
  nics: NicDevice[];
  volumes?: VolumeShareDevice;
  upperDisk?: UpperDiskDevice;
  imageDisk?: ImageDiskDevice;
}
