/**
 * The daemon's outgoing HTTP (src/util/outbound.ts): connect/TLS/idle/pool timeouts and the
 * shutdown switch, against servers in this process that stall on purpose.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import {
  Outbound,
  OutboundTimeoutError,
  watchConnect,
  DEFAULT_TIMEOUTS,
  CONNECT_TIMEOUT_MS,
  TLS_HANDSHAKE_TIMEOUT_MS,
  POOL_IDLE_TIMEOUT_MS,
} from '../../../src/util/outbound';

const SHORT = { connectMs: 300, tlsHandshakeMs: 300, idleMs: 300, poolIdleMs: 300 };

/** A server for one test; every socket it accepts is destroyed at the end. */
async function serve(
  handler: http.RequestListener,
): Promise<{ url: string; server: http.Server; sockets: Set<net.Socket>; close(): Promise<void> }> {
  const server = http.createServer(handler);
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/x`,
    server,
    sockets,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

async function readAll(res: http.IncomingMessage): Promise<string> {
  let out = '';
  for await (const c of res as AsyncIterable<Buffer>) out += c.toString();
  return out;
}

describe('outbound HTTP timeouts', () => {
  it('defaults to Go transport values: 30 s connect, 10 s TLS handshake, 90 s pool idle', () => {
    expect(DEFAULT_TIMEOUTS).toEqual({
      connectMs: CONNECT_TIMEOUT_MS,
      tlsHandshakeMs: TLS_HANDSHAKE_TIMEOUT_MS,
      idleMs: 60_000,
      poolIdleMs: POOL_IDLE_TIMEOUT_MS,
    });
    expect([CONNECT_TIMEOUT_MS, TLS_HANDSHAKE_TIMEOUT_MS, POOL_IDLE_TIMEOUT_MS]).toEqual([30_000, 10_000, 90_000]);
  });

  it('a socket that never connects fails with the connect timeout', async () => {
    const sock = Object.assign(new EventEmitter(), { connecting: true });
    const err = await new Promise<OutboundTimeoutError>((resolve) =>
      watchConnect(sock, false, 'r.example:443', { connectMs: 50, tlsHandshakeMs: 50 }, resolve),
    );
    expect(err.code).toBe('ETIMEDOUT');
    expect(err.message).toBe('dial tcp r.example:443: i/o timeout (no connection within 0.05 s)');
  });

  it('an https socket that connects but never finishes the handshake fails with the TLS timeout', async () => {
    const sock = Object.assign(new EventEmitter(), { connecting: true });
    const got = new Promise<OutboundTimeoutError>((resolve) =>
      watchConnect(sock, true, 'r.example:443', { connectMs: 1000, tlsHandshakeMs: 50 }, resolve),
    );
    sock.emit('connect');
    const err = await got;
    expect(err.code).toBe('ETLSTIMEDOUT');
  });

  it('connected and handshaken sockets, pooled ones and stopped watches never fail', async () => {
    const failures: Error[] = [];
    const t = { connectMs: 30, tlsHandshakeMs: 30 };
    const done = Object.assign(new EventEmitter(), { connecting: true });
    watchConnect(done, true, 'a:1', t, (e) => failures.push(e));
    done.emit('connect');
    done.emit('secureConnect');
    watchConnect(Object.assign(new EventEmitter(), { connecting: false }), true, 'b:1', t, (e) => failures.push(e));
    const stop = watchConnect(Object.assign(new EventEmitter(), { connecting: true }), false, 'c:1', t, (e) =>
      failures.push(e),
    );
    stop();
    await new Promise((r) => setTimeout(r, 100));
    expect(failures).toEqual([]);
  });

  it('a real https connection to a peer that accepts and never answers the handshake times out', async () => {
    const mute = net.createServer(() => undefined);
    const held: net.Socket[] = [];
    mute.on('connection', (s) => held.push(s));
    await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
    const { port } = mute.address() as AddressInfo;
    const o = new Outbound(SHORT);
    try {
      await expect(o.send({ url: `https://127.0.0.1:${port}/v2/` })).rejects.toMatchObject({ code: 'ETLSTIMEDOUT' });
      expect(o.active).toBe(0);
    } finally {
      o.abortAll();
      for (const s of held) s.destroy();
      await new Promise((r) => mute.close(r));
    }
  });

  it('a server that accepts and never answers times out awaiting the headers', async () => {
    const s = await serve(() => undefined);
    const o = new Outbound(SHORT);
    try {
      const err = await o.send({ url: s.url }).catch((e: Error & { code?: string }) => e);
      expect(err).toBeInstanceOf(OutboundTimeoutError);
      expect((err as OutboundTimeoutError).code).toBe('EIDLETIMEDOUT');
      expect((err as Error).message).toMatch(
        /^net\/http: timeout awaiting response headers from 127\.0\.0\.1:\d+ \(no data for 0\.3 s\)$/,
      );
    } finally {
      o.abortAll();
      await s.close();
    }
  });

  it('a body that stops arriving fails its reader with the idle timeout, while a slow steady one completes', async () => {
    const s = await serve((req, res) => {
      res.writeHead(200, { 'Content-Length': '1000' });
      if (req.url === '/stall') {
        res.write('x'.repeat(10));
        return;
      }
      // 10 chunks, 100 ms apart: 1 s in all, more than the 300 ms idle limit.
      let i = 0;
      const t = setInterval(() => {
        res.write('y'.repeat(100));
        if (++i === 10) {
          clearInterval(t);
          res.end();
        }
      }, 100);
    });
    const o = new Outbound(SHORT);
    try {
      const stalled = await o.send({ url: s.url.replace('/x', '/stall') });
      expect(stalled.statusCode).toBe(200);
      await expect(readAll(stalled)).rejects.toMatchObject({
        code: 'EIDLETIMEDOUT',
        message: expect.stringMatching(/^read tcp 127\.0\.0\.1:\d+: i\/o timeout/),
      });
      const steady = await o.send({ url: s.url });
      expect((await readAll(steady)).length).toBe(1000);
    } finally {
      o.abortAll();
      await s.close();
    }
  });

  it('a kept-alive connection is closed after the pool idle timeout', async () => {
    const s = await serve((_req, res) => res.end('ok'));
    const o = new Outbound(SHORT);
    try {
      expect(await readAll(await o.send({ url: s.url }))).toBe('ok');
      // Reused while it is fresh: still one connection.
      expect(await readAll(await o.send({ url: s.url }))).toBe('ok');
      expect(s.sockets.size).toBe(1);
      const deadline = Date.now() + 5000;
      while (s.sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(s.sockets.size).toBe(0);
    } finally {
      o.abortAll();
      await s.close();
    }
  });

  it('abortAll destroys requests under way and their bodies, closes pooled connections and refuses new requests', async () => {
    const s = await serve((req, res) => {
      if (req.url === '/body') {
        res.writeHead(200, { 'Content-Length': '100' });
        res.write('partial');
        return;
      }
      if (req.url === '/pooled') return void res.end('ok');
      // /x: never answers
    });
    const o = new Outbound({ ...DEFAULT_TIMEOUTS });
    try {
      expect(await readAll(await o.send({ url: s.url.replace('/x', '/pooled') }))).toBe('ok');
      const waiting = o.send({ url: s.url });
      const body = await o.send({ url: s.url.replace('/x', '/body') });
      const reading = readAll(body);
      await new Promise((r) => setTimeout(r, 50));
      expect(o.active).toBe(2);
      o.abortAll();
      await expect(waiting).rejects.toMatchObject({ code: 'ESHUTDOWN', message: 'the daemon is shutting down' });
      await expect(reading).rejects.toMatchObject({ code: 'ESHUTDOWN' });
      await expect(o.send({ url: s.url })).rejects.toMatchObject({ code: 'ESHUTDOWN' });
      expect(o.active).toBe(0);
      // Every connection to the server is gone, the pooled one included.
      const deadline = Date.now() + 2000;
      while (s.sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(s.sockets.size).toBe(0);
    } finally {
      await s.close();
    }
  });

  it("a request's signal aborts it, before or after the headers", async () => {
    const s = await serve((req, res) => {
      if (req.url === '/body') {
        res.writeHead(200, { 'Content-Length': '100' });
        res.write('partial');
      }
    });
    const o = new Outbound({ ...DEFAULT_TIMEOUTS });
    try {
      const c1 = new AbortController();
      const waiting = o.send({ url: s.url, signal: c1.signal });
      setTimeout(() => c1.abort(new Error('client went away')), 50);
      await expect(waiting).rejects.toThrow('client went away');
      const c2 = new AbortController();
      const body = await o.send({ url: s.url.replace('/x', '/body'), signal: c2.signal });
      const reading = readAll(body);
      c2.abort(new Error('gone'));
      await expect(reading).rejects.toThrow('gone');
      expect(o.active).toBe(0);
    } finally {
      o.abortAll();
      await s.close();
    }
  });
});
