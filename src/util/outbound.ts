/**
 * Every HTTP(S) request the daemon sends out goes through here: registry pulls, pushes,
 * logins, token fetches and manifest lookups (src/storage/registry/http.ts), `docker import`
 * from a URL (src/storage/archive-image/import.ts) and `ADD <url>` in builds
 * (src/builder/remote.ts). One place gives them all the same timeouts and one off switch:
 *
 *  - connect: CONNECT_TIMEOUT_MS (30 s), the dial timeout of Go's http.DefaultTransport and of
 *    dockerd's registry transport (net.Dialer{Timeout: 30 * time.Second});
 *  - TLS handshake: TLS_HANDSHAKE_TIMEOUT_MS (10 s), Go's DefaultTransport and dockerd's
 *    registry transport (TLSHandshakeTimeout: 10 * time.Second);
 *  - idle: IDLE_TIMEOUT_MS (60 s) without a byte either way while a request is open, waiting
 *    for the answer's headers or reading its body. Go's transport has no such limit (a peer
 *    that accepts and then sends nothing holds a dockerd pull until TCP gives up, hours);
 *    60 s is what podvisor already allowed for response headers, and long enough for a
 *    registry behind a slow blob store;
 *  - keep-alive pool: a connection left idle between requests is closed after
 *    POOL_IDLE_TIMEOUT_MS (90 s), Go's DefaultTransport IdleConnTimeout.
 *
 * `abortAll` (daemon shutdown) destroys every request under way, with its answer, and closes
 * the pooled connections; later requests are refused at once. So no pull, push or download
 * outlives a shutdown, and none holds a connection to a registry afterwards.
 *
 * A timeout or abort destroys the request and its response with an error whose `code` says
 * which (OutboundTimeoutCode; shutdown: 'ESHUTDOWN'); the readers of the body see it.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { UnavailableError } from '../errors';

/** Connect timeout (Go's dial timeout in http.DefaultTransport and in dockerd's registry transport). */
export const CONNECT_TIMEOUT_MS = 30_000;
/** TLS handshake timeout (Go's http.DefaultTransport TLSHandshakeTimeout). */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Longest time without a byte either way while a request is open (headers awaited or body read). */
export const IDLE_TIMEOUT_MS = 60_000;
/** How long a kept-alive connection may sit unused in the pool (Go's IdleConnTimeout). */
export const POOL_IDLE_TIMEOUT_MS = 90_000;

/** The timeouts of one Outbound (all in ms). */
export interface OutboundTimeouts {
  connectMs: number;
  tlsHandshakeMs: number;
  idleMs: number;
  poolIdleMs: number;
}

/** The defaults above. */
export const DEFAULT_TIMEOUTS: OutboundTimeouts = {
  connectMs: CONNECT_TIMEOUT_MS,
  tlsHandshakeMs: TLS_HANDSHAKE_TIMEOUT_MS,
  idleMs: IDLE_TIMEOUT_MS,
  poolIdleMs: POOL_IDLE_TIMEOUT_MS,
};

/** The `code` of an error from a timeout: which limit was hit. */
export type OutboundTimeoutCode = 'ETIMEDOUT' | 'ETLSTIMEDOUT' | 'EIDLETIMEDOUT';

/** One outgoing request. */
export interface OutboundRequest {
  method?: string;
  url: string | URL;
  headers?: Record<string, string>;
  /** The request body; a stream is piped (its error destroys the request). */
  body?: Buffer | Readable;
  /** Skip TLS certificate verification (insecure registries). */
  insecureTls?: boolean;
  /** Abort the request (and its answer's body) when this fires. */
  signal?: AbortSignal;
}

/** A request that hit one of the timeouts; `code` says which. */
export class OutboundTimeoutError extends Error {
  constructor(
    message: string,
    readonly code: OutboundTimeoutCode,
  ) {
    super(message);
    this.name = 'OutboundTimeoutError';
  }
}

/**
 * The error of a timeout, worded as Go's net/http words it where it has a word for it (a
 * registry client shows dockerd's messages), with the limit that was hit.
 */
export function timeoutError(
  code: OutboundTimeoutCode,
  host: string,
  ms: number,
  answered: boolean,
): OutboundTimeoutError {
  switch (code) {
    case 'ETIMEDOUT':
      return new OutboundTimeoutError(`dial tcp ${host}: i/o timeout (no connection within ${ms / 1000} s)`, code);
    case 'ETLSTIMEDOUT':
      return new OutboundTimeoutError(`net/http: TLS handshake timeout (${host}, ${ms / 1000} s)`, code);
    case 'EIDLETIMEDOUT':
      return new OutboundTimeoutError(
        answered
          ? `read tcp ${host}: i/o timeout (no data for ${ms / 1000} s)`
          : `net/http: timeout awaiting response headers from ${host} (no data for ${ms / 1000} s)`,
        code,
      );
  }
}

/** The port a URL reaches (its own, else its scheme's). */
function hostPort(u: URL): string {
  return `${u.hostname.replace(/^\[|\]$/g, '')}:${u.port || (u.protocol === 'https:' ? '443' : '80')}`;
}

/** What watchConnect needs of a socket. */
export interface ConnectingSocket {
  connecting: boolean;
  once(event: 'connect' | 'secureConnect', f: () => void): unknown;
}

/**
 * Hold a new socket to the connect timeout and then (https) the TLS handshake timeout:
 * `fail` gets the timeout's error if either runs out. A socket from the pool (connected
 * already) is not watched. Returns the function that stops watching.
 */
export function watchConnect(
  socket: ConnectingSocket,
  isHttps: boolean,
  host: string,
  t: Pick<OutboundTimeouts, 'connectMs' | 'tlsHandshakeMs'>,
  fail: (err: OutboundTimeoutError) => void,
): () => void {
  if (!socket.connecting) return () => undefined;
  let timer: NodeJS.Timeout | undefined = setTimeout(
    () => fail(timeoutError('ETIMEDOUT', host, t.connectMs, false)),
    t.connectMs,
  );
  let stopped = false;
  socket.once('connect', () => {
    clearTimeout(timer);
    if (!isHttps || stopped) return;
    timer = setTimeout(() => fail(timeoutError('ETLSTIMEDOUT', host, t.tlsHandshakeMs, false)), t.tlsHandshakeMs);
    socket.once('secureConnect', () => clearTimeout(timer));
  });
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** A request under way: destroying it ends its answer too. */
interface InFlight {
  req: http.ClientRequest;
  res?: http.IncomingMessage;
}

/**
 * Sends requests with the timeouts above (see the module comment). The daemon uses the one
 * `outbound` instance; tests make their own with short timeouts.
 */
export class Outbound {
  private readonly agents: { http: http.Agent; https: https.Agent; insecure: https.Agent };
  private readonly inFlight = new Set<InFlight>();
  private closedWith: Error | undefined;

  constructor(readonly timeouts: OutboundTimeouts = DEFAULT_TIMEOUTS) {
    // `timeout` here is what Node applies to a pooled (free) socket: it is closed after that
    // long unused. A request in use gets the idle timeout instead (send()).
    const common = { keepAlive: true, maxSockets: 16, timeout: timeouts.poolIdleMs };
    this.agents = {
      http: new http.Agent(common),
      https: new https.Agent(common),
      insecure: new https.Agent({ ...common, rejectUnauthorized: false }),
    };
  }

  /** Requests under way now (tests, diagnostics). */
  get active(): number {
    return this.inFlight.size;
  }

  /**
   * Send one request; resolves with the answer once its headers are in (the body is left to
   * the caller, under the idle timeout until it ends). Rejects on a connection failure, a
   * timeout, the signal, or after abortAll.
   */
  send(r: OutboundRequest): Promise<http.IncomingMessage> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (r.signal?.aborted) return Promise.reject(abortReason(r.signal));
    const u = typeof r.url === 'string' ? new URL(r.url) : r.url;
    const isHttps = u.protocol === 'https:';
    const agent = isHttps ? (r.insecureTls ? this.agents.insecure : this.agents.https) : this.agents.http;
    const headers: Record<string, string> = { ...r.headers };
    if (Buffer.isBuffer(r.body)) headers['Content-Length'] = String(r.body.length);
    const host = hostPort(u);
    return new Promise((resolve, reject) => {
      const req = (isHttps ? https : http).request(u, { method: r.method ?? 'GET', headers, agent });
      const entry: InFlight = { req };
      this.inFlight.add(entry);
      let stopConnectWatch = () => undefined as void;
      const fail = (err: Error) => {
        stopConnectWatch();
        // The answer's reader sees the error (a plain req.destroy would show it "aborted").
        if (entry.res && !entry.res.destroyed) entry.res.destroy(err);
        req.destroy(err);
      };
      const done = () => {
        stopConnectWatch();
        this.inFlight.delete(entry);
        r.signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => fail(abortReason(r.signal!));
      r.signal?.addEventListener('abort', onAbort, { once: true });
      req.on('socket', (socket: Socket) => {
        stopConnectWatch = watchConnect(socket, isHttps, host, this.timeouts, fail);
      });
      // The socket's inactivity timer: reset by every byte either way, until the answer ends.
      req.setTimeout(this.timeouts.idleMs, () =>
        fail(timeoutError('EIDLETIMEDOUT', host, this.timeouts.idleMs, entry.res !== undefined)),
      );
      req.on('response', (res) => {
        entry.res = res;
        res.once('close', done);
        resolve(res);
      });
      req.on('error', (err) => {
        if (!entry.res) done();
        reject(err);
      });
      req.once('close', () => {
        if (!entry.res) done();
      });
      if (r.body === undefined) req.end();
      else if (Buffer.isBuffer(r.body)) req.end(r.body);
      else {
        r.body.on('error', (e) => req.destroy(e));
        r.body.pipe(req);
      }
    });
  }

  /**
   * Daemon shutdown: destroy every request under way (and its answer) with `reason`, close
   * the pooled connections, and refuse every later request with it.
   */
  abortAll(
    reason: Error = Object.assign(new UnavailableError('the daemon is shutting down'), { code: 'ESHUTDOWN' }),
  ): void {
    this.closedWith = reason;
    for (const e of [...this.inFlight]) {
      if (e.res && !e.res.destroyed) e.res.destroy(reason);
      e.req.destroy(reason);
    }
    this.inFlight.clear();
    for (const a of Object.values(this.agents)) a.destroy();
  }
}

function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new UnavailableError(String(r ?? 'the request was aborted'));
}

/** The daemon's outgoing requests (see the module comment). */
export const outbound = new Outbound();
