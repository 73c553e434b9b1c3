/**
 * port-forward over a SPDY/3.1 connection (client-go's portforward, `kubectl port-forward`,
 * crictl port-forward). Each forwarded connection is a pair of streams sharing a `requestID`
 * header, an `error` stream and a `data` stream, both with a `port` header; the data stream
 * carries the TCP bytes and the error stream a message if forwarding failed. Many pairs share
 * one connection, which lasts until the client closes it.
 */
import { Duplex } from 'node:stream';
import { endWritable } from './session';
import { SpdyConnection, SpdyStream } from './spdy/connection';
import { RstStatus } from './spdy/framer';
import { StreamingBackend } from './types';

interface Pair {
  data?: SpdyStream;
  error?: SpdyStream;
  timer: NodeJS.Timeout;
}

/** The port a stream's `port` header names, or an error message. */
function parsePort(value: string | undefined): number | string {
  if (value === undefined || value === '') return '"port" header is required';
  if (!/^[0-9]+$/.test(value) || Number(value) > 65535) return `unable to parse "${value}" as a port`;
  if (Number(value) < 1) return `port "${value}" must be > 0`;
  return Number(value);
}

/** Serves one upgraded socket for a port-forward to `podSandboxId`. */
export async function servePortForwardSpdy(
  socket: Duplex,
  podSandboxId: string,
  backend: StreamingBackend,
  streamCreationTimeoutMs: number,
): Promise<void> {
  const conn = new SpdyConnection(socket, { server: true });
  const abort = new AbortController();
  const pairs = new Map<string, Pair>();
  const running = new Set<Promise<void>>();

  const forward = async (id: string, pair: Pair): Promise<void> => {
    const data = pair.data!;
    const error = pair.error!;
    const port = Number(data.header('port'));
    try {
      await backend.portForward(podSandboxId, port, data, abort.signal);
    } catch (e) {
      error.write(`error forwarding port ${port} to pod ${podSandboxId}, uid : ${(e as Error).message}`);
    }
    await Promise.all([endWritable(data), endWritable(error)]);
    pairs.delete(id);
  };

  conn.on('stream', (stream: SpdyStream) => {
    const port = parsePort(stream.header('port'));
    const type = stream.header('streamtype');
    if (typeof port === 'string' || (type !== 'error' && type !== 'data')) {
      stream.reset(RstStatus.REFUSED_STREAM);
      return;
    }
    // Old clients send no requestID: their error and data streams have consecutive odd ids.
    const id = stream.header('requestid') ?? String(type === 'error' ? stream.id : stream.id - 2);
    let pair = pairs.get(id);
    if (!pair) {
      const created: Pair = {
        timer: setTimeout(() => {
          created.error?.end(`timed out waiting for streams of request ${id}`);
          created.data?.reset();
          pairs.delete(id);
        }, streamCreationTimeoutMs),
      };
      pair = created;
      pairs.set(id, pair);
    }
    if (pair[type]) {
      pair.error?.write(`error processing stream for request ${id}: ${type} stream already assigned`);
      stream.reset(RstStatus.PROTOCOL_ERROR);
      return;
    }
    pair[type] = stream;
    if (type === 'error') stream.resume();
    const p = pair;
    stream.reply().then(
      () => {
        if (p.data && p.error && p.data.opened && stream === (type === 'data' ? p.data : p.error)) {
          // Both replies must be out before forwarding; the other stream's reply was queued first.
          Promise.all([p.data.opened, p.error.opened]).then(
            () => {
              clearTimeout(p.timer);
              const run = forward(id, p);
              running.add(run);
              run.finally(() => running.delete(run));
            },
            () => undefined,
          );
        }
      },
      () => undefined,
    );
  });

  await new Promise<void>((resolve) => conn.once('close', () => resolve()));
  abort.abort();
  for (const pair of pairs.values()) clearTimeout(pair.timer);
  await Promise.all([...running]);
}
