/**
 * The CRI's exec calls: ExecSync (a command's output captured, with its timeout), and the
 * streaming calls (Exec, Attach, PortForward) that answer a URL of the streaming server;
 * ReopenContainerLog beside them.
 */
import { InvalidArgumentError, NotImplementedError } from '../../errors';
import { ExecTimeoutError } from './errors';
import { AttachSession, capturedExecConfig, type OutputSink, type StreamName } from '../../pod/service';
import { podPhase } from '../../pod/types';
import { InvalidStreamingRequest } from './streaming';
import type { AttachRequest, ContainerIdRequest, ExecRequest, ExecSyncRequest, PortForwardRequest } from './messages';
import { need, type CriPods } from './records';
import type { CriRuntimeDeps, StreamingUrls } from './runtime-deps';

/** RuntimeService's exec, attach, port-forward and log-reopen calls. */
export class CriExec {
  constructor(
    private readonly deps: Pick<CriRuntimeDeps, 'pods' | 'streaming'>,
    private readonly cri: CriPods,
  ) {}

  /** ExecSync: the command's output and exit code; a timeout (seconds, 0: none) fails DEADLINE-like. */
  async execSync(req: ExecSyncRequest, signal: AbortSignal): Promise<object> {
    const r = await this.cri.settled(this.cri.container(req.container_id));
    need(req.cmd?.length, 'cmd');
    if (!this.deps.pods.isRunning(r.id)) throw new InvalidArgumentError(`container ${r.id} is not running`);
    const out: Record<StreamName, Buffer[]> = { stdout: [], stderr: [] };
    const sink: OutputSink = {
      write: (stream, data) => (out[stream].push(Buffer.from(data)), true),
      drain: () => Promise.resolve(),
      end: () => undefined,
    };
    const x = this.deps.pods.execCreate(r.id, capturedExecConfig(req.cmd));
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
      try {
        await Promise.race([started.finished, ...limits]);
      } catch (err) {
        // As containerd: the command is killed when its time is up (or the caller gave up).
        await this.deps.pods.execKill(x.id).catch(() => undefined);
        throw err;
      }
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
  async reopenContainerLog(req: ContainerIdRequest): Promise<object> {
    const r = await this.cri.settled(this.cri.container(req.container_id));
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
  async exec(req: ExecRequest): Promise<object> {
    const r = await this.cri.settled(this.cri.container(req.container_id));
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
  async attach(req: AttachRequest): Promise<object> {
    const r = await this.cri.settled(this.cri.container(req.container_id));
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
  async portForward(req: PortForwardRequest): Promise<object> {
    const sb = await this.cri.settled(this.cri.sandbox(req.pod_sandbox_id));
    if (podPhase(sb) !== 'running') throw new InvalidArgumentError(`pod sandbox ${sb.id} is not ready`);
    const s = this.streamingServer('PortForward');
    return this.url(() => s.getPortForwardUrl({ podSandboxId: sb.id, port: req.port ?? [] }));
  }
}
