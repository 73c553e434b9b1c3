/**
 * RuntimeService's container calls: CreateContainer (a checkpoint archive's path or a
 * checkpoint image as its image restores the saved container: ./checkpoint-restore.ts), StartContainer, StopContainer,
 * RemoveContainer, ListContainers, ContainerStatus and UpdateContainerResources. A container is
 * a pod of its own that joins its sandbox's VM when started (docs/cri.md, "Runtime service").
 */
import * as path from 'node:path';
import { InvalidArgumentError, NotFoundError } from '../../errors';
import { mainContainer, podPhase, type PodRecord } from '../../pod/types';
import { criStartOptions, restoreCriContainer } from './checkpoint-restore';
import { archiveSource, checkpointImageSource, isCheckpointArchive, type CheckpointSource } from './checkpoint-sources';
import { createCriContainer, type CriContainerRequest } from './create-request';
import type {
  ContainerIdRequest,
  CreateContainerRequest,
  KeyValue,
  ListContainersRequest,
  Mount,
  StopContainerRequest,
  UpdateContainerResourcesRequest,
} from './messages';
import type { RestoredFrom } from './record-types';
import { checkNamespaces, containerView, type CriPods, nanos, need, podName } from './records';
import type { CriRuntimeDeps } from './runtime-deps';
import { criSecurityOf } from './security';
import { criSeccomp } from './security-context';

/** RuntimeService's container calls. */
export class CriContainers {
  /**
   * @param removed called with each container's id once it is removed (its stats' last
   *   sample is forgotten)
   */
  constructor(
    private readonly deps: CriRuntimeDeps,
    private readonly cri: CriPods,
    private readonly removed: (id: string) => void,
  ) {}

  async createContainer(req: CreateContainerRequest): Promise<object> {
    const image = req.config?.image?.image ?? '';
    // CRI-O's restore: the image names a checkpoint archive on the node, or is a checkpoint
    // image (docs/cri.md, "CheckpointContainer").
    const checkpoint: CheckpointSource | undefined = isCheckpointArchive(image)
      ? archiveSource(image)
      : image && this.deps.checkpointImages
        ? await checkpointImageSource(this.deps.checkpointImages, image)
        : undefined;
    const id = checkpoint
      ? await restoreCriContainer(this.deps, this.cri, req, checkpoint, (r, img, from) => this.create(r, img, from))
      : await this.create(req, image);
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
    this.removed(r.id);
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
}
