/**
 * The HTTP layer of the registry client: one request through the daemon's outbound HTTP
 * (src/util/outbound.ts: keep-alive pools, connect/TLS/idle timeouts, aborted at shutdown),
 * redirects followed (the Authorization header is dropped when a redirect leaves the origin
 * it was meant for: another host or port, or https down to http, as dockerd's client does and
 * as blob storage backends expect), and the response body left as a stream for the caller.
 */
import type * as http from 'node:http';
import type { Readable } from 'node:stream';
import { outbound } from '../../util/outbound';

/** One HTTP request. */
export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: Buffer | Readable;
  /** Skip TLS certificate verification (insecure registries). */
  insecureTls?: boolean;
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

/** One request, with the daemon's connect, TLS and idle timeouts (src/util/outbound.ts). */
async function once(req: HttpRequest): Promise<HttpResponse> {
  const headers: Record<string, string> = { 'User-Agent': 'podvisor (docker-compatible)', ...req.headers };
  const res = await outbound.send({
    method: req.method,
    url: req.url,
    headers,
    body: req.body,
    insecureTls: req.insecureTls,
  });
  return { status: res.statusCode ?? 0, headers: res.headers, body: res, url: req.url };
}

/** Send a request, following redirects for GET and HEAD. */
export async function httpRequest(req: HttpRequest): Promise<HttpResponse> {
  let current = req;
  for (let i = 0; ; i++) {
    const res = await once(current);
    const loc = res.headers.location;
    if (
      ![301, 302, 303, 307, 308].includes(res.status) ||
      !loc ||
      (current.method !== 'GET' && current.method !== 'HEAD')
    ) {
      return res;
    }
    res.body.resume();
    if (i >= MAX_REDIRECTS) throw new Error(`too many redirects from ${req.url}`);
    const next = new URL(loc, current.url);
    const headers = { ...current.headers };
    if (next.protocol !== 'http:' && next.protocol !== 'https:')
      throw new Error(`redirect from ${current.url} to a ${next.protocol} URL`);
    if (!sameOrigin(next, new URL(current.url)))
      for (const k of Object.keys(headers)) if (k.toLowerCase() === 'authorization') delete headers[k];
    current = { ...current, url: next.toString(), headers };
  }
}

/** Whether two URLs have the same scheme, host and port: credentials meant for one may go to the other. */
export function sameOrigin(a: URL, b: URL): boolean {
  return a.origin === b.origin;
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
