/**
 * One exec or attach session, whatever the transport: the streams the backend uses, and how
 * the session ends (output streams closed, the status on the error stream, the connection
 * closed). runSession drives the backend over it and reports as the kubelet does.
 */
import { Readable, Writable } from 'node:stream';
import { exitCodeStatus, internalErrorStatus, KubeStatus, successStatus } from './status';
import { AttachRequest, ExecRequest, ResizeEvents, StreamingBackend, StreamOptions } from './types';

/** The transport side of a session (SPDY or websocket). */
export interface RemoteSession {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  resize: ResizeEvents;
  signal: AbortSignal;
  /** Ends the output streams, reports `status` on the error stream and closes the connection. */
  finish(status: KubeStatus): Promise<void>;
}

/** What a token stood for: an exec or an attach. */
export type RemoteCommand = { kind: 'exec'; request: ExecRequest } | { kind: 'attach'; request: AttachRequest };

/** The stream options of a request. */
export function streamOptions(req: ExecRequest | AttachRequest): StreamOptions {
  return { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, tty: req.tty };
}

/** Runs the command (or attach) over the session and ends the session with its status. */
export async function runSession(
  session: RemoteSession,
  command: RemoteCommand,
  backend: StreamingBackend,
): Promise<void> {
  const streams = { stdin: session.stdin, stdout: session.stdout, stderr: session.stderr, signal: session.signal };
  let status: KubeStatus;
  if (command.kind === 'exec') {
    const req = command.request;
    try {
      const code = await backend.exec(req.containerId, req.cmd, streamOptions(req), streams, session.resize);
      status = code === 0 ? successStatus() : exitCodeStatus(req.cmd, code);
    } catch (e) {
      status = internalErrorStatus(`error executing command in container: ${(e as Error).message}`);
    }
  } else {
    const req = command.request;
    try {
      await backend.attach(req.containerId, streamOptions(req), streams, session.resize);
      status = successStatus();
    } catch (e) {
      status = internalErrorStatus(`error attaching to container: ${(e as Error).message}`);
    }
  }
  await session.finish(status);
}

/** Ends a writable and resolves once its data is handed on (or it could not be). */
export function endWritable(w: Writable | undefined): Promise<void> {
  if (!w || w.writableFinished || w.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    w.once('error', () => resolve());
    w.end(() => resolve());
  });
}
