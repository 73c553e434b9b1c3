/**
 * The streaming backend over the pod layer: exec and attach through PodService (the same
 * processes and stream plumbing as `docker exec` and `docker attach`), port-forward as a TCP
 * connection to an address of the sandbox that the CRI front names.
 */
import { PassThrough, Writable } from 'node:stream';
import type { Duplex, Readable } from 'node:stream';
import { AttachSession, type OutputSink, type StreamName } from '../../../pod/service';
import type { PodService } from '../../../pod/service';
import { mainContainer } from '../../../pod/types';
import { forwardToTcp } from './tcp';
import { ResizeEvents, SessionStreams, StreamingBackend, StreamOptions } from './types';

/** How CRI ids map onto the pod layer; supplied by the CRI runtime service. */
export interface SandboxLocator {
  /**
   * The pod reference and the container in it (id or name) of a CRI container id; `container`
   * absent means the pod's main container.
   */
  locate(containerId: string): { pod: string; container?: string };
  /** The address at which the host reaches TCP ports of the sandbox (its pod IP). */
  sandboxAddress(podSandboxId: string): Promise<string>;
}

/** An OutputSink writing to the session's stdout/stderr writables, with their backpressure. */
function sinkFor(streams: SessionStreams): OutputSink {
  let blocked: Writable | undefined;
  return {
    write(stream: StreamName, data: Buffer): boolean {
      const w = stream === 'stdout' ? streams.stdout : streams.stderr;
      if (!w || w.destroyed || w.writableEnded) return true;
      const ok = w.write(data);
      if (!ok) blocked = w;
      return ok;
    },
    drain(): Promise<void> {
      const w = blocked;
      blocked = undefined;
      if (!w || !w.writableNeedDrain || streams.signal.aborted) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const done = (): void => {
          w.off('drain', done);
          w.off('close', done);
          streams.signal.removeEventListener('abort', done);
          resolve();
        };
        w.once('drain', done);
        w.once('close', done);
        streams.signal.addEventListener('abort', done, { once: true });
      });
    },
    end(): void {
      // The streaming server ends the streams once the backend's promise settles.
    },
  };
}

/**
 * The client's stdin as the pod layer's session input. The pod layer follows Docker: the end of
 * an attached client's input closes the process's stdin only for a StdinOnce process without a
 * TTY, and otherwise ends (detaches) that client's session, output included. The kubelet's
 * clients expect the output to go on until the process exits, so the end is passed on only
 * when it closes stdin (`closesStdin`); otherwise the input just stops. Returns the input and
 * a function that ends it (when the session is over).
 */
function sessionInput(stdin: Readable | undefined, closesStdin: boolean): [PassThrough | null, () => void] {
  if (!stdin) return [null, () => undefined];
  const input = new PassThrough();
  stdin.pipe(input, { end: closesStdin });
  return [input, () => input.end()];
}

/** Streams exec, attach and port-forward sessions to real pods. */
export class PodStreamingBackend implements StreamingBackend {
  constructor(
    private readonly pods: PodService,
    private readonly locator: SandboxLocator,
  ) {}

  async exec(
    containerId: string,
    cmd: string[],
    opts: StreamOptions,
    streams: SessionStreams,
    resize: ResizeEvents,
  ): Promise<number> {
    const { pod, container } = this.locator.locate(containerId);
    const x = this.pods.execCreate(pod, {
      args: cmd,
      env: [],
      workingDir: '',
      user: '',
      tty: opts.tty,
      attachStdin: opts.stdin,
      attachStdout: opts.stdout,
      attachStderr: opts.stderr,
      detachKeys: '',
      privileged: false,
      ...(container ? { container } : {}),
    });
    // An exec is StdinOnce: without a TTY the end of input closes its stdin.
    const [stdin, endInput] = sessionInput(streams.stdin, !opts.tty);
    const session = new AttachSession({
      stdin,
      stdout: opts.stdout,
      stderr: opts.stderr,
      sink: sinkFor(streams),
      detachKeys: Buffer.alloc(0),
    });
    resize.on('resize', (s) => void this.pods.execResize(x.id, s.height, s.width).catch(() => undefined));
    const onAbort = (): void => session.finish('client-gone');
    streams.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const started = await this.pods.execStart(x.id, session);
      await started.finished;
      const code = this.pods.execGet(x.id).exitCode;
      if (code === null) throw new Error('the process left no exit code');
      return code;
    } finally {
      streams.signal.removeEventListener('abort', onAbort);
      session.finish('exited');
      endInput();
    }
  }

  async attach(containerId: string, opts: StreamOptions, streams: SessionStreams, resize: ResizeEvents): Promise<void> {
    const { pod, container } = this.locator.locate(containerId);
    // The pod layer attaches to a pod's main process only (see docs/limitations.md).
    if (container) throw new Error(`attach is served for a pod's main container only, not ${container}`);
    this.pods.checkAttach?.(pod);
    const main = mainContainer(this.pods.get(pod)).spec;
    const [stdin, endInput] = sessionInput(streams.stdin, main.stdinOnce && !main.tty);
    resize.on('resize', (s) => void this.pods.resize(pod, s.height, s.width).catch(() => undefined));
    const session = this.pods.attach(pod, {
      stdin,
      stdout: opts.stdout,
      stderr: opts.stderr,
      sink: sinkFor(streams),
      detachKeys: Buffer.alloc(0),
      logs: false,
      stream: true,
    });
    const onAbort = (): void => session.finish('client-gone');
    streams.signal.addEventListener('abort', onAbort, { once: true });
    try {
      await session.ended;
    } finally {
      streams.signal.removeEventListener('abort', onAbort);
      endInput();
    }
  }

  async portForward(podSandboxId: string, port: number, stream: Duplex, signal: AbortSignal): Promise<void> {
    const host = await this.locator.sandboxAddress(podSandboxId);
    await forwardToTcp(stream, host, port, signal);
  }
}
