/**
 * The guest RAM of a VM whose container sets no memory limit (`--vm-memory`'s default). QEMU
 * allocates guest RAM as the guest first touches it, so a larger VM costs an idle container
 * little more (the guest kernel's page array, ~1.6% of the RAM, most of it shared with the
 * template's other clones): the size is what a container without `-m` may grow to, as dockerd
 * lets it use the host's memory. It is bounded by the host: at most half of its RAM, so one
 * such container cannot take the host's memory from the daemon and the other VMs.
 */

/** The RAM, MiB, of a VM no limit sizes, when `--vm-memory` is not given. */
export const DEFAULT_VM_MEMORY_MIB = 2048;

/** The smallest default, for hosts with little RAM: the size VMs had before they grew. */
export const MIN_DEFAULT_VM_MEMORY_MIB = 256;

/** `--vm-memory`'s default on a host of `hostTotalBytes` of RAM: DEFAULT_VM_MEMORY_MIB, at most half the host's. */
export function defaultVmMemoryMiB(hostTotalBytes: number): number {
  const halfHostMiB = Math.floor(hostTotalBytes / 2 / (1024 * 1024));
  return Math.max(MIN_DEFAULT_VM_MEMORY_MIB, Math.min(DEFAULT_VM_MEMORY_MIB, halfHostMiB));
}
