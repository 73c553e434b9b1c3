/**
 * Request bodies and JSON answers, the way dockerd reads and writes them: bodies bounded,
 * answers with Content-Type exactly `application/json` (which the docker CLI checks). Query
 * values are decoded in one place, schema/query.ts; filters in kit/filters.ts; streams in
 * kit/streams.ts.
 */
import type { Request, Response } from 'express';
import { InvalidArgumentError, NotFoundError, UnavailableError } from '../../../errors';
import type { ApiServices } from '../services';
import { upgradeOf } from '../hijack';
import { readBoundedBody } from '../limits';

/**
 * Let the event loop run other callbacks (pings, other clients) before going on: handlers
 * call it between the steps of work that grows with the request's size, so that no request
 * holds the loop for more than about 50 ms (docs/design/api.md, "Request decoding").
 */
export function yieldLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Send a JSON answer as dockerd does: `application/json` without charset, one document
 * followed by a newline.
 */
export function sendJson(res: Response, status: number, body: unknown): void {
  res.status(status).setHeader('Content-Type', 'application/json');
  res.send(Buffer.from(JSON.stringify(body) + '\n'));
}

/** Read a request body, within limits.ts's bounds (MAX_JSON_BODY bytes, idle and total time). */
export async function readRaw(req: Request): Promise<Buffer> {
  // An upgrade request's body was read off the socket by the hijack bridge.
  const up = upgradeOf(req);
  if (up) return up.body;
  return readBoundedBody(req);
}

/**
 * Read a JSON body: undefined when empty; 400 with Go-like decoder messages when malformed
 * ("unexpected EOF" for a truncated document, as dockerd says).
 */
export async function readJson(req: Request): Promise<unknown> {
  const raw = (await readRaw(req)).toString('utf8');
  if (raw.trim() === '') return undefined;
  try {
    return JSON.parse(raw);
  } catch (err) {
    const msg = (err as Error).message;
    const pos = /position (\d+)/.exec(msg);
    if (/Unexpected end of JSON input|end of data/i.test(msg) || (pos && Number(pos[1]) >= raw.trimEnd().length)) {
      throw new InvalidArgumentError('unexpected EOF');
    }
    throw new InvalidArgumentError(`invalid character in JSON body: ${msg}`);
  }
}

/**
 * The service a route module needs, or the answer when this daemon (or a test) runs without
 * it: container routes answer 404 "page not found", as if they did not exist; image routes a
 * 500 saying the image service is not available.
 */
export function svc<K extends 'containers' | 'images'>(services: ApiServices, kind: K): NonNullable<ApiServices[K]> {
  const s = services[kind];
  if (s) return s as NonNullable<ApiServices[K]>;
  if (kind === 'containers') throw new NotFoundError('page not found');
  throw new UnavailableError(`the ${kind === 'images' ? 'image' : kind} service is not available`);
}
