/**
 * exec and attach over a SPDY/3.1 connection (client-go's remotecommand SPDY executor, crictl,
 * the kubelet's proxy). The client opens one stream per standard stream, each named by its
 * `streamType` header, plus `error` and (TTY, v3 and later) `resize`; the server accepts them all,
 * waits until it has every stream the request asks for, then runs the session.
 */
import { Duplex } from 'node:stream';
import { ResizeDecoder } from './resize';
import { endWritable, RemoteCommand, RemoteSession, runSession } from './session';
import { SpdyConnection, SpdyStream } from './spdy/connection';
import { encodeStatus, KubeStatus } from './status';
import { ResizeEvents, StreamingBackend } from './types';

type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';
const STREAM_TYPES: readonly string[] = ['error', 'stdin', 'stdout', 'stderr', 'resize'];

/** Serves one upgraded socket for `command`, negotiated to `protocol`. */
export async function serveRemoteCommandSpdy(
  socket: Duplex,
  protocol: string,
  command: RemoteCommand,
  backend: StreamingBackend,
  streamCreationTimeoutMs: number,
): Promise<void> {
  const req = command.request;
  const conn = new SpdyConnection(socket, { server: true });
  const resizing = req.tty && (protocol === 'v4.channel.k8s.io' || protocol === 'v3.channel.k8s.io');
  const expected = 1 + Number(req.stdin) + Number(req.stdout) + Number(req.stderr) + Number(resizing);
  const got = new Map<StreamType, SpdyStream>();
  const abort = new AbortController();
  conn.on('close', () => abort.abort());

  const complete = await new Promise<boolean>((resolve) => {
    let accepted = 0;
    const timer = setTimeout(() => resolve(false), streamCreationTimeoutMs);
    conn.on('close', () => {
      clearTimeout(timer);
      resolve(false);
    });
    conn.on('stream', (stream: SpdyStream) => {
      const type = stream.header('streamtype') ?? '';
      // As the kubelet: every stream is accepted; those of unknown type, or that repeat a type,
      // are not counted and get nothing.
      const wanted = STREAM_TYPES.includes(type) && !got.has(type as StreamType);
      if (wanted) got.set(type as StreamType, stream);
      stream.reply().then(
        () => {
          if (wanted && ++accepted === expected) {
            clearTimeout(timer);
            resolve(true);
          }
        },
        () => undefined,
      );
    });
  });
  if (!complete) {
    await conn.close();
    return;
  }

  const resize = new ResizeEvents();
  const resizeStream = got.get('resize');
  if (resizeStream) {
    const decoder = new ResizeDecoder(resize);
    resizeStream.on('data', (c: Buffer) => decoder.push(c));
    resizeStream.on('end', () => decoder.end());
  }
  // Streams the server only writes: drain what a client might send on them.
  for (const t of ['error', 'stdout', 'stderr'] as const) got.get(t)?.resume();
  const errorStream = got.get('error');
  const json = protocol === 'v4.channel.k8s.io';

  const session: RemoteSession = {
    stdin: req.stdin ? got.get('stdin') : undefined,
    stdout: req.stdout ? got.get('stdout') : undefined,
    stderr: req.stderr ? got.get('stderr') : undefined,
    resize,
    signal: abort.signal,
    finish: async (status: KubeStatus) => {
      await Promise.all([endWritable(got.get('stdout')), endWritable(got.get('stderr'))]);
      const bytes = encodeStatus(status, json);
      if (errorStream && bytes) errorStream.write(bytes);
      await endWritable(errorStream);
      await Promise.all([endWritable(got.get('stdin')), endWritable(resizeStream)]);
      await conn.close();
    },
  };
  await runSession(session, command, backend);
}
