/**
 * Interactive streams, through the Docker API on the same socket (the pod's main container
 * is a Docker container whose id is the pod's): attach to a pod, exec in it, and the output
 * of `run`. Without a TTY Docker multiplexes stdout and stderr in frames (8-byte header:
 * stream, 0, 0, 0, big-endian length); with one the stream is raw.
 */
import { spawnSync } from 'node:child_process';
import type { Duplex } from 'node:stream';
import type { Client } from './client';

/** Split Docker's multiplexed frames onto stdout and stderr. */
export class Demux {
  private buf: Buffer = Buffer.alloc(0);

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly err: NodeJS.WritableStream,
  ) {}

  /** Feed bytes as they come. */
  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + len) break;
      const payload = this.buf.subarray(8, 8 + len);
      (this.buf[0] === 2 ? this.err : this.out).write(payload);
      this.buf = this.buf.subarray(8 + len);
    }
  }
}

/**
 * The local terminal in raw mode, or back. Node's raw mode keeps output post-processing
 * (ONLCR), which would turn the remote terminal's "\r\n" into "\r\r\n": stty turns it off
 * as well, as the docker CLI does (a failing stty costs only that).
 */
function setRaw(on: boolean): void {
  process.stdin.setRawMode(on);
  spawnSync('stty', [on ? '-opost' : 'opost'], { stdio: ['inherit', 'ignore', 'ignore'] });
}

/** Options of a session: a TTY (raw), stdin attached. */
export interface SessionOptions {
  tty: boolean;
  stdin: boolean;
}

/**
 * Pipe a hijacked socket to this process's stdio until the daemon closes it. With a TTY and
 * a terminal on stdin, the terminal is put in raw mode meanwhile.
 */
export function pipeSession(
  sock: Duplex,
  o: SessionOptions,
  onResize?: (rows: number, cols: number) => void,
): Promise<void> {
  return new Promise((resolve) => {
    const demux = o.tty ? undefined : new Demux(process.stdout, process.stderr);
    sock.on('data', (c: Buffer) => (demux ? demux.push(c) : process.stdout.write(c)));
    const raw = o.tty && o.stdin && process.stdin.isTTY;
    if (raw) setRaw(true);
    const resize = () => onResize?.(process.stdout.rows ?? 24, process.stdout.columns ?? 80);
    if (o.tty && process.stdout.isTTY) {
      resize();
      process.stdout.on('resize', resize);
    }
    const onIn = (c: Buffer) => sock.write(c);
    const onEnd = () => {
      // Half-close: the process sees the end of its input and the output goes on.
      (sock as unknown as { end(): void }).end();
    };
    if (o.stdin) {
      process.stdin.on('data', onIn);
      process.stdin.once('end', onEnd);
    }
    const done = () => {
      if (raw) setRaw(false);
      process.stdin.off('data', onIn);
      process.stdin.off('end', onEnd);
      process.stdin.pause();
      process.stdout.off('resize', resize);
      resolve();
    };
    sock.once('close', done);
    sock.once('end', () => sock.destroy());
    sock.once('error', () => sock.destroy());
  });
}

/**
 * Attach to a pod's main container: resolves once the daemon has taken the session (a
 * session taken before the pod starts is bound at its start, so nothing of its output is
 * missed) with a promise of the session's end (when its process ends or the daemon closes it),
 * and `close` to end it from this side (a start that failed: nothing will come).
 */
export async function openAttach(
  c: Client,
  podId: string,
  o: SessionOptions,
): Promise<{ ended: Promise<void>; close(): void }> {
  const q = `stream=1&stdout=1&stderr=1${o.stdin ? '&stdin=1' : ''}`;
  const sock = await c.hijack(`/v1.41/containers/${podId}/attach?${q}`);
  return {
    close: () => sock.destroy(),
    ended: pipeSession(
      sock,
      o,
      (rows, cols) =>
        void c.json('POST', `/v1.41/containers/${podId}/resize?h=${rows}&w=${cols}`).catch(() => undefined),
    ),
  };
}

/** Attach to a pod's main container until the session ends. */
export async function attachPod(c: Client, podId: string, o: SessionOptions): Promise<void> {
  await (
    await openAttach(c, podId, o)
  ).ended;
}

/** Wait for a pod's main container to exit; its exit code. */
export async function waitPod(c: Client, podId: string): Promise<number> {
  const r = await c.json<{ StatusCode: number }>('POST', `/v1.41/containers/${podId}/wait`);
  return r.StatusCode;
}

/** Options of `exec`. */
export interface ExecOptions {
  detach: boolean;
  tty: boolean;
  interactive: boolean;
  /** The pod's container (name in the pod file, or id); default the main one. */
  container?: string;
}

/** Run a command in a running pod's main container (or `o.container`); its exit code (0 when detached). */
export async function execIn(c: Client, podId: string, cmd: string[], o: ExecOptions): Promise<number> {
  // A container other than the main one is named through the native API (Docker's exec has no such field).
  const Id = o.container
    ? (
        await c.json<{ id: string }>('POST', `/v1/pods/${podId}/exec`, {
          command: cmd,
          container: o.container,
          tty: o.tty,
          stdin: o.interactive,
          detach: o.detach,
        })
      ).id
    : (
        await c.json<{ Id: string }>('POST', `/v1.41/containers/${podId}/exec`, {
          AttachStdin: o.interactive && !o.detach,
          AttachStdout: !o.detach,
          AttachStderr: !o.detach,
          Tty: o.tty,
          Cmd: cmd,
        })
      ).Id;
  if (o.detach) {
    await c.json('POST', `/v1.41/exec/${Id}/start`, { Detach: true, Tty: o.tty });
    return 0;
  }
  const sock = await c.hijack(`/v1.41/exec/${Id}/start`, { Detach: false, Tty: o.tty });
  await pipeSession(
    sock,
    { tty: o.tty, stdin: o.interactive },
    (rows, cols) => void c.json('POST', `/v1.41/exec/${Id}/resize?h=${rows}&w=${cols}`).catch(() => undefined),
  );
  const info = await c.json<{ ExitCode: number | null }>('GET', `/v1.41/exec/${Id}/json`);
  return info.ExitCode ?? 0;
}
