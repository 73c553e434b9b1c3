/**
 * The streaming server's contract with the rest of the daemon: the requests the CRI's Exec,
 * Attach and PortForward RPCs hand in, and the backend that carries out a session once a client
 * has connected to the URL it was given.
 */
import { EventEmitter } from 'node:events';
import { Duplex, Readable, Writable } from 'node:stream';

/** A CRI ExecRequest (runtime.v1), in camel case. */
export interface ExecRequest {
  containerId: string;
  cmd: string[];
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** A CRI AttachRequest (runtime.v1), in camel case. */
export interface AttachRequest {
  containerId: string;
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** A CRI PortForwardRequest (runtime.v1), in camel case. */
export interface PortForwardRequest {
  podSandboxId: string;
  port: number[];
}

/** Which standard streams a session has, and whether it is a terminal. */
export interface StreamOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** A terminal size, as the client's resize stream sends it ({"Width":..,"Height":..}). */
export interface TerminalSize {
  width: number;
  height: number;
}

/**
 * The streams of one exec or attach session. Those not asked for are absent. The backend reads
 * stdin until it ends (the client closed it), writes stdout/stderr, and never ends them itself:
 * the server does that once the backend's promise settles. `signal` aborts when the client goes
 * away; an attach ends then, an exec may go on (as with the kubelet) but its output is dropped.
 */
export interface SessionStreams {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  signal: AbortSignal;
}

/**
 * Terminal resize events of a TTY session: `resize` with a TerminalSize, in order; `end` when the
 * client closed its resize stream. Events are not buffered: a backend listens before it first
 * awaits anything (the client usually sends the initial size at once).
 */
export class ResizeEvents extends EventEmitter<{ resize: [TerminalSize]; end: [] }> {}

/**
 * What the streaming server needs from the runtime. Its errors are reported to the client on the
 * session's error stream (as the kubelet does, an InternalError Status), never thrown further.
 */
export interface StreamingBackend {
  /**
   * Runs `cmd` in the container with the session's streams and resolves with its exit code,
   * after all of its output has been written to the streams.
   */
  exec(
    containerId: string,
    cmd: string[],
    opts: StreamOptions,
    streams: SessionStreams,
    resize: ResizeEvents,
  ): Promise<number>;
  /** Joins the container's main process streams; resolves when it exits or the client left. */
  attach(containerId: string, opts: StreamOptions, streams: SessionStreams, resize: ResizeEvents): Promise<void>;
  /**
   * Connects `stream` to TCP `port` inside the sandbox: the client's bytes are readable from it,
   * and what is written to it goes to the client. Resolves once both directions are done; the
   * server ends the stream afterwards. A rejection's message goes to the client's error stream.
   */
  portForward(podSandboxId: string, port: number, stream: Duplex, signal: AbortSignal): Promise<void>;
}
