/**
 * The CRI's stats calls: ContainerStats, ListContainerStats, PodSandboxStats and
 * ListPodSandboxStats, from the pod layer's samples and the rates kept between them (./stats.ts).
 * A sandbox's `linux.network` is its CNI interface's counters, read on the host in the
 * sandbox's network namespace (SandboxCounters); a container's stats carry no network usage,
 * as containerd's (the CRI's ContainerStats has no field for it: the pod's network is the
 * sandbox's).
 */
import type { PodService } from '../../pod/service';
import type { PodRecord } from '../../pod/types';
import { networkUsage, StatsRates, type SandboxCounters } from './stats';
import type { ContainerIdRequest, ListContainersRequest, ListPodSandboxRequest, PodSandboxIdRequest } from './messages';
import { containerView, sandboxView, type CriPods } from './records';
import type { CriContainerRecord, CriSandboxRecord } from './record-types';

/** RuntimeService's stats calls. */
export class CriStats {
  private readonly rates = new StatsRates();

  constructor(
    private readonly deps: { pods: PodService; counters?: SandboxCounters },
    private readonly cri: CriPods,
  ) {}

  /** Forget a removed container's last sample. */
  forget(id: string): void {
    this.rates.forget(id);
  }

  /** A container's stats; `rec` read before any wait (the container may go meanwhile). */
  private async statsOf(r: PodRecord, rec: CriContainerRecord): Promise<object> {
    const v = containerView(r, rec);
    const running = this.deps.pods.isRunning(r.id);
    const sample = running ? await this.deps.pods.sample(r.id).catch(() => undefined) : undefined;
    const rw = await this.deps.pods.sizeRw(r.id).catch(() => 0);
    return {
      attributes: { id: r.id, metadata: v.metadata, labels: v.labels, annotations: v.annotations },
      ...this.rates.usage(r.id, sample, rw),
    };
  }

  /** ContainerStats: CPU, memory and writable layer of one container. */
  async containerStats(req: ContainerIdRequest): Promise<object> {
    const r = this.cri.container(req.container_id);
    const rec = this.cri.containerRecord(r);
    return { stats: await this.statsOf(await this.cri.settled(r), rec) };
  }

  /** ListContainerStats (filters: id, sandbox id, label selector). */
  async listContainerStats(req: ListContainersRequest): Promise<object> {
    const f = req.filter;
    const stats = [];
    for (const [r, rec] of this.cri.containers().map((c) => [c, this.cri.containerRecord(c)] as const)) {
      const v = containerView(r, rec);
      if (
        f &&
        !(
          (!f.id || v.id.startsWith(f.id)) &&
          (!f.pod_sandbox_id || v.pod_sandbox_id.startsWith(f.pod_sandbox_id)) &&
          Object.entries(f.label_selector ?? {}).every(([k, val]) => v.labels[k] === val)
        )
      )
        continue;
      stats.push(await this.statsOf(r, rec));
    }
    return { stats };
  }

  /** A sandbox's stats; `rec` read before any wait (the sandbox may go meanwhile). */
  private async sandboxStats(s: PodRecord, rec: CriSandboxRecord): Promise<object> {
    const v = sandboxView(s, rec);
    const mine = this.cri.containersOf(s.id).map((c) => [c, this.cri.containerRecord(c)] as const);
    const running = this.deps.pods.isRunning(s.id);
    const sample = running ? await this.deps.pods.sample(s.id).catch(() => undefined) : undefined;
    const containers = [];
    for (const [c, crec] of mine) containers.push(await this.statsOf(c, crec));
    const usage = this.rates.usage(s.id, sample);
    const net = running && this.deps.counters ? await this.deps.counters(s.id).catch(() => undefined) : undefined;
    return {
      attributes: { id: s.id, metadata: v.metadata, labels: v.labels, annotations: v.annotations },
      linux: {
        cpu: usage.cpu,
        memory: usage.memory,
        ...(net ? { network: networkUsage(net.ifName, net.counters) } : {}),
        process: { timestamp: usage.cpu.timestamp, process_count: { value: String(sample?.pids ?? 0) } },
        containers,
      },
    };
  }

  /** PodSandboxStats: the sandbox's infra usage and its containers' stats. */
  async podSandboxStats(req: PodSandboxIdRequest): Promise<object> {
    const s = this.cri.sandbox(req.pod_sandbox_id);
    return { stats: await this.sandboxStats(s, this.cri.sandboxRecord(s)) };
  }

  /** ListPodSandboxStats (filters: id, label selector). */
  async listPodSandboxStats(req: ListPodSandboxRequest): Promise<object> {
    const f = req.filter;
    const stats = [];
    for (const [s, rec] of this.cri.sandboxes().map((x) => [x, this.cri.sandboxRecord(x)] as const)) {
      const v = sandboxView(s, rec);
      if (
        f &&
        !(
          (!f.id || v.id.startsWith(f.id)) &&
          Object.entries(f.label_selector ?? {}).every(([k, val]) => v.labels[k] === val)
        )
      )
        continue;
      stats.push(await this.sandboxStats(s, rec));
    }
    return { stats };
  }
}
