/**
 * Resource usage read from inside the guest: /proc/stat (CPU time), /proc/meminfo (memory)
 * and /proc/loadavg (process count), read through the agent's readFile, and the memory of
 * the container's cgroup (its usage and limit) where the agent has one. The VM is the
 * container's whole machine, so its CPU counters are the container's. The files come from the
 * guest and are not trusted: sizes are capped, numbers parsed defensively (missing or absurd
 * values read as 0).
 */
import type { Agent } from '../../vm/types';

/** USER_HZ of the guest kernel: /proc/stat counts in 1/100 s. */
const USER_HZ = 100;
const NS_PER_TICK = 1e9 / USER_HZ;
const MAX_PROC_FILE = 256 * 1024;

/** One sample of guest counters. */
export interface GuestSample {
  /** When the sample was taken (ms since epoch). */
  readAt: number;
  /** CPU time used (user + nice + system + irq + softirq + steal), ns. */
  cpuTotalNs: number;
  cpuUserNs: number;
  cpuSystemNs: number;
  perCpuNs: number[];
  /** All CPU time including idle (Docker's system_cpu_usage), ns. */
  systemNs: number;
  onlineCpus: number;
  /** Bytes in use (MemTotal - MemAvailable) and MemTotal. */
  memUsage: number;
  memLimit: number;
  /** Other meminfo counters in bytes (cache, buffers...). */
  memStats: Record<string, number>;
  /** Number of processes (tasks) in the guest. */
  pids: number;
}

function safeNum(s: string | undefined): number {
  if (!s || !/^\d{1,18}$/.test(s)) return 0;
  return Number(s);
}

/** Parse a /proc/stat text into CPU counters. */
export function parseProcStat(
  text: string,
): Pick<GuestSample, 'cpuTotalNs' | 'cpuUserNs' | 'cpuSystemNs' | 'perCpuNs' | 'systemNs' | 'onlineCpus'> {
  let total = 0;
  let user = 0;
  let system = 0;
  let all = 0;
  const per: number[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (!/^cpu\d*$/.test(f[0] ?? '')) continue;
    const [u, n, s, idle, iowait, irq, softirq, steal] = Array.from({ length: 8 }, (_v, i) => safeNum(f[i + 1]));
    const busy = u + n + s + irq + softirq + steal;
    if (f[0] === 'cpu') {
      total = busy * NS_PER_TICK;
      user = (u + n) * NS_PER_TICK;
      system = (s + irq + softirq) * NS_PER_TICK;
      all = (busy + idle + iowait) * NS_PER_TICK;
    } else if (per.length < 1024) {
      per.push(busy * NS_PER_TICK);
    }
  }
  return {
    cpuTotalNs: total,
    cpuUserNs: user,
    cpuSystemNs: system,
    perCpuNs: per,
    systemNs: all,
    onlineCpus: Math.max(1, per.length),
  };
}

/** Parse /proc/meminfo into bytes. */
export function parseMeminfo(text: string): { usage: number; limit: number; stats: Record<string, number> } {
  const kv: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9_()]+):\s+(\d{1,15})(?:\s+kB)?$/.exec(line.trim());
    if (m) kv[m[1]] = Number(m[2]) * 1024;
  }
  const limit = kv.MemTotal ?? 0;
  const avail = kv.MemAvailable ?? kv.MemFree ?? 0;
  return {
    usage: Math.max(0, limit - avail),
    limit,
    stats: {
      cache: kv.Cached ?? 0,
      buffers: kv.Buffers ?? 0,
      active_anon: kv['Active(anon)'] ?? 0,
      inactive_anon: kv['Inactive(anon)'] ?? 0,
      active_file: kv['Active(file)'] ?? 0,
      inactive_file: kv['Inactive(file)'] ?? 0,
      mapped_file: kv.Mapped ?? 0,
      dirty: kv.Dirty ?? 0,
      writeback: kv.Writeback ?? 0,
      rss: kv.AnonPages ?? 0,
      shmem: kv.Shmem ?? 0,
    },
  };
}

/** The total task count from /proc/loadavg ("0.00 0.01 0.05 1/57 1234"). */
export function parseLoadavgTasks(text: string): number {
  const m = /\s\d+\/(\d{1,9})\s/.exec(text);
  return m ? Number(m[1]) : 0;
}

/** Take one sample through the agent. */
export async function sampleGuest(agent: Agent, containerId: string): Promise<GuestSample> {
  const read = async (p: string) => {
    try {
      return (await agent.readFile(containerId, p, MAX_PROC_FILE)).toString('utf8');
    } catch {
      return '';
    }
  };
  const [stat, mem, load] = await Promise.all([read('/proc/stat'), read('/proc/meminfo'), read('/proc/loadavg')]);
  const cpu = parseProcStat(stat);
  const m = parseMeminfo(mem);
  const sample = {
    readAt: Date.now(),
    ...cpu,
    memUsage: m.usage,
    memLimit: m.limit,
    memStats: m.stats,
    pids: parseLoadavgTasks(load),
  };
  // The container's own cgroup, when the guest has one: its usage, and its limit (docker run
  // -m) instead of the VM's memory. Guest numbers, so bounded: never above the VM's memory.
  const cg = agent.cgroupMemory ? await agent.cgroupMemory(containerId).catch(() => undefined) : undefined;
  if (cg && m.limit > 0) {
    sample.memUsage = Math.min(cg.usage, m.limit);
    sample.memLimit = cg.limit > 0 ? Math.min(cg.limit, m.limit) : m.limit;
    // The VM's page-cache counters are not the container's: give only the cgroup's cache.
    sample.memStats = { cache: Math.min(cg.cache, sample.memUsage) };
  }
  return sample;
}
