/**
 * The CRI's RuntimeService over the creation service and the pod layer, one module per group of
 * calls (docs/cri.md, "Runtime service"):
 *
 *   sandbox    a pod of its own: an infra container of the sandbox image in a VM on the node's
 *              CNI network (SandboxSpec.cni). READY while that pod runs. ./runtime-sandboxes.ts
 *   container  a pod of its own that joins the sandbox's VM when started (joinPod), so
 *              `docker ps` and `podvisor list` show every sandbox and container.
 *              ./runtime-containers.ts
 *   exec and streaming (ExecSync, Exec, Attach, PortForward, ReopenContainerLog)
 *              ./runtime-exec.ts
 *   stats      ./runtime-stats.ts
 *   checkpoint ./checkpoint.ts (the save) and ./checkpoint-restore.ts (CreateContainer's restore)
 *
 * CRI data the pod layer does not keep (metadata, annotations, the kubelet's labels, log paths)
 * is the CRI front's own record of each pod (./record-store.ts), written before the pod is
 * created (./records.ts has the lookups and views). This class hands each call to its module.
 */
import { checkpointCriContainer, type CheckpointContainerRequest } from './checkpoint';
import { CriPods } from './records';
import type {
  AttachRequest,
  ContainerIdRequest,
  CreateContainerRequest,
  ExecRequest,
  ExecSyncRequest,
  ListContainersRequest,
  ListPodSandboxRequest,
  PodSandboxIdRequest,
  PodSandboxStatusRequest,
  PortForwardRequest,
  RunPodSandboxRequest,
  StopContainerRequest,
  UpdateContainerResourcesRequest,
} from './messages';
import type { CriRuntimeDeps } from './runtime-deps';
export type { CriRuntimeDeps, SandboxAddress, StreamingUrls } from './runtime-deps';
import { CriContainers } from './runtime-containers';
import { CriExec } from './runtime-exec';
import { CriSandboxes } from './runtime-sandboxes';
import { CriStats } from './runtime-stats';

/** The CRI runtime calls (see the module comment). */
export class CriRuntime {
  private readonly cri: CriPods;
  private readonly sandboxes: CriSandboxes;
  private readonly containers: CriContainers;
  private readonly execs: CriExec;
  private readonly stats: CriStats;

  constructor(private readonly deps: CriRuntimeDeps) {
    this.cri = new CriPods(deps.pods, deps.records);
    this.sandboxes = new CriSandboxes(deps, this.cri);
    this.stats = new CriStats(deps, this.cri);
    this.containers = new CriContainers(deps, this.cri, (id) => this.stats.forget(id));
    this.execs = new CriExec(deps, this.cri);
  }

  /** RunPodSandbox (./runtime-sandboxes.ts). */
  runPodSandbox(req: RunPodSandboxRequest): Promise<object> {
    return this.sandboxes.runPodSandbox(req);
  }

  /** StopPodSandbox (./runtime-sandboxes.ts). */
  stopPodSandbox(req: PodSandboxIdRequest): Promise<object> {
    return this.sandboxes.stopPodSandbox(req);
  }

  /** RemovePodSandbox (./runtime-sandboxes.ts). */
  removePodSandbox(req: PodSandboxIdRequest): Promise<object> {
    return this.sandboxes.removePodSandbox(req);
  }

  /** PodSandboxStatus (./runtime-sandboxes.ts). */
  podSandboxStatus(req: PodSandboxStatusRequest): ReturnType<CriSandboxes['podSandboxStatus']> {
    return this.sandboxes.podSandboxStatus(req);
  }

  /** ListPodSandbox (./runtime-sandboxes.ts). */
  listPodSandbox(req: ListPodSandboxRequest): ReturnType<CriSandboxes['listPodSandbox']> {
    return this.sandboxes.listPodSandbox(req);
  }

  /** CreateContainer (./runtime-containers.ts). */
  createContainer(req: CreateContainerRequest): Promise<object> {
    return this.containers.createContainer(req);
  }

  /** StartContainer (./runtime-containers.ts). */
  startContainer(req: ContainerIdRequest): Promise<object> {
    return this.containers.startContainer(req);
  }

  /** StopContainer (./runtime-containers.ts). */
  stopContainer(req: StopContainerRequest): Promise<object> {
    return this.containers.stopContainer(req);
  }

  /** RemoveContainer (./runtime-containers.ts). */
  removeContainer(req: ContainerIdRequest): Promise<object> {
    return this.containers.removeContainer(req);
  }

  /** ListContainers (./runtime-containers.ts). */
  listContainers(req: ListContainersRequest): ReturnType<CriContainers['listContainers']> {
    return this.containers.listContainers(req);
  }

  /** ContainerStatus (./runtime-containers.ts). */
  containerStatus(req: ContainerIdRequest): ReturnType<CriContainers['containerStatus']> {
    return this.containers.containerStatus(req);
  }

  /** UpdateContainerResources (./runtime-containers.ts). */
  updateContainerResources(req: UpdateContainerResourcesRequest): Promise<object> {
    return this.containers.updateContainerResources(req);
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

  /** The pod reference of a CRI container (for the streaming backend). */
  locate(containerId: string): { pod: string } {
    return { pod: this.cri.container(containerId).id };
  }

  /** The sandbox's pod IP (for port-forward; ./runtime-sandboxes.ts). */
  sandboxAddress(id: string): Promise<string> {
    return this.sandboxes.sandboxAddress(id);
  }
}

export { hostnameOf } from './runtime-sandboxes';
