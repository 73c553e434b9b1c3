/**
 * Query and body parsing the way dockerd reads them, and JSON answers the way it writes them
 * (Content-Type exactly `application/json`, which the docker CLI checks).
 */
import type { Request, Response } from 'express';
import { InvalidArgumentError } from '../../errors';
import { upgradeOf } from './hijack';
import { readBoundedBody } from './limits';

/** Largest JSON body accepted (a create body with a big Env is well under this). */
const MAX_BODY = 4 * 1024 * 1024;

/** A query value as a string ('' when absent; the first value when repeated). */
export function qs(req: Request, name: string): string {
  const v = req.query[name];
  if (Array.isArray(v)) return String(v[0] ?? '');
  return v === undefined ? '' : String(v);
}

/** Whether a query parameter is present at all. */
export function has(req: Request, name: string): boolean {
  return req.query[name] !== undefined;
}

/** dockerd's BoolValue: anything but '', 0, no, false, none is true. */
export function qbool(req: Request, name: string, dflt = false): boolean {
  if (!has(req, name)) return dflt;
  const s = qs(req, name).trim().toLowerCase();
  return !(s === '' || s === '0' || s === 'no' || s === 'false' || s === 'none');
}

/** An integer query parameter; Go's strconv message on garbage. */
export function qint(req: Request, name: string): number | undefined {
  if (!has(req, name) || qs(req, name) === '') return undefined;
  const s = qs(req, name);
  if (!/^[+-]?\d+$/.test(s)) throw new InvalidArgumentError(`strconv.Atoi: parsing ${JSON.stringify(s)}: invalid syntax`);
  return Number(s);
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
