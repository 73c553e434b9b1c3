/**
 * Docker's hijacked streams (attach, exec start) over Node's http server.
 *
 * Node routes a request carrying `Connection: Upgrade` to the server's 'upgrade' event, not
 * to the request handler, and detaches its HTTP parser from the socket. `installHijack`
 * bridges such requests into the express app anyway, with a ServerResponse bound to the
 * socket, so routing, validation and Docker-format errors (404, 409...) work as for any
 * request. A handler that wants the raw connection calls `openRawStream(req, res)`:
 *
 *  - Upgrade request (the docker CLI, dockerode with hijack): dockerd answers
 *      HTTP/1.1 101 UPGRADED
 *      Content-Type: application/vnd.docker.raw-stream
 *      Connection: Upgrade
 *      Upgrade: tcp
 *    and then the socket carries the raw stream both ways; the client half-closes its side to
 *    signal the end of stdin, and the daemon closes the connection when the output ends. The
 *    output starts once the client has read the 101 (peer-read.ts: docker-py loses output
 *    that reaches it in the same read).
 *  - Plain request: a `200 OK` with `Content-Type: application/vnd.docker.raw-stream` and
 *    the output as the body; the request body, if any, is the input.
 *
 * Requests to `/containers/{id}/attach/ws` (a WebSocket upgrade) reach the app the same way;
 * their handler takes the socket and `head` from `upgradeOf(req)`.
 */
import * as http from 'node:http';
import type * as https from 'node:https';
import type { Duplex, Readable } from 'node:stream';
import type { Express } from 'express';
import { applyServerLimits, BODY_IDLE_MS, SessionLimiter } from './limits';
import { peerHasRead } from './peer-read';

/** What the bridge leaves on an upgraded request. */
interface UpgradeInfo {
  socket: Duplex;
  head: Buffer;
  /** The request body (Content-Length bytes), read off the socket before routing. */
  body: Buffer;
  taken: boolean;
}

const UPGRADES = new WeakMap<http.IncomingMessage, UpgradeInfo>();

/** Largest body accepted on an upgrade request (attach/exec-start bodies are tiny). */
const MAX_UPGRADE_BODY = 1024 * 1024;

/** The raw socket and first bytes of an upgraded request (undefined for plain requests). */
export function upgradeOf(req: http.IncomingMessage): UpgradeInfo | undefined {
  return UPGRADES.get(req);
}

/**
 * Read exactly `n` bytes from a socket; what arrives beyond them is put back (it is the
 * client's stdin). Node does not parse the body of an upgrade request: dockerd (Go) reads it
 * as the request body and only then hijacks, so we must do the same, or the body (e.g.
 * `{"Detach":false,"Tty":false}`) would reach the process as input.
 */
function readExactly(socket: Duplex, n: number): Promise<Buffer> {
  if (n === 0) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onEnd);
    };
    const onData = (chunk: Buffer) => {
      parts.push(chunk);
      got += chunk.length;
      if (got < n) return;
      cleanup();
      socket.pause();
      const all = Buffer.concat(parts);
      if (all.length > n) socket.unshift(all.subarray(n));
      resolve(all.subarray(0, n));
    };
    const onEnd = () => {
      cleanup();
      reject(new Error('connection closed before the request body was complete'));
    };
    // A client that declares a body and never sends it does not hold the connection forever.
    const timer = setTimeout(onEnd, BODY_IDLE_MS);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onEnd);
  });
}

/**
 * Send upgrade requests on `server` through `app` (see the module comment), and apply the
 * API's request limits to it (limits.ts).
 */
export function installHijack(server: http.Server | https.Server, app: Express): void {
  // Every API server passes here before it listens: the request limits go on with the bridge.
  applyServerLimits(server);
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    // Bytes the client sent right after the headers go back into the socket.
    if (head.length) socket.unshift(head);
    const length = Number(req.headers['content-length'] ?? 0);
    if (!Number.isFinite(length) || length < 0 || length > MAX_UPGRADE_BODY) {
      socket.end(
        'HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n' +
          '{"message":"bad request body length"}\n',
      );
      return;
    }
    void readExactly(socket, length).then(
      (body) => {
        const info: UpgradeInfo = { socket, head: Buffer.alloc(0), body, taken: false };
        UPGRADES.set(req, info);
        const res = new http.ServerResponse(req);
        res.shouldKeepAlive = false;
        res.assignSocket(socket as unknown as import('node:net').Socket);
        res.on('finish', () => {
          // An ordinary answer (an error, or a route that does not hijack: BuildKit's /session
          // gets its 404 here): the parser is gone, so the connection cannot carry another
          // request. Whatever the client still sends is read and dropped: a socket nobody reads
          // never sees the client's end, and stayed open (and held the daemon's shutdown)
          // after the client had gone.
          if (!info.taken) endAndDrain(socket);
        });
        (app as unknown as (q: http.IncomingMessage, s: http.ServerResponse) => void)(req, res);
      },
      () => socket.destroy(),
    );
  });
}

/**
 * End our side of an upgraded connection and read (and drop) what the client still sends, so
 * its end is seen and the socket closes (a hijacked socket is paused by Node, and stdin may
 * not be read at all: without this it would stay open, half closed, after the client left).
 */
function endAndDrain(socket: Duplex): void {
  socket.end();
  socket.resume();
}

/** A raw bidirectional stream to a client. */
export interface RawStream {
  /** The client's input (stdin), or null when there is none. */
  input: Readable | null;
  /** Write output; false when the client is slow (wait for drain()). */
  write(data: Buffer): boolean;
  /** Resolves when the client can take more output (or is gone). */
  drain(): Promise<void>;
  /** End the output and the connection. */
  end(): void;
  /** Resolves when the client connection closed (either way). */
  closed: Promise<void>;
}

/** The stream types: raw, and stdcopy-framed (named from API 1.42: versions/views.ts). */
export const RAW_STREAM = 'application/vnd.docker.raw-stream';
export const MULTIPLEXED_STREAM = 'application/vnd.docker.multiplexed-stream';

/** The response dockerd writes before hijacking an upgrade request, with the stream's type. */
export function upgradeResponse(contentType = RAW_STREAM): string {
  return `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`;
}

/** The response dockerd writes before hijacking an upgrade request (a raw stream). */
export const UPGRADE_RESPONSE = upgradeResponse();

/** The output half of a hijacked connection. */
type RawOutput = Pick<RawStream, 'write' | 'drain' | 'end'>;

/**
 * Write the 101 on `s` and return its output: what is written before the client has read the
 * 101 (peerHasRead) is held, in order, and the producer is told to wait (write answers false,
 * drain resolves once it is sent); an end asked for meanwhile comes after it.
 */
function outputAfterRead(s: Duplex, contentType: string): RawOutput {
  let held: Buffer[] | null = [];
  let endAsked = false;
  let opened!: () => void;
  const open = new Promise<void>((r) => (opened = r));
  const end = () => {
    if (!s.destroyed) endAndDrain(s);
  };
  s.write(upgradeResponse(contentType), () => {
    void peerHasRead(s).then(() => {
      const q = held ?? [];
      held = null;
      for (const d of q) if (!s.destroyed && !s.writableEnded) s.write(d);
      if (endAsked) end();
      opened();
    });
  });
  return {
    write: (d) => {
      if (held) {
        held.push(d);
        return false;
      }
      return s.destroyed ? true : s.write(d);
    },
    drain: () => (held ? open.then(() => drainOf(s)) : drainOf(s)),
    end: () => {
      // With nothing held the end goes at once: an end cannot be lost with the 101 (the
      // client reads it as the stream's end either way), and an exec without output (`true`)
      // does not wait for the helper.
      if (held?.length) endAsked = true;
      else end();
    },
  };
}

/** What drainOf waits on: a socket or a ServerResponse. */
interface Drainable {
  writableNeedDrain?: boolean;
  destroyed?: boolean;
  once(ev: string, f: () => void): unknown;
  off(ev: string, f: () => void): unknown;
}

/**
 * Resolves when `w` can take more output, or is gone. Whichever of 'drain' and 'close' comes
 * first removes the other listener: a long stream waits thousands of times on the same
 * socket, and a 'close' listener left behind per wait leaked (MaxListenersExceededWarning).
 */
export function drainOf(w: Drainable): Promise<void> {
  if (!w.writableNeedDrain || w.destroyed) return Promise.resolve();
  return new Promise((r) => {
    const done = () => {
      w.off('drain', done);
      w.off('close', done);
      r();
    };
    w.once('drain', done);
    w.once('close', done);
  });
}

/** Open attach/exec streams of this process (limits.ts: MAX_SESSIONS_*). */
export const rawSessions = new SessionLimiter();

/**
 * Take over the connection of an attach or exec-start request (see the module comment).
 * Counted against the session limits per `target` (the container; default: the route's `id`)
 * and in all: past them, a 429 is thrown before
 * anything is written. `contentType` names the stream (raw unless the version says otherwise).
 */
export function openRawStream(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  target?: string,
  contentType = RAW_STREAM,
): RawStream {
  const release = rawSessions.acquire(target ?? (req as { params?: { id?: string } }).params?.id ?? '');
  const up = UPGRADES.get(req);
  if (up) {
    up.taken = true;
    const s = up.socket;
    res.detachSocket(s as unknown as import('node:net').Socket);
    // Docker's hijack answer: 101 UPGRADED with the raw-stream content type. The output waits
    // until the client has read it (peer-read.ts: docker-py loses what comes in the same read).
    const out = outputAfterRead(s, contentType);
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    void closed.then(release);
    return { input: s, ...out, closed };
  }
  // Plain request: dockerd answers 200 with the raw-stream type and streams the output.
  res.writeHead(200, { 'Content-Type': contentType });
  res.flushHeaders();
  const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  const closed = new Promise<void>((r) => res.once('close', () => r()));
  void closed.then(release);
  return {
    input: hasBody ? req : null,
    write: (d) => (res.destroyed ? true : res.write(d)),
    drain: () => drainOf(res),
    end: () => {
      if (!res.writableEnded) res.end();
    },
    closed,
  };
}

/**
 * Docker's stdcopy framing of non-TTY streams: an 8-byte header (stream type 1 = stdout,
 * 2 = stderr, three zero bytes, payload length as big-endian uint32) before each chunk.
 */
export function frame(stream: 'stdout' | 'stderr', data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream === 'stdout' ? 1 : 2;
  h.writeUInt32BE(data.length, 4);
  return Buffer.concat([h, data]);
}

/** Split a framed byte stream back into chunks (tests, and clients of our own). */
export function unframe(buf: Buffer): Array<{ stream: 'stdin' | 'stdout' | 'stderr'; data: Buffer }> {
  const out: Array<{ stream: 'stdin' | 'stdout' | 'stderr'; data: Buffer }> = [];
  let off = 0;
  while (off + 8 <= buf.length) {
    const type = buf[off];
    const len = buf.readUInt32BE(off + 4);
    if (off + 8 + len > buf.length) break;
    out.push({
      stream: type === 0 ? 'stdin' : type === 1 ? 'stdout' : 'stderr',
      data: buf.subarray(off + 8, off + 8 + len),
    });
    off += 8 + len;
  }
  return out;
}
