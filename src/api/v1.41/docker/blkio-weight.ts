/**
 * `--blkio-weight` and `--blkio-weight-device` where the host cannot weigh block I/O: a
 * container's disk I/O is its VM's QEMU's, in the VM's host cgroup, so the weights could only
 * act there. Where the host's blkio (cgroup v1) or io (cgroup v2) controller has no weights,
 * dockerd itself discards them with a warning and stores none (its verifyPlatformContainer
 * Resources), and podvisor does the same, with dockerd's words. Where the host has them,
 * podvisor refuses them by name (./unhonoured.ts): it does not yet write them to the VM's cgroup.
 */
import * as fs from 'node:fs';

/** Whether the host's cgroups weigh block I/O, as dockerd's sysinfo asks. */
export interface BlkioWeightSupport {
  /** blkio.weight (or BFQ's) under cgroup v1; the io controller under cgroup v2. */
  weight: boolean;
  /** blkio.weight_device (or BFQ's) under cgroup v1; the io controller under cgroup v2. */
  weightDevice: boolean;
}

/** dockerd's warning for a discarded --blkio-weight. */
export const BLKIO_WEIGHT_DISCARDED =
  'Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.';
/** dockerd's warning for a discarded --blkio-weight-device. */
export const BLKIO_WEIGHT_DEVICE_DISCARDED =
  'Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.';

/**
 * This host's support, read as dockerd reads it: a unified hierarchy (cgroup v2 only) has it
 * with the io controller; otherwise the v1 blkio hierarchy's weight files (CFQ's or BFQ's).
 */
export function hostBlkioWeightSupport(root = '/sys/fs/cgroup'): BlkioWeightSupport {
  const has = (f: string) => fs.existsSync(`${root}/${f}`);
  if (has('cgroup.controllers')) {
    const io = fs.readFileSync(`${root}/cgroup.controllers`, 'utf8').split(/\s+/).includes('io');
    return { weight: io, weightDevice: io };
  }
  return {
    weight: has('blkio/blkio.weight') || has('blkio/blkio.bfq.weight'),
    weightDevice: has('blkio/blkio.weight_device') || has('blkio/blkio.bfq.weight_device'),
  };
}

/** The weight fields of a HostConfig (or an update body). */
interface BlkioWeightFields {
  BlkioWeight?: number | null;
  BlkioWeightDevice?: unknown[] | null;
}

/**
 * `hc` with the weights the host cannot honour discarded (0 and [] stored, as dockerd stores
 * them), and dockerd's warning for each; what the host supports is left for the refusal.
 */
export function discardBlkioWeights<T extends BlkioWeightFields>(
  hc: T,
  support: BlkioWeightSupport,
): { hostConfig: T; warnings: string[] } {
  const warnings: string[] = [];
  const out = { ...hc };
  if (typeof hc.BlkioWeight === 'number' && hc.BlkioWeight > 0 && !support.weight) {
    warnings.push(BLKIO_WEIGHT_DISCARDED);
    out.BlkioWeight = 0;
  }
  if (Array.isArray(hc.BlkioWeightDevice) && hc.BlkioWeightDevice.length > 0 && !support.weightDevice) {
    warnings.push(BLKIO_WEIGHT_DEVICE_DISCARDED);
    out.BlkioWeightDevice = [];
  }
  return { hostConfig: out, warnings };
}
