/**
 * The API server's limits against hostile or broken clients (docs/limitations.md, "Request
 * limits"), and the Docker-format answers when one is hit:
 *
 *  - header block: at most MAX_HEADER_BYTES (431), sent within HEADERS_TIMEOUT_MS (408,
 *    the slow-loris guard). There is no whole-request timeout: a hijacked stream or a
 *    streamed body (attach stdin) may last for hours, and streams served to the client
 *    (logs -f, events, wait, pull progress) are not request-side at all;
 *  - JSON bodies: at most MAX_JSON_BODY bytes (413), each chunk within BODY_IDLE_MS and the
 *    whole body within BODY_TOTAL_MS of the first byte (408);
 *  - a request whose body the handler did not read to the end is answered with
 *    `Connection: close`, so a client cannot keep the connection busy with an endless body;
 *  - malformed HTTP (bad request line, broken chunked encoding) gets 400 with {"message"}.
 */
import type * as http from 'node:http';
import type * as https from 'node:https';
import type { Duplex } from 'node:stream';
import type { RequestHandler } from 'express';
import { InvalidArgumentError, ResourceExhaustedError } from '../../errors';
import { PayloadTooLargeError, RequestTimeoutError } from '../http-status';

/** Largest request header block (Node's maxHeaderSize). X-Registry-Auth tokens fit well. */
export const MAX_HEADER_BYTES = 64 * 1024;
/** Time allowed to send the request line and headers. */
export const HEADERS_TIMEOUT_MS = 20_000;
/** How often Node checks the header deadline. */
const CHECK_INTERVAL_MS = 1_000;
/** Largest JSON body. dockerd has none; a create body with a big Env is far below it. */
export const MAX_JSON_BODY = 4 * 1024 * 1024;
/** Longest pause between two chunks of a JSON body. */
export const BODY_IDLE_MS = 10_000;
/** Longest time to receive a whole JSON body. */
export const BODY_TOTAL_MS = 60_000;

// The transport's own errors (413, 408) live with the HTTP status table; re-exported here,
// where the limits that throw them are.
export { PayloadTooLargeError, RequestTimeoutError };

function clientErrorAnswer(err: NodeJS.ErrnoException): [number, string, string] {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return [431, 'Request Header Fields Too Large', `request headers larger than ${MAX_HEADER_BYTES} bytes`];
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return [413, 'Payload Too Large', 'chunk extensions too large'];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, 'Request Timeout', `request headers not received within ${HEADERS_TIMEOUT_MS / 1000} s`];
    default:
      return [400, 'Bad Request', `malformed HTTP request: ${err.message}`];
  }
}

/**
 * Apply the limits to an API server (http or https), before it listens. Node parses HTTP
 * before the app sees anything: its errors are answered here in Docker's {"message"} format.
 */
export function applyServerLimits(server: http.Server | https.Server): void {
  // Read by Node when a connection opens / when the server starts listening.
  const tunable = server as (http.Server | https.Server) & {
    maxHeaderSize: number;
    connectionsCheckingInterval: number;
  };
  tunable.maxHeaderSize = MAX_HEADER_BYTES;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = 0;
  tunable.connectionsCheckingInterval = CHECK_INTERVAL_MS;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex & { bytesWritten?: number }) => {
    if (err.code === 'ECONNRESET' || !socket.writable || (socket.bytesWritten ?? 0) > 0) {
      socket.destroy();
      return;
    }
    const [status, reason, message] = clientErrorAnswer(err);
    const body = JSON.stringify({ message }) + '\n';
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}

/** Routes whose request body is a stream of stdin (no stall limit). */
const STREAMED_BODY = /\/(attach|start)$/;

/**
 * Express middleware, first in the chain:
 *  - when the answer starts before the request body was read to its end, the connection
 *    closes after it (Node would otherwise read and discard an endless body);
 *  - a body that is being read but stops arriving for `idleMs` (a client that declared
 *    more than it sends, a huge chunk size) is answered 408 and the connection closed,
 *    whoever reads it (our reader, express.json on a route, a pipe, or a reader waiting on
 *    'readable' such as the compression sniffing of docker load and import). A body nobody
 *    reads yet is not the client's fault and is left alone, and so are stdin bodies (attach,
 *    exec start).
 */
export function closeUnreadBodiesAfter(idleMs: number): RequestHandler {
  return (req, res, next) => {
    const writeHead = res.writeHead;
    res.writeHead = function (this: http.ServerResponse, ...args: unknown[]) {
      if (!req.complete) this.shouldKeepAlive = false;
      return (writeHead as (...a: unknown[]) => http.ServerResponse).apply(this, args);
    } as typeof res.writeHead;
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (hasBody && !STREAMED_BODY.test(req.path)) {
      let last = req.socket.bytesRead;
      const timer = setInterval(() => {
        if (req.complete || req.destroyed) return clearInterval(timer);
        const now = req.socket.bytesRead;
        if (now === last && isBeingRead(req)) {
          clearInterval(timer);
          if (!res.headersSent) {
            res.shouldKeepAlive = false;
            res.status(408).setHeader('Content-Type', 'application/json');
            res.end(JSON.stringify({ message: `no request body data for ${idleMs / 1000} s` }) + '\n', () =>
              req.socket.destroy(),
            );
          } else req.socket.destroy();
        }
        last = now;
      }, idleMs);
      timer.unref();
      res.once('close', () => clearInterval(timer));
    }
    next();
  };
}

/** closeUnreadBodiesAfter with the daemon's BODY_IDLE_MS. */
export const closeUnreadBodies: RequestHandler = closeUnreadBodiesAfter(BODY_IDLE_MS);

/**
 * Whether something consumes the request body now: it flows (a pipe, 'data' listeners) or a
 * reader waits on 'readable' (paused mode, read() until null). Either way, bytes that stop
 * arriving leave that reader waiting on the client.
 */
function isBeingRead(req: http.IncomingMessage): boolean {
  return req.readableFlowing === true || req.listenerCount('readable') > 0;
}

/**
 * Read a request body within the limits: MAX_JSON_BODY bytes, BODY_IDLE_MS between chunks,
 * BODY_TOTAL_MS in all. A client that closes mid-body gets a 400 (it will not read it).
 */
export function readBoundedBody(req: http.IncomingMessage, max = MAX_JSON_BODY): Promise<Buffer> {
  if (req.complete && req.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let idle: NodeJS.Timeout | undefined;
    const total = setTimeout(
      () => fail(new RequestTimeoutError(`request body not received within ${BODY_TOTAL_MS / 1000} s`)),
      BODY_TOTAL_MS,
    );
    const arm = () => {
      if (idle) clearTimeout(idle);
      idle = setTimeout(
        () => fail(new RequestTimeoutError(`no request body data for ${BODY_IDLE_MS / 1000} s`)),
        BODY_IDLE_MS,
      );
    };
    const cleanup = () => {
      clearTimeout(total);
      if (idle) clearTimeout(idle);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
      req.off('close', onClose);
    };
    const fail = (err: Error) => {
      cleanup();
      // Stop reading; the answer goes out with Connection: close (closeUnreadBodies).
      req.pause();
      reject(err);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > max) return fail(new PayloadTooLargeError(`request body larger than ${max} bytes`));
      chunks.push(c);
      arm();
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onError = () => fail(new InvalidArgumentError('connection closed before the request body was complete'));
    const onAborted = onError;
    const onClose = () => {
      if (!req.complete) onError();
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
    req.on('close', onClose);
    arm();
  });
}

/** Open attach/exec streams allowed per container at once. */
export const MAX_SESSIONS_PER_TARGET = 64;
/** Open attach/exec streams allowed in all. */
export const MAX_SESSIONS_TOTAL = 1024;

/** Counts open attach/exec sessions per target and in all; refuses past the limits. */
export class SessionLimiter {
  private readonly open = new Map<string, number>();
  private total = 0;

  constructor(
    private readonly perTarget = MAX_SESSIONS_PER_TARGET,
    private readonly maxTotal = MAX_SESSIONS_TOTAL,
  ) {}

  /** Sessions open now (all targets). */
  get size(): number {
    return this.total;
  }

  /** Take a session for `target`; throws ResourceExhaustedError past a limit. Returns its release (idempotent). */
  acquire(target: string): () => void {
    const n = this.open.get(target) ?? 0;
    if (n >= this.perTarget)
      throw new ResourceExhaustedError(
        `too many open attach/exec sessions for ${target} (limit ${this.perTarget}); close some and retry`,
      );
    if (this.total >= this.maxTotal)
      throw new ResourceExhaustedError(
        `too many open attach/exec sessions (limit ${this.maxTotal}); close some and retry`,
      );
    this.open.set(target, n + 1);
    this.total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.open.get(target) ?? 1) - 1;
      if (left > 0) this.open.set(target, left);
      else this.open.delete(target);
    };
  }
}
