/**
 * The CRI streaming server: where the URLs of the Exec, Attach and PortForward RPCs point.
 *
 * The runtime service calls getExecUrl / getAttachUrl / getPortForwardUrl with the RPC's request;
 * each stores it under a one-time token and returns http(s)://ADDRESS/{exec,attach,portforward}/TOKEN.
 * The client (kubelet, crictl, kubectl through the API server) connects there and upgrades the
 * connection, to SPDY/3.1 or to a websocket; the server then runs the session through the
 * StreamingBackend. Unknown, used or expired tokens get 404, as from the kubelet's server.
 *
 * Plain HTTP is served on loopback addresses only; any other address needs a TLS certificate and
 * key (the URLs carry no credential but the token).
 */
import { EventEmitter } from 'node:events';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket } from 'ws';
import {
  isWebSocketRequest,
  negotiateSpdy,
  negotiateWebSocket,
  NegotiationError,
  PORTFORWARD_SPDY_PROTOCOLS,
  PORTFORWARD_WS_PROTOCOLS,
  REMOTECOMMAND_SPDY_PROTOCOLS,
  REMOTECOMMAND_WS_PROTOCOLS,
} from './negotiate';
import { servePortForwardSpdy } from './portforward-spdy';
import { servePortForwardWs } from './portforward-ws';
import { serveRemoteCommandSpdy } from './remotecommand-spdy';
import { serveRemoteCommandWs } from './remotecommand-ws';
import { RemoteCommand } from './session';
import { TokenCache, TokenKind } from './tokens';
import { AttachRequest, ExecRequest, PortForwardRequest, StreamingBackend } from './types';

/** A streaming request the CRI must refuse with INVALID_ARGUMENT. */
export class InvalidStreamingRequest extends Error {}

/** Options of a StreamingServer. */
export interface StreamingServerOptions {
  /** host:port to listen on (default 127.0.0.1:0: a free loopback port). IPv6 as [::1]:PORT. */
  address?: string;
  /** PEM certificate and key: serve HTTPS. Required for a non-loopback address. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** How long a URL stays valid, in ms (default 60 s, the kubelet's). */
  tokenTtlMs?: number;
  /** How long a SPDY client has to open its streams, in ms (default 30 s, the kubelet's). */
  streamCreationTimeoutMs?: number;
}

type Stored =
  | { kind: 'exec'; request: ExecRequest }
  | { kind: 'attach'; request: AttachRequest }
  | { kind: 'portforward'; request: PortForwardRequest };

/** Splits "host:port" / "[v6]:port"; throws on anything else. */
export function parseStreamAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(address);
  if (!m || Number(m[3]) > 65535) {
    throw new InvalidStreamingRequest(`invalid CRI streaming address "${address}": want HOST:PORT`);
  }
  return { host: m[1] ?? m[2], port: Number(m[3]) };
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  return host === '::1';
}

const PATH = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]+)$/;

/** The CRI streaming server; see the module comment. */
export class StreamingServer extends EventEmitter {
  private readonly tokens: TokenCache<Stored>;
  private readonly server: http.Server | https.Server;
  /** The subprotocol chosen for each websocket upgrade in flight ('' for none). */
  private readonly chosen = new WeakMap<http.IncomingMessage, string>();
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: 16 * 1024 * 1024,
    handleProtocols: (_offered: Set<string>, req: http.IncomingMessage) => this.chosen.get(req) || false,
  });
  private readonly sockets = new Set<Duplex>();
  private readonly host: string;
  private readonly port: number;
  private readonly streamCreationTimeoutMs: number;
  private baseUrl: string | undefined;

  constructor(
    private readonly backend: StreamingBackend,
    private readonly opts: StreamingServerOptions = {},
  ) {
    super();
    const { host, port } = parseStreamAddress(opts.address ?? '127.0.0.1:0');
    if (!opts.tls && !isLoopback(host)) {
      throw new InvalidStreamingRequest(
        `the CRI streaming address ${opts.address} is not a loopback address: serving it needs a TLS certificate and key`,
      );
    }
    this.host = host;
    this.port = port;
    this.tokens = new TokenCache({ ttlMs: opts.tokenTtlMs });
    this.streamCreationTimeoutMs = opts.streamCreationTimeoutMs ?? 30_000;
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => this.onRequest(req, res);
    this.server = opts.tls
      ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, onRequest)
      : http.createServer(onRequest);
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onUpgrade(req, socket, head),
    );
    this.server.on('connection', (s: net.Socket) => this.track(s));
    this.server.on('secureConnection', (s: net.Socket) => this.track(s));
  }

  /** Starts listening; the URLs use the port actually bound. */
  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, this.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const addr = this.server.address() as net.AddressInfo;
    const host = net.isIPv6(addr.address) ? `[${addr.address}]` : addr.address;
    this.baseUrl = `${this.opts.tls ? 'https' : 'http'}://${host}:${addr.port}`;
  }

  /** Stops listening and drops every session. */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The base URL (scheme://host:port), once started. */
  get url(): string {
    if (!this.baseUrl) throw new Error('the streaming server is not started');
    return this.baseUrl;
  }

  /** Exec: validates the request (as the kubelet's server) and returns its one-time URL. */
  getExecUrl(req: ExecRequest): string {
    if (!req.containerId) throw new InvalidStreamingRequest('missing required container_id');
    if (!req.cmd || req.cmd.length === 0) throw new InvalidStreamingRequest('missing required cmd');
    checkStreams(req);
    return this.urlFor('exec', { kind: 'exec', request: req });
  }

  /** Attach: validates the request and returns its one-time URL. */
  getAttachUrl(req: AttachRequest): string {
    if (!req.containerId) throw new InvalidStreamingRequest('missing required container_id');
    checkStreams(req);
    return this.urlFor('attach', { kind: 'attach', request: req });
  }

  /** PortForward: validates the request and returns its one-time URL. */
  getPortForwardUrl(req: PortForwardRequest): string {
    if (!req.podSandboxId) throw new InvalidStreamingRequest('missing required pod_sandbox_id');
    for (const p of req.port ?? []) {
      if (!Number.isInteger(p) || p < 1 || p > 65535) throw new InvalidStreamingRequest(`invalid port ${p}`);
    }
    return this.urlFor('portforward', { kind: 'portforward', request: req });
  }

  private urlFor(kind: TokenKind, stored: Stored): string {
    return `${this.url}/${kind}/${this.tokens.insert(kind, stored)}`;
  }

  private track(s: Duplex): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
  }

  /** Resolves the path to the stored request (consuming the token), or the HTTP error to answer. */
  private lookup(req: http.IncomingMessage): Stored | NegotiationError {
    const url = new URL(req.url ?? '/', 'http://x');
    const m = PATH.exec(url.pathname);
    if (!m) return new NegotiationError(404, '404 page not found');
    if (req.method !== 'GET' && req.method !== 'POST') return new NegotiationError(405, 'Method Not Allowed');
    const stored = this.tokens.consume(m[1] as TokenKind, m[2]);
    return stored ?? new NegotiationError(404, '404 page not found');
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    // Not an upgrade: answered the way the kubelet answers it, with an error.
    const stored = this.lookup(req);
    let err: NegotiationError;
    if (stored instanceof NegotiationError) err = stored;
    else {
      try {
        negotiateSpdy(
          req.headers,
          stored.kind === 'portforward' ? PORTFORWARD_SPDY_PROTOCOLS : REMOTECOMMAND_SPDY_PROTOCOLS,
        );
        err = new NegotiationError(400, 'unable to upgrade: missing upgrade headers in request');
      } catch (e) {
        err = e as NegotiationError;
      }
    }
    res.writeHead(err.status, { 'Content-Type': 'text/plain; charset=utf-8', ...err.headers });
    res.end(`${err.message}\n`);
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const stored = this.lookup(req);
    if (stored instanceof NegotiationError) return rejectRaw(socket, stored);
    try {
      if (isWebSocketRequest(req.headers)) this.upgradeWebSocket(req, socket, head, stored);
      else this.upgradeSpdy(req, socket, head, stored);
    } catch (e) {
      if (e instanceof NegotiationError) return rejectRaw(socket, e);
      rejectRaw(socket, new NegotiationError(500, (e as Error).message));
    }
  }

  private upgradeSpdy(req: http.IncomingMessage, socket: Duplex, head: Buffer, stored: Stored): void {
    const protocol = negotiateSpdy(
      req.headers,
      stored.kind === 'portforward' ? PORTFORWARD_SPDY_PROTOCOLS : REMOTECOMMAND_SPDY_PROTOCOLS,
    );
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Connection: Upgrade\r\n' +
        'Upgrade: SPDY/3.1\r\n' +
        `X-Stream-Protocol-Version: ${protocol}\r\n\r\n`,
    );
    if (head.length > 0) socket.unshift(head);
    const done =
      stored.kind === 'portforward'
        ? servePortForwardSpdy(socket, stored.request.podSandboxId, this.backend, this.streamCreationTimeoutMs)
        : serveRemoteCommandSpdy(socket, protocol, stored as RemoteCommand, this.backend, this.streamCreationTimeoutMs);
    this.settle(done);
  }

  private upgradeWebSocket(req: http.IncomingMessage, socket: Duplex, head: Buffer, stored: Stored): void {
    const protocols = stored.kind === 'portforward' ? PORTFORWARD_WS_PROTOCOLS : REMOTECOMMAND_WS_PROTOCOLS;
    const protocol = negotiateWebSocket(req.headers, protocols);
    let ports: number[] = [];
    if (stored.kind === 'portforward') {
      // The kubelet forwards the ports of the CRI request; a client may name them in the query.
      ports = stored.request.port?.length ? stored.request.port : queryPorts(req);
    }
    this.chosen.set(req, protocol);
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const done =
        stored.kind === 'portforward'
          ? servePortForwardWs(ws, protocol, stored.request.podSandboxId, ports, this.backend)
          : serveRemoteCommandWs(ws, protocol, stored as RemoteCommand, this.backend);
      this.settle(done);
    });
  }

  private settle(done: Promise<void>): void {
    done.catch((e: Error) => this.emit('sessionError', e));
  }
}

function checkStreams(req: { tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }): void {
  if (req.tty && req.stderr) throw new InvalidStreamingRequest('tty and stderr cannot both be true');
  if (!req.stdin && !req.stdout && !req.stderr) {
    throw new InvalidStreamingRequest('one of stdin, stdout, or stderr must be set');
  }
}

/** Ports named in the query (?port=80&port=8080 or ?port=80,8080); invalid ones are refused. */
function queryPorts(req: http.IncomingMessage): number[] {
  const url = new URL(req.url ?? '/', 'http://x');
  const ports: number[] = [];
  for (const v of url.searchParams.getAll('port')) {
    for (const p of v.split(',')) {
      if (!/^[0-9]+$/.test(p) || Number(p) < 1 || Number(p) > 65535) {
        throw new NegotiationError(400, `unable to parse "${p}" as a port`);
      }
      ports.push(Number(p));
    }
  }
  if (ports.length === 0) throw new NegotiationError(400, 'query parameter "port" is required');
  return ports;
}

/** Answers an upgrade request with an HTTP error and closes the socket. */
function rejectRaw(socket: Duplex, err: NegotiationError): void {
  const body = `${err.message}\n`;
  const extra = Object.entries(err.headers)
    .flatMap(([k, vs]) => vs.map((v) => `${k}: ${v}\r\n`))
    .join('');
  socket.end(
    `HTTP/1.1 ${err.status} ${http.STATUS_CODES[err.status] ?? ''}\r\n` +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      extra +
      'Connection: close\r\n\r\n' +
      body,
  );
}
