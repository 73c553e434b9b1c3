/**
 * Guest samples -> Docker's stats JSON (`GET /containers/{id}/stats`), the cgroup-v1 shape
 * dockerd 20.10 writes. `precpu_stats` is the previous sample (empty on the first one), from
 * which the docker CLI computes CPU %.
 */
import type { GuestSample } from '../../../pod/service';

const ZERO = '0001-01-01T00:00:00Z';

function cpuStats(s: GuestSample | undefined): Record<string, unknown> {
  if (!s) {
    return {
      cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 },
      throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
    };
  }
  return {
    cpu_usage: {
      total_usage: s.cpuTotalNs,
      percpu_usage: s.perCpuNs,
      usage_in_kernelmode: s.cpuSystemNs,
      usage_in_usermode: s.cpuUserNs,
    },
    system_cpu_usage: s.systemNs,
    online_cpus: s.onlineCpus,
    throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
  };
}

/**
 * One stats object. `cur` undefined = the container is not running (dockerd's zero answer).
 * `networks`: per-interface counters (src/net/tap-stats.ts), only while it runs on a network.
 */
export function statsJson(
  id: string,
  name: string,
  cur: GuestSample | undefined,
  prev: GuestSample | undefined,
  networks?: Record<string, unknown>,
): Record<string, unknown> {
  const blkio = {
    io_service_bytes_recursive: cur ? [] : null,
    io_serviced_recursive: cur ? [] : null,
    io_queue_recursive: cur ? [] : null,
    io_service_time_recursive: cur ? [] : null,
    io_wait_time_recursive: cur ? [] : null,
    io_merged_recursive: cur ? [] : null,
    io_time_recursive: cur ? [] : null,
    sectors_recursive: cur ? [] : null,
  };
  return {
    read: cur ? new Date(cur.readAt).toISOString() : ZERO,
    preread: prev ? new Date(prev.readAt).toISOString() : ZERO,
    pids_stats: cur ? { current: cur.pids } : {},
    blkio_stats: blkio,
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpuStats(cur),
    precpu_stats: cpuStats(prev),
    memory_stats: cur
      ? {
          usage: cur.memUsage,
          // No inactive_file keys: usage is already MemTotal - MemAvailable, and the CLI would
          // subtract inactive_file from it a second time.
          stats: Object.fromEntries(Object.entries(cur.memStats).filter(([k]) => k !== 'inactive_file')),
          limit: cur.memLimit,
        }
      : {},
    name: `/${name}`,
    id,
    ...(cur && networks ? { networks } : {}),
  };
}
