/**
 * A container's resources in no front's words: what the VM's size (./vm-size.ts) and the
 * limits of the container's cgroup in its VM (./cgroup-limits.ts) are made from. The neutral
 * request's resources are these (../container-request.ts); the Docker front maps its
 * HostConfig's fields one to one (src/api/v1.41/docker/resources.ts, for `docker update`).
 */

/** A container's resources (see the module comment); a field left out, or 0, is no limit. */
export interface ResourceAmounts {
  memoryBytes?: number;
  /** CPUs in billionths (Docker's NanoCpus). */
  nanoCpus?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  cpuCount?: number;
  /** CPU shares, a relative weight (cpu.weight in the VM). */
  cpuShares?: number;
  /** memory.low in bytes. */
  memoryReservation?: number;
  /** CPUs and memory nodes it may use ("0-2,4"). */
  cpuset?: string;
  cpusetMems?: string;
  pidsLimit?: number | null;
}
