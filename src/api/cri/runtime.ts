/**
 * RuntimeService's sandbox, container and exec calls over the creation service and the pod
 * layer. The model (docs/cri.md, "Runtime service"):
 *
 *   sandbox    a pod of its own: an infra container of the sandbox image in a VM on the node's
 *              CNI network (SandboxSpec.cni). READY while that pod runs.
 *   container  a pod of its own that joins the sandbox's VM when started (joinPod), so
 *              `docker ps` and `podvisor list` show every sandbox and container.
 *
 * CRI data the pod layer does not keep (metadata, annotations, the user's labels, log paths) is
 * kept in labels under CRI_LABEL_PREFIX, written at create and read back here.
 */
import * as path from 'node:path';
import { InvalidArgumentError, NotFoundError, NotImplementedError } from '../../errors';
import { ExecTimeoutError } from './errors';
import type { CreationService } from '../../engine/service';
import { CRI_LABEL_PREFIX } from '../../engine/cri';
import { AttachSession, type OutputSink, type StreamName } from '../../pod/service';
import type { PodService } from '../../pod/service';
import { mainContainer, podPhase, ZERO_TIME, type PodRecord } from '../../pod/types';
import { rfc3339Nanos } from '../../util/time';
import { StatsRates } from './stats';
import { InvalidStreamingRequest, type StreamingServer } from './streaming';

/** A CRI label key of ours. */
const L = {
  kind: `${CRI_LABEL_PREFIX}kind`,
  metadata: `${CRI_LABEL_PREFIX}metadata`,
  labels: `${CRI_LABEL_PREFIX}labels`,
  annotations: `${CRI_LABEL_PREFIX}annotations`,
  sandbox: `${CRI_LABEL_PREFIX}sandbox`,
  logDirectory: `${CRI_LABEL_PREFIX}log-directory`,
  logPath: `${CRI_LABEL_PREFIX}log-path`,
  image: `${CRI_LABEL_PREFIX}image`,
  mounts: `${CRI_LABEL_PREFIX}mounts`,
} as const;

/** The pod's address on the CNI network (the daemon's CniNetworks.get). */
export type SandboxAddress = (id: string) => Promise<{ ip?: string; additionalIps: string[] } | undefined>;

/** What the runtime calls are built from. */
export interface CriRuntimeDeps {
  engine: Pick<CreationService, 'createCriSandbox' | 'createCriContainer'>;
  pods: PodService;
  /** The infra image of every sandbox, made local (pulled when missing) before each RunPodSandbox. */
  sandboxImage(): Promise<string>;
  address: SandboxAddress;
  /** Tear down a sandbox's CNI network (idempotent): RemovePodSandbox of one whose VM died unseen. */
  releaseNetwork(id: string): Promise<void>;
  /** The streaming server whose URLs Exec, Attach and PortForward answer (absent: UNIMPLEMENTED). */
  streaming?: () => StreamingUrls | undefined;
}

/** What the runtime asks of the streaming server (./streaming). */
export type StreamingUrls = Pick<StreamingServer, 'getExecUrl' | 'getAttachUrl' | 'getPortForwardUrl'>;

type Map = Record<string, string>;
interface KeyValue {
  key: string;
  value: string;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- requests as proto-loader decodes them */
type Req = any;

function nanos(t: string): string {
  return !t || t === ZERO_TIME ? '0' : rfc3339Nanos(t).toString();
}

function json<T>(v: string | undefined, dflt: T): T {
  try {
    return v ? (JSON.parse(v) as T) : dflt;
  } catch {
    return dflt;
  }
}

function need(v: unknown, what: string): void {
  if (!v) throw new InvalidArgumentError(`${what} is required`);
}

/** The pod name of a CRI object: `k8s_<parts>` with the characters Docker names take. */
function podName(parts: Array<string | number>): string {
  return `k8s_${parts.map((p) => String(p).replace(/[^a-zA-Z0-9_.-]/g, '-')).join('_')}`;
}

/** A pod made by the CRI as `kind`, or undefined. */
function criKind(r: PodRecord): string | undefined {
  return r.sandbox.spec.labels[L.kind];
}

/** A namespace mode other than POD/CONTAINER (NODE: the host's), refused for a VM. */
function checkNamespaces(opts: Req | null | undefined, what: string): void {
  if (!opts) return;
  for (const ns of ['network', 'pid', 'ipc'] as const) {
    if (opts[ns] === 'NODE')
      throw new InvalidArgumentError(
        `${what}: the host's ${ns} namespace (NODE) cannot be given to a pod in a VM (podvisor runs every sandbox in its own VM)`,
      );
  }
}

/** The CRI runtime calls (see the module comment). */
export class CriRuntime {
  private readonly rates = new StatsRates();

  constructor(private readonly deps: CriRuntimeDeps) {}

  private sandbox(id: string): PodRecord {
    need(id, 'pod_sandbox_id');
    let r: PodRecord;
    try {
      r = this.deps.pods.get(id);
    } catch (err) {
      if (err instanceof NotFoundError) throw new NotFoundError(`pod sandbox ${id} not found`);
      throw err;
    }
    if (criKind(r) !== 'sandbox') throw new NotFoundError(`pod sandbox ${id} not found`);
    return r;
  }

  private container(id: string): PodRecord {
    need(id, 'container_id');
    let r: PodRecord;
    try {
      r = this.deps.pods.get(id);
    } catch (err) {
      if (err instanceof NotFoundError) throw new NotFoundError(`container ${id} not found`);
      throw err;
    }
    if (criKind(r) !== 'container') throw new NotFoundError(`container ${id} not found`);
    return r;
  }

  /** Wait for a pod the daemon is re-adopting after a restart (its VM is not known before). */
  private async settled(r: PodRecord): Promise<PodRecord> {
    await this.deps.pods.whenAdopted(r.id);
    return this.deps.pods.get(r.id);
  }

  private sandboxes(): PodRecord[] {
    return this.deps.pods.list().filter((r) => criKind(r) === 'sandbox');
  }

  private containers(): PodRecord[] {
    return this.deps.pods.list().filter((r) => criKind(r) === 'container');
  }

  async runPodSandbox(req: Req): Promise<object> {
    const c = req.config;
    need(c?.metadata?.name, 'config.metadata.name');
    const md = c.metadata;
    if (req.runtime_handler) throw new NotFoundError(`no runtime for "${req.runtime_handler}" is configured`);
    checkNamespaces(c.linux?.security_context?.namespace_options, 'RunPodSandbox');
    const image = await this.deps.sandboxImage();
    const dns = c.dns_config;
    const r = await this.deps.engine.createCriSandbox({
      name: podName(['POD', md.name, md.namespace, md.uid, md.attempt]),
      image,
      hostname: c.hostname || hostnameOf(md.name),
      pod: { namespace: md.namespace, name: md.name, uid: md.uid },
      portMappings: (c.port_mappings ?? [])
        .filter((p: Req) => p.host_port > 0)
        .map((p: Req) => ({
          hostPort: p.host_port,
          containerPort: p.container_port,
          protocol: String(p.protocol).toLowerCase() as 'tcp' | 'udp' | 'sctp',
          ...(p.host_ip ? { hostIP: p.host_ip } : {}),
        })),
      ...(dns ? { dns: { servers: dns.servers ?? [], searches: dns.searches ?? [], options: dns.options ?? [] } } : {}),
      labels: c.labels ?? {},
      criLabels: {
        [L.kind]: 'sandbox',
        [L.metadata]: JSON.stringify({ name: md.name, uid: md.uid, namespace: md.namespace, attempt: md.attempt }),
        [L.labels]: JSON.stringify(c.labels ?? {}),
        [L.annotations]: JSON.stringify(c.annotations ?? {}),
        [L.logDirectory]: c.log_directory ?? '',
      },
    });
    try {
      await this.deps.pods.start(r.id);
    } catch (err) {
      await this.deps.pods.remove(r.id, { force: true }).catch(() => undefined);
      throw err;
    }
    return { pod_sandbox_id: r.id };
  }

  async stopPodSandbox(req: Req): Promise<object> {
    const s = await this.settled(this.sandbox(req.pod_sandbox_id));
    for (const c of this.containers().filter((x) => x.sandbox.spec.labels[L.sandbox] === s.id)) {
      await this.settled(c);
      if (this.deps.pods.isRunning(c.id)) await this.deps.pods.stop(c.id, 0);
    }
    if (this.deps.pods.isRunning(s.id)) await this.deps.pods.stop(s.id, 0);
    return {};
  }

  async removePodSandbox(req: Req): Promise<object> {
    let s: PodRecord;
    try {
      s = this.sandbox(req.pod_sandbox_id);
    } catch (err) {
      if (err instanceof NotFoundError) return {}; // removing what is gone is fine (the kubelet retries)
      throw err;
    }
    for (const c of this.containers().filter((x) => x.sandbox.spec.labels[L.sandbox] === s.id))
      await this.deps.pods.remove(c.id, { force: true });
    await this.deps.pods.remove(s.id, { force: true });
    await this.deps.releaseNetwork(s.id);
    return {};
  }

  private sandboxView(r: PodRecord): Req {
    const l = r.sandbox.spec.labels;
    return {
      id: r.id,
      metadata: json(l[L.metadata], {}),
      state: podPhase(r) === 'running' ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY',
      created_at: nanos(r.created),
      labels: json<Map>(l[L.labels], {}),
      annotations: json<Map>(l[L.annotations], {}),
      runtime_handler: '',
    };
  }

  async podSandboxStatus(req: Req): Promise<object> {
    const r = await this.settled(this.sandbox(req.pod_sandbox_id));
    const v = this.sandboxView(r);
    const addr = v.state === 'SANDBOX_READY' ? await this.deps.address(r.id) : undefined;
    return {
      status: {
        ...v,
        network: { ip: addr?.ip ?? '', additional_ips: (addr?.additionalIps ?? []).map((ip) => ({ ip })) },
        linux: { namespaces: { options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD', target_id: '' } } },
      },
      info: req.verbose ? { info: JSON.stringify({ pid: 0, vm: r.sandbox.vmId ?? '' }) } : {},
      containers_statuses: [],
      timestamp: '0',
    };
  }

  listPodSandbox(req: Req): object {
    const f = req.filter;
    const items = this.sandboxes()
      .map((r) => this.sandboxView(r))
      .filter(
        (v) =>
          !f ||
          ((!f.id || v.id.startsWith(f.id)) &&
            (!f.state || v.state === f.state.state) &&
            Object.entries((f.label_selector ?? {}) as Map).every(([k, val]) => v.labels[k] === val)),
      );
    return { items };
  }

  async createContainer(req: Req): Promise<object> {
    const s = this.sandbox(req.pod_sandbox_id);
    const c = req.config;
    need(c?.metadata?.name, 'config.metadata.name');
    need(c?.image?.image, 'config.image.image');
    const sec = c.linux?.security_context;
    checkNamespaces(sec?.namespace_options, 'CreateContainer');
    const smd = json<Req>(s.sandbox.spec.labels[L.metadata], {});
    const dir = s.sandbox.spec.labels[L.logDirectory] ?? '';
    const logPath = c.log_path && dir ? path.join(dir, c.log_path) : '';
    const res = c.linux?.resources;
    const mounts = (c.mounts ?? []).map((m: Req) => ({
      containerPath: m.container_path,
      hostPath: m.host_path,
      readonly: !!m.readonly,
    }));
    const r = await this.deps.engine.createCriContainer({
      sandboxId: s.id,
      name: podName([c.metadata.name, smd.name, smd.namespace, smd.uid, c.metadata.attempt]),
      image: c.image.image,
      command: c.command ?? [],
      args: c.args ?? [],
      workingDir: c.working_dir ?? '',
      env: (c.envs ?? []).map((e: KeyValue) => `${e.key}=${e.value}`),
      mounts,
      labels: c.labels ?? {},
      criLabels: {
        [L.kind]: 'container',
        [L.sandbox]: s.id,
        [L.metadata]: JSON.stringify({ name: c.metadata.name, attempt: c.metadata.attempt }),
        [L.labels]: JSON.stringify(c.labels ?? {}),
        [L.annotations]: JSON.stringify(c.annotations ?? {}),
        [L.logPath]: logPath,
        [L.image]: c.image.image,
        [L.mounts]: JSON.stringify(mounts),
      },
      logPath,
      tty: !!c.tty,
      stdin: !!c.stdin,
      stdinOnce: !!c.stdin_once,
      ...(sec?.run_as_user ? { runAsUser: Number(sec.run_as_user.value) } : {}),
      ...(sec?.run_as_group ? { runAsGroup: Number(sec.run_as_group.value) } : {}),
      runAsUsername: sec?.run_as_username ?? '',
      readonlyRootfs: !!sec?.readonly_rootfs,
      ...(res && Number(res.memory_limit_in_bytes) > 0 ? { memoryBytes: Number(res.memory_limit_in_bytes) } : {}),
      ...(res && Number(res.cpu_quota) > 0 && Number(res.cpu_period) > 0
        ? { cpuQuota: Number(res.cpu_quota), cpuPeriod: Number(res.cpu_period) }
        : {}),
    });
    return { container_id: r.id };
  }

  async startContainer(req: Req): Promise<object> {
    const r = this.container(req.container_id);
    const s = this.sandbox(r.sandbox.spec.labels[L.sandbox]);
    if (podPhase(s) !== 'running') throw new InvalidArgumentError(`sandbox ${s.id} of container ${r.id} is not ready`);
    await this.deps.pods.start(r.id);
    return {};
  }

  async stopContainer(req: Req): Promise<object> {
    const r = await this.settled(this.container(req.container_id));
    if (this.deps.pods.isRunning(r.id)) await this.deps.pods.stop(r.id, Math.max(0, Number(req.timeout) || 0));
    return {};
  }

  async removeContainer(req: Req): Promise<object> {
    let r: PodRecord;
    try {
      r = this.container(req.container_id);
    } catch (err) {
      if (err instanceof NotFoundError) return {};
      throw err;
    }
    await this.deps.pods.remove(r.id, { force: true });
    this.rates.forget(r.id);
    return {};
  }

  private containerState(r: PodRecord): string {
    const st = mainContainer(r).state.status;
    if (st === 'created') return 'CONTAINER_CREATED';
    if (st === 'running' || st === 'paused' || st === 'restarting') return 'CONTAINER_RUNNING';
    if (st === 'exited' || st === 'dead') return 'CONTAINER_EXITED';
    return 'CONTAINER_UNKNOWN';
  }

  private containerView(r: PodRecord): Req {
    const l = r.sandbox.spec.labels;
    const image = l[L.image] ?? mainContainer(r).spec.imageRef;
    return {
      id: r.id,
      pod_sandbox_id: l[L.sandbox],
      metadata: json(l[L.metadata], {}),
      image: { image, annotations: {} },
      image_ref: mainContainer(r).spec.image,
      state: this.containerState(r),
      created_at: nanos(r.created),
      labels: json<Map>(l[L.labels], {}),
      annotations: json<Map>(l[L.annotations], {}),
    };
  }

  listContainers(req: Req): object {
    const f = req.filter;
    const containers = this.containers()
      .map((r) => this.containerView(r))
      .filter(
        (v) =>
          !f ||
          ((!f.id || v.id.startsWith(f.id)) &&
            (!f.state || v.state === f.state.state) &&
            (!f.pod_sandbox_id || v.pod_sandbox_id.startsWith(f.pod_sandbox_id)) &&
            Object.entries((f.label_selector ?? {}) as Map).every(([k, val]) => v.labels[k] === val)),
      );
    return { containers };
  }

  containerStatus(req: Req): object {
    const r = this.container(req.container_id);
    const v = this.containerView(r);
    const st = mainContainer(r).state;
    const exited = v.state === 'CONTAINER_EXITED';
    const reason = !exited ? '' : st.oomKilled ? 'OOMKilled' : st.exitCode === 0 ? 'Completed' : 'Error';
    const l = r.sandbox.spec.labels;
    const mounts = json<Array<{ containerPath: string; hostPath: string; readonly: boolean }>>(l[L.mounts], []);
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
        mounts: mounts.map((m) => ({
          container_path: m.containerPath,
          host_path: m.hostPath,
          readonly: m.readonly,
          selinux_relabel: false,
          propagation: 'PROPAGATION_PRIVATE',
        })),
        log_path: l[L.logPath] ?? '',
      },
      info: {},
    };
  }

  /** ExecSync: the command's output and exit code; a timeout (seconds, 0: none) fails DEADLINE-like. */
  async execSync(req: Req, signal: AbortSignal): Promise<object> {
    const r = await this.settled(this.container(req.container_id));
    need(req.cmd?.length, 'cmd');
    if (!this.deps.pods.isRunning(r.id)) throw new InvalidArgumentError(`container ${r.id} is not running`);
    const out: Record<StreamName, Buffer[]> = { stdout: [], stderr: [] };
    const sink: OutputSink = {
      write: (stream, data) => (out[stream].push(Buffer.from(data)), true),
      drain: () => Promise.resolve(),
      end: () => undefined,
    };
    const x = this.deps.pods.execCreate(r.id, {
      args: req.cmd,
      env: [],
      workingDir: '',
      user: '',
      tty: false,
      attachStdin: false,
      attachStdout: true,
      attachStderr: true,
      detachKeys: '',
      privileged: false,
    });
    const session = new AttachSession({ stdin: null, stdout: true, stderr: true, sink, detachKeys: Buffer.alloc(0) });
    const timeout = Number(req.timeout) || 0;
    let timer: NodeJS.Timeout | undefined;
    try {
      const started = await this.deps.pods.execStart(x.id, session);
      const limits: Array<Promise<never>> = [];
      if (timeout > 0)
        limits.push(
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new ExecTimeoutError(`command ${JSON.stringify(req.cmd)} timed out after ${timeout}s`)),
              timeout * 1000,
            );
          }),
        );
      limits.push(
        new Promise<never>((_, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }),
        ),
      );
      await Promise.race([started.finished, ...limits]);
      return {
        stdout: Buffer.concat(out.stdout),
        stderr: Buffer.concat(out.stderr),
        exit_code: this.deps.pods.execGet(x.id).exitCode ?? -1,
      };
    } finally {
      if (timer) clearTimeout(timer);
      session.finish('exited');
    }
  }

  /** ReopenContainerLog: the next output opens the CRI log file again. */
  async reopenContainerLog(req: Req): Promise<object> {
    const r = await this.settled(this.container(req.container_id));
    if (!this.deps.pods.isRunning(r.id))
      throw new InvalidArgumentError(`container ${r.id} is not running: its log cannot be reopened`);
    if (!this.deps.pods.reopenCriLog) throw new NotImplementedError('ReopenContainerLog');
    this.deps.pods.reopenCriLog(r.id);
    return {};
  }

  private streamingServer(method: string): StreamingUrls {
    const s = this.deps.streaming?.();
    if (!s) throw new NotImplementedError(`${method}: this daemon runs no CRI streaming server`);
    return s;
  }

  /** A URL of the streaming server, its refusals as INVALID_ARGUMENT. */
  private url(fn: () => string): { url: string } {
    try {
      return { url: fn() };
    } catch (err) {
      if (err instanceof InvalidStreamingRequest) throw new InvalidArgumentError(err.message);
      throw err;
    }
  }

  /** Exec: a URL where the command runs with the session's streams. */
  async exec(req: Req): Promise<object> {
    const r = await this.settled(this.container(req.container_id));
    need(req.cmd?.length, 'cmd');
    if (!this.deps.pods.isRunning(r.id)) throw new InvalidArgumentError(`container ${r.id} is not running`);
    const s = this.streamingServer('Exec');
    return this.url(() =>
      s.getExecUrl({
        containerId: r.id,
        cmd: req.cmd,
        tty: !!req.tty,
        stdin: !!req.stdin,
        stdout: !!req.stdout,
        stderr: !!req.stderr,
      }),
    );
  }

  /** Attach: a URL joined to the container's main process. */
  async attach(req: Req): Promise<object> {
    const r = await this.settled(this.container(req.container_id));
    if (!this.deps.pods.isRunning(r.id)) throw new InvalidArgumentError(`container ${r.id} is not running`);
    const s = this.streamingServer('Attach');
    return this.url(() =>
      s.getAttachUrl({
        containerId: r.id,
        tty: !!req.tty,
        stdin: !!req.stdin,
        stdout: !!req.stdout,
        stderr: !!req.stderr,
      }),
    );
  }

  /** PortForward: a URL forwarding to the sandbox's ports. */
  async portForward(req: Req): Promise<object> {
    const sb = await this.settled(this.sandbox(req.pod_sandbox_id));
    if (podPhase(sb) !== 'running') throw new InvalidArgumentError(`pod sandbox ${sb.id} is not ready`);
    const s = this.streamingServer('PortForward');
    return this.url(() => s.getPortForwardUrl({ podSandboxId: sb.id, port: req.port ?? [] }));
  }

  private async statsOf(r: PodRecord): Promise<Req> {
    const running = this.deps.pods.isRunning(r.id);
    const sample = running ? await this.deps.pods.sample(r.id).catch(() => undefined) : undefined;
    const rw = await this.deps.pods.sizeRw(r.id).catch(() => 0);
    const v = this.containerView(r);
    return {
      attributes: { id: r.id, metadata: v.metadata, labels: v.labels, annotations: v.annotations },
      ...this.rates.usage(r.id, sample, rw),
    };
  }

  /** ContainerStats: CPU, memory and writable layer of one container. */
  async containerStats(req: Req): Promise<object> {
    return { stats: await this.statsOf(await this.settled(this.container(req.container_id))) };
  }

  /** ListContainerStats (filters: id, sandbox id, label selector). */
  async listContainerStats(req: Req): Promise<object> {
    const f = req.filter;
    const stats = [];
    for (const r of this.containers()) {
      const v = this.containerView(r);
      if (
        f &&
        !(
          (!f.id || v.id.startsWith(f.id)) &&
          (!f.pod_sandbox_id || v.pod_sandbox_id.startsWith(f.pod_sandbox_id)) &&
          Object.entries((f.label_selector ?? {}) as Map).every(([k, val]) => v.labels[k] === val)
        )
      )
        continue;
      stats.push(await this.statsOf(r));
    }
    return { stats };
  }

  private async sandboxStats(s: PodRecord): Promise<Req> {
    const v = this.sandboxView(s);
    const running = this.deps.pods.isRunning(s.id);
    const sample = running ? await this.deps.pods.sample(s.id).catch(() => undefined) : undefined;
    const containers = [];
    for (const c of this.containers().filter((x) => x.sandbox.spec.labels[L.sandbox] === s.id))
      containers.push(await this.statsOf(c));
    const usage = this.rates.usage(s.id, sample) as Req;
    return {
      attributes: { id: s.id, metadata: v.metadata, labels: v.labels, annotations: v.annotations },
      linux: {
        cpu: usage.cpu,
        memory: usage.memory,
        process: { timestamp: usage.cpu.timestamp, process_count: { value: String(sample?.pids ?? 0) } },
        containers,
      },
    };
  }

  /** PodSandboxStats: the sandbox's infra usage and its containers' stats. */
  async podSandboxStats(req: Req): Promise<object> {
    return { stats: await this.sandboxStats(this.sandbox(req.pod_sandbox_id)) };
  }

  /** ListPodSandboxStats (filters: id, label selector). */
  async listPodSandboxStats(req: Req): Promise<object> {
    const f = req.filter;
    const stats = [];
    for (const s of this.sandboxes()) {
      const v = this.sandboxView(s);
      if (
        f &&
        !(
          (!f.id || v.id.startsWith(f.id)) &&
          Object.entries((f.label_selector ?? {}) as Map).every(([k, val]) => v.labels[k] === val)
        )
      )
        continue;
      stats.push(await this.sandboxStats(s));
    }
    return { stats };
  }

  /** UpdateContainerResources: the container's memory and CPU limits, live while it runs. */
  async updateContainerResources(req: Req): Promise<object> {
    const r = this.container(req.container_id);
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
    return { pod: this.container(containerId).id };
  }

  /** The sandbox's pod IP (for port-forward). */
  async sandboxAddress(id: string): Promise<string> {
    const s = this.sandbox(id);
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
