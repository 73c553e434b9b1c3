/**
 * The HTTP layer of the registry client: one request over node:http or node:https with
 * keep-alive agents, redirects followed (the Authorization header is dropped when a redirect
 * leaves the registry's host, as blob storage backends expect), and the response body left as
 * a stream for the caller.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';

const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16 });
const insecureHttpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false });

/** One HTTP request. */
export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: Buffer | Readable;
  /** Skip TLS certificate verification (insecure registries). */
  insecureTls?: boolean;
  /** Give up when no response headers came within this many ms (default 60 s). */
  timeoutMs?: number;
}

/** A response whose body has not been read yet. */
export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
  /** The URL that answered (after redirects). */
  url: string;
}

const MAX_REDIRECTS = 10;

function once(req: HttpRequest): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(req.url);
    const isHttps = u.protocol === 'https:';
    const mod = isHttps ? https : http;
    const agent = isHttps ? (req.insecureTls ? insecureHttpsAgent : httpsAgent) : httpAgent;
    const headers: Record<string, string> = { 'User-Agent': 'podvisor (docker-compatible)', ...req.headers };
    if (Buffer.isBuffer(req.body)) headers['Content-Length'] = String(req.body.length);
    const r = mod.request(u, { method: req.method, headers, agent }, (res) => {
      r.setTimeout(0);
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url: req.url });
    });
    r.setTimeout(req.timeoutMs ?? 60000, () => r.destroy(new Error(`timeout waiting for ${u.host}`)));
    r.on('error', reject);
    if (req.body === undefined) r.end();
    else if (Buffer.isBuffer(req.body)) r.end(req.body);
    else {
      req.body.on('error', (e) => r.destroy(e));
      req.body.pipe(r);
    }
  });
}

/** Send a request, following redirects for GET and HEAD. */
export async function httpRequest(req: HttpRequest): Promise<HttpResponse> {
  let current = req;
  for (let i = 0; ; i++) {
    const res = await once(current);
    const loc = res.headers.location;
    if (![301, 302, 303, 307, 308].includes(res.status) || !loc || (current.method !== 'GET' && current.method !== 'HEAD')) {
      return res;
    }
    res.body.resume();
    if (i >= MAX_REDIRECTS) throw new Error(`too many redirects from ${req.url}`);
    const next = new URL(loc, current.url);
    const headers = { ...current.headers };
    if (next.host !== new URL(current.url).host) delete headers.Authorization;
    current = { ...current, url: next.toString(), headers };
  }
}

/** Read a whole (small) body, refusing more than `limit` bytes. */
export async function readBody(res: HttpResponse, limit = 8 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res.body as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) {
      res.body.destroy();
      throw new Error(`response from ${new URL(res.url).host} is larger than ${limit} bytes`);
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}
