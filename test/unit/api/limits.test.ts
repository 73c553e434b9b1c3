/**
 * The API's request limits: the session limiter, and a real http server with the limits
 * applied (header size, malformed HTTP and oversized JSON bodies in Docker's format).
 */
import * as http from 'node:http';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import express from 'express';
import {
  applyServerLimits,
  closeUnreadBodies,
  closeUnreadBodiesAfter,
  MAX_HEADER_BYTES,
  MAX_JSON_BODY,
  readBoundedBody,
  SessionLimiter,
} from '../../../src/api/v1.41/limits';
import { dockerErrorHandler, httpStatusOf } from '../../../src/api/v1.41/errors';
import { ResourceExhaustedError } from '../../../src/errors';
import { peekHead } from '../../../src/storage/decompress';

describe('SessionLimiter', () => {
  it('refuses past the per-target and total limits with a clear 429, and frees on release', () => {
    const l = new SessionLimiter(2, 3);
    const a1 = l.acquire('a');
    l.acquire('a');
    expect(() => l.acquire('a')).toThrow(ResourceExhaustedError);
    expect(() => l.acquire('a')).toThrow('too many open attach/exec sessions for a (limit 2)');
    l.acquire('b');
    expect(() => l.acquire('c')).toThrow('too many open attach/exec sessions (limit 3)');
    a1();
    a1();
    expect(l.size).toBe(2);
    expect(() => l.acquire('c')).not.toThrow();
    expect(httpStatusOf(new ResourceExhaustedError('x'))).toBe(429);
  });
});

describe('a server with the limits applied', () => {
  let server: http.Server;
  // A unix socket, as the daemon's default (on TCP an early answer can be lost to a reset).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-limits-'));
  const sock = path.join(dir, 'api.sock');

  beforeAll(async () => {
    const app = express();
    // /sniff gets the body-stall guard at 200 ms (the daemon's is BODY_IDLE_MS), so a test can wait it out.
    app.use('/sniff', closeUnreadBodiesAfter(200));
    app.use(closeUnreadBodies);
    app.post('/echo', async (req, res) => {
      const b = await readBoundedBody(req);
      res.json({ n: b.length });
    });
    // A reader in paused mode, waiting on 'readable' for the first bytes (as docker load and
    // import sniff the compression) before it reads on.
    app.post('/sniff', async (req, res) => {
      const head = await peekHead(req);
      res.json({ head: head.length });
    });
    app.use(dockerErrorHandler);
    server = http.createServer(app);
    applyServerLimits(server);
    await new Promise<void>((r) => server.listen(sock, () => r()));
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function raw(data: Buffer | string, bulk = 0): Promise<string> {
    return new Promise((resolve) => {
      const s = net.connect(sock);
      let got = '';
      s.on('data', (d) => (got += d.toString('latin1')));
      s.on('error', () => undefined);
      s.on('close', () => resolve(got));
      s.write(data);
      if (bulk) {
        const chunk = Buffer.alloc(1 << 20, 0x61);
        let left = bulk;
        const pump = () => {
          while (left > 0 && !s.destroyed) {
            left -= chunk.length;
            if (!s.write(chunk)) return void s.once('drain', pump);
          }
        };
        pump();
      }
    });
  }

  it('answers a header block over the limit with 431 in Docker format', async () => {
    const got = await raw(`GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(MAX_HEADER_BYTES)}\r\n\r\n`);
    expect(got).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse(got.slice(got.indexOf('\r\n\r\n') + 4)).message).toMatch(
      /request headers larger than 65536 bytes/,
    );
  });

  it('answers broken chunked encoding with 400 in Docker format', async () => {
    const got = await raw('POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n');
    expect(got).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(got.slice(got.indexOf('\r\n\r\n') + 4)).message).toMatch(/malformed HTTP request/);
  });

  it('answers a 20 MB JSON body with 413 and closes the connection without reading it all', async () => {
    const size = 20 * 1024 * 1024;
    const got = await raw(
      `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`,
      size,
    );
    expect(got).toMatch(/^HTTP\/1\.1 413 /);
    expect(got).toMatch(/\r\nConnection: close\r\n/i);
    expect(got).toContain(`request body larger than ${MAX_JSON_BODY} bytes`);
  });

  it('answers 408 and closes a body that stops arriving while its reader waits on readable (a huge chunk size, then nothing)', async () => {
    const got = await raw(
      'POST /sniff HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n{}',
    );
    expect(got).toMatch(/^HTTP\/1\.1 408 /);
    expect(JSON.parse(got.slice(got.indexOf('\r\n\r\n') + 4)).message).toBe('no request body data for 0.2 s');
  });
});
