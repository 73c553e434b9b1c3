/**
 * The CRI stats calls' numbers from the pod layer's guest samples (PodService.sample: the
 * container's cgroup in its VM): cumulative CPU time, the CPU rate since the previous sample of
 * the same container (0 on the first), memory in use, and the writable layer's size.
 */
import type { GuestSample } from '../../pod/service';

/** A UInt64Value. */
function u64(n: number): { value: string } {
  return { value: String(Math.max(0, Math.round(n))) };
}

/** CpuUsage and MemoryUsage (and the writable layer) of one container, from its samples. */
export class StatsRates {
  private readonly last = new Map<string, { at: number; cpuNs: number }>();

  /** Forget a container (removed). */
  forget(id: string): void {
    this.last.delete(id);
  }

  /** The usage messages of `id` from `sample` (undefined: not running, zeros). */
  usage(id: string, sample: GuestSample | undefined, writableBytes?: number): object {
    const now = sample?.readAt ?? Date.now();
    const ts = (BigInt(now) * 1_000_000n).toString();
    let nanoCores = 0;
    if (sample) {
      const prev = this.last.get(id);
      if (prev && sample.readAt > prev.at)
        nanoCores = ((sample.cpuTotalNs - prev.cpuNs) / ((sample.readAt - prev.at) * 1e6)) * 1e9;
      this.last.set(id, { at: sample.readAt, cpuNs: sample.cpuTotalNs });
    }
    return {
      cpu: {
        timestamp: ts,
        usage_core_nano_seconds: u64(sample?.cpuTotalNs ?? 0),
        usage_nano_cores: u64(nanoCores),
      },
      memory: {
        timestamp: ts,
        working_set_bytes: u64(sample?.memUsage ?? 0),
        usage_bytes: u64(sample?.memUsage ?? 0),
        available_bytes: u64(sample ? Math.max(0, sample.memLimit - sample.memUsage) : 0),
      },
      ...(writableBytes !== undefined
        ? { writable_layer: { timestamp: ts, fs_id: { mountpoint: '' }, used_bytes: u64(writableBytes) } }
        : {}),
    };
  }
}
