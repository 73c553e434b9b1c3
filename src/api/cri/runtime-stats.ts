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
import { containerView, L, sandboxView, type CriPods } from './records';

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

  private async statsOf(r: PodRecord): Promise<object> {
    const running = this.deps.pods.isRunning(r.id);
    const sample = running ? await this.deps.pods.sample(r.id).catch(() => undefined) : undefined;
    const rw = await this.deps.pods.sizeRw(r.id).catch(() => 0);
    const v = containerView(r);
    return {
      attributes: { id: r.id, metadata: v.metadata, labels: v.labels, annotations: v.annotations },
      ...this.rates.usage(r.id, sample, rw),
    };
  }

  /** ContainerStats: CPU, memory and writable layer of one container. */
  async containerStats(req: ContainerIdRequest): Promise<object> {
    return { stats: await this.statsOf(await this.cri.settled(this.cri.container(req.container_id))) };
  }

  /** ListContainerStats (filters: id, sandbox id, label selector). */
  async listContainerStats(req: ListContainersRequest): Promise<object> {
    const f = req.filter;
    const stats = [];
    for (const r of this.cri.containers()) {
      const v = containerView(r);
      if (
        f &&
        !(
          (!f.id || v.id.startsWith(f.id)) &&
          (!f.pod_sandbox_id || v.pod_sandbox_id.startsWith(f.pod_sandbox_id)) &&
          Object.entries(f.label_selector ?? {}).every(([k, val]) => v.labels[k] === val)
        )
      )
        continue;
      stats.push(await this.statsOf(r));
    }
    return { stats };
  }

  private async sandboxStats(s: PodRecord): Promise<object> {
    const v = sandboxView(s);
    const running = this.deps.pods.isRunning(s.id);
    const sample = running ? await this.deps.pods.sample(s.id).catch(() => undefined) : undefined;
    const containers = [];
    for (const c of this.cri.containers().filter((x) => x.sandbox.spec.labels[L.sandbox] === s.id))
      containers.push(await this.statsOf(c));
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
    return { stats: await this.sandboxStats(this.cri.sandbox(req.pod_sandbox_id)) };
  }

  /** ListPodSandboxStats (filters: id, label selector). */
  async listPodSandboxStats(req: ListPodSandboxRequest): Promise<object> {
    const f = req.filter;
    const stats = [];
    for (const s of this.cri.sandboxes()) {
      const v = sandboxView(s);
      if (
        f &&
        !(
          (!f.id || v.id.startsWith(f.id)) &&
          Object.entries(f.label_selector ?? {}).every(([k, val]) => v.labels[k] === val)
        )
      )
        continue;
      stats.push(await this.sandboxStats(s));
    }
    return { stats };
  }
}
