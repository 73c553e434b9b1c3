/**
 * RuntimeService's sandbox, container and exec calls over the creation service and the pod
 * layer. The model (docs/cri.md, "Runtime service"):
 *
 *   sandbox    a pod of its own: an infra container of the sandbox image in a VM on the node's
 *              CNI network (SandboxSpec.cni). READY while that pod runs.
 *   container  a pod of its own that joins the sandbox's VM when started (joinPod), so
 *              `docker ps` and `podvisor list` show every sandbox and container.
 *
 * CRI data the pod layer does not keep (metadata, annotations, the kubelet's labels, log paths)
 * is the CRI front's own record of each pod (./record-store.ts), written before the pod is
 * created (./records.ts has the lookups and views). This module holds the sandbox and container lifecycle, lists and statuses;
 * the exec and streaming calls are in ./runtime-exec.ts, the stats calls in ./runtime-stats.ts.
 */
import * as path from 'node:path';
import { InvalidArgumentError, NotFoundError } from '../../errors';
import { checkpointCriContainer, type CheckpointContainerRequest } from './checkpoint';
import { criStartOptions, isCheckpointArchive, restoreCriContainer } from './checkpoint-restore';
import type { RestoredFrom } from './record-types';
import {
  createCriContainer,
  createCriSandbox,
  type CriContainerRequest,
  type CriSandboxRequest,
} from './create-request';
import type { CriSeccompRequest } from './seccomp';
import { criSecurityOf } from './security';
import { mainContainer, podPhase, type PodRecord } from '../../pod/types';
import { checkNamespaces, containerView, CriPods, nanos, need, podName, sandboxView } from './records';
import type {
  AttachRequest,
  ContainerIdRequest,
  CreateContainerRequest,
  ExecRequest,
  ExecSyncRequest,
  KeyValue,
  ListContainersRequest,
  ListPodSandboxRequest,
  Mount,
  PodSandboxIdRequest,
  PodSandboxStatusRequest,
  PortForwardRequest,
  PortMapping,
  RunPodSandboxRequest,
  SeccompFields,
  StopContainerRequest,
  UpdateContainerResourcesRequest,
} from './messages';
import type { CriRuntimeDeps } from './runtime-deps';
export type { CriRuntimeDeps, SandboxAddress, StreamingUrls } from './runtime-deps';
import { CriExec } from './runtime-exec';
import { CriStats } from './runtime-stats';

/** The seccomp fields of a sandbox's or container's security context (./seccomp.ts chooses). */
function criSeccomp(sec: SeccompFields | null | undefined): CriSeccompRequest {
  return { profile: sec?.seccomp ?? null, profilePath: sec?.seccomp_profile_path ?? '', privileged: !!sec?.privileged };
}

/** The CRI runtime calls (see the module comment). */
export class CriRuntime {
  private readonly cri: CriPods;
  private readonly execs: CriExec;
  private readonly stats: CriStats;

  constructor(private readonly deps: CriRuntimeDeps) {
    this.cri = new CriPods(deps.pods, deps.records);
    this.execs = new CriExec(deps, this.cri);
    this.stats = new CriStats(deps, this.cri);
  }

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

  async createContainer(req: CreateContainerRequest): Promise<object> {
    // CRI-O's restore: the image names a checkpoint archive on the node (docs/cri.md).
    const id = isCheckpointArchive(req.config?.image?.image)
      ? await restoreCriContainer(this.deps, this.cri, req, (r, image, from) => this.create(r, image, from))
      : await this.create(req, req.config?.image?.image ?? '');
    return { container_id: id };
  }

  /** Create container `req` of `image` (a restored one's record naming `restoredFrom`); its id. */
  private async create(req: CreateContainerRequest, image: string, restoredFrom?: RestoredFrom): Promise<string> {
    const s = this.cri.sandbox(req.pod_sandbox_id);
    const c = req.config;
    need(c?.metadata?.name, 'config.metadata.name');
    need(c?.image?.image, 'config.image.image');
    const sec = c.linux?.security_context;
    checkNamespaces(sec?.namespace_options, 'CreateContainer');
    // containerd's rule: a privileged container only in a sandbox whose config (sent with the request) is privileged.
    if (sec?.privileged && !req.sandbox_config?.linux?.security_context?.privileged)
      throw new InvalidArgumentError('no privileged container allowed in sandbox');
    const { metadata: smd, logDirectory: dir } = this.cri.sandboxRecord(s);
    const logPath = c.log_path && dir ? path.join(dir, c.log_path) : '';
    const res = c.linux?.resources;
    const mounts = (c.mounts ?? []).map((m: Mount) => ({
      containerPath: m.container_path,
      hostPath: m.host_path,
      readonly: !!m.readonly,
      // Kept and reported as asked. Host-to-container holds through the VM's file share (a
      // mount made on the host under the source later shows in the container); container-to-host
      // (BIDIRECTIONAL) cannot: docs/limitations.md.
      propagation: String(m.propagation ?? 'PROPAGATION_PRIVATE'),
    }));
    const name = podName([c.metadata.name, smd.name, smd.namespace, smd.uid, c.metadata.attempt]);
    const record = {
      kind: 'container' as const,
      name,
      sandboxId: s.id,
      metadata: { name: c.metadata.name, attempt: c.metadata.attempt },
      labels: c.labels ?? {},
      annotations: c.annotations ?? {},
      logPath,
      image,
      mounts,
      ...(restoredFrom ? { restoredFrom } : {}),
    };
    const container: CriContainerRequest = {
      sandboxId: s.id,
      name,
      image,
      command: c.command ?? [],
      args: c.args ?? [],
      workingDir: c.working_dir ?? '',
      env: (c.envs ?? []).map((e: KeyValue) => `${e.key}=${e.value}`),
      mounts,
      labels: c.labels ?? {},
      logPath,
      tty: !!c.tty,
      stdin: !!c.stdin,
      stdinOnce: !!c.stdin_once,
      podPid: (sec?.namespace_options?.pid ?? 'POD') === 'POD',
      supplementalGroups: (sec?.supplemental_groups ?? []).map(Number),
      ...(sec?.run_as_user ? { runAsUser: Number(sec.run_as_user.value) } : {}),
      ...(sec?.run_as_group ? { runAsGroup: Number(sec.run_as_group.value) } : {}),
      runAsUsername: sec?.run_as_username ?? '',
      ...(sec ? { security: criSecurityOf(sec) } : {}),
      seccomp: criSeccomp(sec),
      ...(res && Number(res.memory_limit_in_bytes) > 0 ? { memoryBytes: Number(res.memory_limit_in_bytes) } : {}),
      ...(res && Number(res.cpu_quota) > 0 && Number(res.cpu_period) > 0
        ? { cpuQuota: Number(res.cpu_quota), cpuPeriod: Number(res.cpu_period) }
        : {}),
    };
    const r = await this.deps.records.create(record, () => createCriContainer(this.deps.engine, container));
    return r.id;
  }

  async startContainer(req: ContainerIdRequest): Promise<object> {
    const r = this.cri.container(req.container_id);
    const s = this.cri.sandbox(this.cri.containerRecord(r).sandboxId);
    if (podPhase(s) !== 'running') throw new InvalidArgumentError(`sandbox ${s.id} of container ${r.id} is not ready`);
    await this.deps.pods.start(r.id, criStartOptions(r, this.cri.containerRecord(r)));
    return {};
  }

  async stopContainer(req: StopContainerRequest): Promise<object> {
    const r = await this.cri.settled(this.cri.container(req.container_id));
    if (this.deps.pods.isRunning(r.id)) await this.deps.pods.stop(r.id, Math.max(0, Number(req.timeout) || 0));
    return {};
  }

  async removeContainer(req: ContainerIdRequest): Promise<object> {
    let r: PodRecord;
    try {
      r = this.cri.container(req.container_id);
    } catch (err) {
      if (err instanceof NotFoundError) return {};
      throw err;
    }
    await this.deps.pods.remove(r.id, { force: true });
    await this.deps.records.remove(r.id);
    this.stats.forget(r.id);
    return {};
  }

  listContainers(req: ListContainersRequest) {
    const f = req.filter;
    const containers = this.cri
      .containers()
      .map((r) => containerView(r, this.cri.containerRecord(r)))
      .filter(
        (v) =>
          !f ||
          ((!f.id || v.id.startsWith(f.id)) &&
            (!f.state || v.state === f.state.state) &&
            (!f.pod_sandbox_id || v.pod_sandbox_id.startsWith(f.pod_sandbox_id)) &&
            Object.entries(f.label_selector ?? {}).every(([k, val]) => v.labels[k] === val)),
      );
    return { containers };
  }

  containerStatus(req: ContainerIdRequest) {
    const r = this.cri.container(req.container_id);
    const rec = this.cri.containerRecord(r);
    const v = containerView(r, rec);
    const st = mainContainer(r).state;
    const exited = v.state === 'CONTAINER_EXITED';
    const reason = !exited ? '' : st.oomKilled ? 'OOMKilled' : st.exitCode === 0 ? 'Completed' : 'Error';
    return {
      status: {
        id: v.id,
        metadata: v.metadata,
        state: v.state,
        created_at: v.created_at,
        started_at: nanos(st.startedAt),
        finished_at: exited ? nanos(st.finishedAt) : '0',
        exit_code: exited ? st.exitCode : 0,
        image: v.image,
        image_ref: v.image_ref,
        reason,
        message: exited ? st.error : '',
        labels: v.labels,
        annotations: v.annotations,
        mounts: rec.mounts.map((m) => ({
          container_path: m.containerPath,
          host_path: m.hostPath,
          readonly: m.readonly,
          selinux_relabel: false,
          propagation: m.propagation ?? 'PROPAGATION_PRIVATE',
        })),
        log_path: rec.logPath,
      },
      info: {},
    };
  }

  /** ExecSync (./runtime-exec.ts). */
  execSync(req: ExecSyncRequest, signal: AbortSignal): Promise<object> {
    return this.execs.execSync(req, signal);
  }

  /** ReopenContainerLog (./runtime-exec.ts). */
  reopenContainerLog(req: ContainerIdRequest): Promise<object> {
    return this.execs.reopenContainerLog(req);
  }

  /** CheckpointContainer: the sandbox's VM saved, its archive at `location` (./checkpoint.ts). */
  async checkpointContainer(req: CheckpointContainerRequest): Promise<object> {
    await checkpointCriContainer(this.deps, this.cri, req);
    return {};
  }

  /** Exec (./runtime-exec.ts). */
  exec(req: ExecRequest): Promise<object> {
    return this.execs.exec(req);
  }

  /** Attach (./runtime-exec.ts). */
  attach(req: AttachRequest): Promise<object> {
    return this.execs.attach(req);
  }

  /** PortForward (./runtime-exec.ts). */
  portForward(req: PortForwardRequest): Promise<object> {
    return this.execs.portForward(req);
  }

  /** ContainerStats (./runtime-stats.ts). */
  containerStats(req: ContainerIdRequest): Promise<object> {
    return this.stats.containerStats(req);
  }

  /** ListContainerStats (./runtime-stats.ts). */
  listContainerStats(req: ListContainersRequest): Promise<object> {
    return this.stats.listContainerStats(req);
  }

  /** PodSandboxStats (./runtime-stats.ts). */
  podSandboxStats(req: PodSandboxIdRequest): Promise<object> {
    return this.stats.podSandboxStats(req);
  }

  /** ListPodSandboxStats (./runtime-stats.ts). */
  listPodSandboxStats(req: ListPodSandboxRequest): Promise<object> {
    return this.stats.listPodSandboxStats(req);
  }

  /** UpdateContainerResources: the container's memory and CPU limits, live while it runs. */
  async updateContainerResources(req: UpdateContainerResourcesRequest): Promise<object> {
    const r = this.cri.container(req.container_id);
    const res = req.linux;
    if (!res) return {};
    const memoryMax = Number(res.memory_limit_in_bytes) || 0;
    const cpuQuota = Number(res.cpu_quota) > 0 ? Number(res.cpu_quota) : 0;
    const cpuPeriod = Number(res.cpu_period) > 0 ? Number(res.cpu_period) : 100000;
    if (memoryMax < 0) throw new InvalidArgumentError('memory_limit_in_bytes must not be negative');
    const limits = memoryMax || cpuQuota ? { memoryMax, cpuQuota, cpuPeriod } : undefined;
    await this.deps.pods.update(r.id, { resources: { size: r.sandbox.spec.vm, limits } });
    return {};
  }

  /** The pod reference of a CRI container (for the streaming backend). */
  locate(containerId: string): { pod: string } {
    return { pod: this.cri.container(containerId).id };
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
