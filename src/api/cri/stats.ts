/**
 * The CRI stats calls' numbers from the pod layer's guest samples (PodService.sample: the
 * container's cgroup in its VM): cumulative CPU time, the CPU rate since the previous sample of
 * the same container (0 on the first), memory in use, and the writable layer's size.
 */
import type { GuestSample } from '../../pod/service';

/** An interface's counters as the host reads them (the net layer's InterfaceCounters has these). */
export interface LinkCounters {
  rx_bytes: number;
  rx_errors: number;
  tx_bytes: number;
  tx_errors: number;
}

/**
 * The counters of a sandbox's CNI interface, read on the host in its network namespace (the
 * daemon's CniNetworks.counters); undefined when it has no network.
 */
export type SandboxCounters = (sandboxId: string) => Promise<{ ifName: string; counters: LinkCounters } | undefined>;

/** A NetworkUsage of one interface, the default one (containerd fills only that one too). */
export function networkUsage(ifName: string, c: LinkCounters, now = Date.now()): object {
  return {
    timestamp: (BigInt(now) * 1_000_000n).toString(),
    default_interface: {
      name: ifName,
      rx_bytes: u64(c.rx_bytes),
      rx_errors: u64(c.rx_errors),
      tx_bytes: u64(c.tx_bytes),
      tx_errors: u64(c.tx_errors),
    },
    interfaces: [],
  };
}

/** A UInt64Value. */
function u64(n: number): UInt64Value {
  return { value: String(Math.max(0, Math.round(n))) };
}

/** A UInt64Value message. */
export interface UInt64Value {
  value: string;
}

/** The CpuUsage, MemoryUsage and (for a container) FilesystemUsage messages of one pod's sample. */
export interface Usage {
  cpu: { timestamp: string; usage_core_nano_seconds: UInt64Value; usage_nano_cores: UInt64Value };
  memory: { timestamp: string; working_set_bytes: UInt64Value; usage_bytes: UInt64Value; available_bytes: UInt64Value };
  writable_layer?: { timestamp: string; fs_id: { mountpoint: string }; used_bytes: UInt64Value };
}

/** CpuUsage and MemoryUsage (and the writable layer) of one container, from its samples. */
export class StatsRates {
  private readonly last = new Map<string, { at: number; cpuNs: number }>();

  /** Forget a container (removed). */
  forget(id: string): void {
    this.last.delete(id);
  }

  /** The usage messages of `id` from `sample` (undefined: not running, zeros). */
  usage(id: string, sample: GuestSample | undefined, writableBytes?: number): Usage {
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
