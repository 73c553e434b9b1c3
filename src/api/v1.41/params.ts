/**
 * Body reading (bounded) and JSON answers the way dockerd writes them (Content-Type exactly
 * `application/json`, which the docker CLI checks). Query values are decoded in one place:
 * schema/query.ts.
 */
import type { Request, Response } from 'express';
import { InvalidArgumentError } from '../../errors';
import { upgradeOf } from './hijack';
import { readBoundedBody } from './limits';

/** Largest JSON body accepted (documented in docs/architecture.md, "Request decoding"). */
const MAX_BODY = 4 * 1024 * 1024;

/**
 * Let the event loop run other callbacks (pings, other clients) before going on: handlers
 * call it between the steps of work that grows with the request's size, so that no request
 * holds the loop for more than about 50 ms (docs/architecture.md, "Request decoding").
 */
export function yieldLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Send a JSON answer with dockerd's exact content type. */
export function sendJson(res: Response, status: number, body: unknown): void {
  res.status(status).setHeader('Content-Type', 'application/json');
  res.send(Buffer.from(JSON.stringify(body) + '\n'));
}

/** Read a request body (bounded). */
export async function readRaw(req: Request): Promise<Buffer> {
  // An upgrade request's body was read off the socket by the hijack bridge.
  const up = upgradeOf(req);
  if (up) return up.body;
  return readBoundedBody(req, MAX_BODY);
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

/** A filters map: name -> values. */
export type FilterMap = Record<string, string[]>;

/**
 * The `filters` parameter in both encodings dockerd accepts (`{"a":["x"]}` and the legacy
 * `{"a":{"x":true}}`); names outside `allowed` get dockerd's "Invalid filter 'x'".
 */
export function parseFilterParam(raw: string, allowed: readonly string[]): FilterMap {
  if (raw === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (err) {
    throw new InvalidArgumentError(`invalid filters: ${(err as Error).message}`);
  }
  if (v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new InvalidArgumentError('invalid filters: expected a JSON object');
  const out: FilterMap = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (!allowed.includes(k)) throw new InvalidArgumentError(`Invalid filter '${k}'`);
    if (Array.isArray(val)) out[k] = val.map(String);
    else if (val && typeof val === 'object') out[k] = Object.entries(val as Record<string, unknown>).filter(([, on]) => on === true).map(([x]) => x);
    else throw new InvalidArgumentError(`invalid filters: values of '${k}' must be a list`);
  }
  return out;
}

/** `key` or `key=value` label filters against a label map. */
export function labelsMatch(labels: Record<string, string>, wanted: string[]): boolean {
  return wanted.every((w) => {
    const i = w.indexOf('=');
    if (i < 0) return Object.prototype.hasOwnProperty.call(labels, w);
    return labels[w.slice(0, i)] === w.slice(i + 1);
  });
}
