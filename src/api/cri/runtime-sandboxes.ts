/**
 * RuntimeService's sandbox calls: RunPodSandbox, StopPodSandbox, RemovePodSandbox,
 * PodSandboxStatus and ListPodSandbox, and the sandbox's address for port-forward. A sandbox is
 * a pod of its own: an infra container of the sandbox image in a VM on the node's CNI network
 * (docs/cri.md, "Runtime service"), READY while that pod runs.
 */
import { NotFoundError } from '../../errors';
import type { PodRecord } from '../../pod/types';
import { createCriSandbox, type CriSandboxRequest } from './create-request';
import type {
  ListPodSandboxRequest,
  PodSandboxIdRequest,
  PodSandboxStatusRequest,
  PortMapping,
  RunPodSandboxRequest,
} from './messages';
import { checkNamespaces, type CriPods, need, podName, sandboxView } from './records';
import type { CriRuntimeDeps } from './runtime-deps';
import { criSeccomp } from './security-context';

/** RuntimeService's sandbox calls. */
export class CriSandboxes {
  constructor(
    private readonly deps: CriRuntimeDeps,
    private readonly cri: CriPods,
  ) {}

  async runPodSandbox(req: RunPodSandboxRequest): Promise<object> {
    const c = req.config;
    need(c?.metadata?.name, 'config.metadata.name');
    const md = c.metadata;
    if (req.runtime_handler) throw new NotFoundError(`no runtime for "${req.runtime_handler}" is configured`);
    checkNamespaces(c.linux?.security_context?.namespace_options, 'RunPodSandbox');
    const image = await this.deps.sandboxImage();
    const dns = c.dns_config;
    const name = podName(['POD', md.name, md.namespace, md.uid, md.attempt]);
    const record = {
      kind: 'sandbox' as const,
      name,
      metadata: { name: md.name, uid: md.uid, namespace: md.namespace, attempt: md.attempt },
      labels: c.labels ?? {},
      annotations: c.annotations ?? {},
      logDirectory: c.log_directory ?? '',
      pidMode: c.linux?.security_context?.namespace_options?.pid ?? 'POD',
    };
    const sandbox: CriSandboxRequest = {
      name,
      image,
      hostname: c.hostname || hostnameOf(md.name),
      pod: { namespace: md.namespace, name: md.name, uid: md.uid },
      portMappings: (c.port_mappings ?? [])
        .filter((p: PortMapping) => (p.host_port ?? 0) > 0)
        .map((p: PortMapping) => ({
          hostPort: p.host_port,
          containerPort: p.container_port,
          protocol: String(p.protocol).toLowerCase() as 'tcp' | 'udp' | 'sctp',
          ...(p.host_ip ? { hostIP: p.host_ip } : {}),
        })),
      ...(dns ? { dns: { servers: dns.servers ?? [], searches: dns.searches ?? [], options: dns.options ?? [] } } : {}),
      labels: c.labels ?? {},
      sysctls: c.linux?.sysctls ?? {},
      seccomp: criSeccomp(c.linux?.security_context),
      cgroupParent: c.linux?.cgroup_parent ?? '',
    };
    const r = await this.deps.records.create(record, () => createCriSandbox(this.deps.engine, sandbox));
    try {
      await this.deps.pods.start(r.id);
    } catch (err) {
      await this.deps.pods.remove(r.id, { force: true }).catch(() => undefined);
      await this.deps.records.remove(r.id);
      throw err;
    }
    return { pod_sandbox_id: r.id };
  }

  async stopPodSandbox(req: PodSandboxIdRequest): Promise<object> {
    const s = await this.cri.settled(this.cri.sandbox(req.pod_sandbox_id));
    for (const c of this.cri.containersOf(s.id)) {
      await this.cri.settled(c);
      if (this.deps.pods.isRunning(c.id)) await this.deps.pods.stop(c.id, 0);
    }
    if (this.deps.pods.isRunning(s.id)) await this.deps.pods.stop(s.id, 0);
    return {};
  }

  async removePodSandbox(req: PodSandboxIdRequest): Promise<object> {
    let s: PodRecord;
    try {
      s = this.cri.sandbox(req.pod_sandbox_id);
    } catch (err) {
      if (err instanceof NotFoundError) return {}; // removing what is gone is fine (the kubelet retries)
      throw err;
    }
    for (const c of this.cri.containersOf(s.id)) {
      await this.deps.pods.remove(c.id, { force: true });
      await this.deps.records.remove(c.id);
    }
    await this.deps.pods.remove(s.id, { force: true });
    await this.deps.records.remove(s.id);
    await this.deps.releaseNetwork(s.id);
    return {};
  }

  async podSandboxStatus(req: PodSandboxStatusRequest) {
    const found = this.cri.sandbox(req.pod_sandbox_id);
    const rec = this.cri.sandboxRecord(found);
    const r = await this.cri.settled(found);
    const restoring = this.deps.records.isRestoring(r.id);
    const v = sandboxView(r, rec, restoring);
    // A sandbox whose VM a restore replaces has no address for that moment.
    const addr = v.state === 'SANDBOX_READY' && !restoring ? await this.deps.address(r.id) : undefined;
    return {
      status: {
        ...v,
        network: { ip: addr?.ip ?? '', additional_ips: (addr?.additionalIps ?? []).map((ip) => ({ ip })) },
        linux: {
          namespaces: {
            options: {
              network: 'POD',
              pid: rec.pidMode,
              ipc: 'POD',
              target_id: '',
            },
          },
        },
      },
      info: req.verbose ? { info: JSON.stringify({ pid: 0, vm: r.sandbox.vmId ?? '' }) } : {},
      containers_statuses: [],
      timestamp: '0',
    };
  }

  listPodSandbox(req: ListPodSandboxRequest): object {
    const f = req.filter;
    const items = this.cri
      .sandboxes()
      .map((r) => sandboxView(r, this.cri.sandboxRecord(r), this.deps.records.isRestoring(r.id)))
      .filter(
        (v) =>
          !f ||
          ((!f.id || v.id.startsWith(f.id)) &&
            (!f.state || v.state === f.state.state) &&
            Object.entries(f.label_selector ?? {}).every(([k, val]) => v.labels[k] === val)),
      );
    return { items };
  }

  /** The sandbox's pod IP (for port-forward). */
  async sandboxAddress(id: string): Promise<string> {
    const s = this.cri.sandbox(id);
    const a = await this.deps.address(s.id);
    if (!a?.ip) throw new NotFoundError(`pod sandbox ${id} has no address`);
    return a.ip;
  }
}

/**
 * A sandbox's hostname when the kubelet sends none: the pod's name cut to 63 characters, less
 * the dots and dashes that would then end it, as the kubelet's own default is made (a Linux
 * hostname holds at most 64 bytes).
 */
export function hostnameOf(podName: string): string {
  return podName.slice(0, 63).replace(/[-.]+$/, '');
}
