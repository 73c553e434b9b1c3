/**
 * `ADD <url>`: the file is fetched on the host, as dockerd's classic builder fetches it, into a
 * private directory, and then copied like a context file (never unpacked). As in dockerd the
 * file gets mode 0600, its mtime from the answer's `Last-Modified`, and its name from the
 * URL's path (else the answer's Content-Disposition, else the destination's name). The
 * download is bounded: at most MAX_BYTES, within TIMEOUT_MS.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as http from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { InvalidArgumentError } from '../errors';
import { outbound } from '../util/outbound';

/** Redirects followed (Go's http.Client stops after 10). */
const MAX_REDIRECTS = 10;

/**
 * GET `url` through the daemon's outbound HTTP (connect, TLS and idle timeouts; aborted at
 * shutdown: src/util/outbound.ts), following redirects.
 */
async function follow(url: URL, signal: AbortSignal): Promise<http.IncomingMessage> {
  let u = url;
  for (let hops = 0; ; hops++) {
    const res = await outbound.send({ url: u, signal });
    const status = res.statusCode ?? 0;
    const loc = res.headers.location;
    if (status < 300 || status >= 400 || !loc) return res;
    res.resume();
    if (hops >= MAX_REDIRECTS) throw new Error(`stopped after ${MAX_REDIRECTS} redirects`);
    u = new URL(loc, u);
  }
}

/** Up to `limit` bytes of a (small) body, as text. */
async function readSome(res: http.IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res as AsyncIterable<Buffer>) {
    chunks.push(c);
    n += c.length;
    if (n >= limit) break;
  }
  res.destroy();
  return Buffer.concat(chunks).toString('utf8');
}

/** The largest file ADD fetches (bytes). */
export const MAX_BYTES = 2 * 1024 ** 3;
/** How long one fetch may take, headers and body together (ms). */
export const TIMEOUT_MS = 10 * 60 * 1000;

/** Whether a source word of ADD is a URL (dockerd: http:// or https://). */
export function isUrl(word: string): boolean {
  return /^https?:\/\//i.test(word);
}

/** The file name for a download: the URL path's last part, Content-Disposition's, or `fallback`. */
export function downloadName(url: URL, disposition: string | null, fallback: string): string {
  const ok = (n: string) => n !== '' && n !== '.' && n !== '..' && !n.includes('/') && !n.includes('\0');
  let p = url.pathname;
  try {
    p = decodeURIComponent(p);
  } catch {
    // Kept encoded.
  }
  if (p && !p.endsWith('/') && ok(path.posix.basename(p))) return path.posix.basename(p);
  const m = disposition ? /filename="?([^";]+)"?/i.exec(disposition) : null;
  if (m && !m[1].endsWith('/')) {
    const base = path.posix.basename(m[1].replace(/\\/g, '/'));
    if (ok(base)) return base;
  }
  if (ok(fallback)) return fallback;
  throw new InvalidArgumentError(`cannot determine a file name for ${url.href}: name the destination file`);
}

/**
 * Fetch `word` into directory `dir` (the daemon's own, empty); resolves with the file's name
 * there. `fallback` names the file when neither the URL nor the answer does.
 */
export async function download(word: string, dir: string, fallback: string): Promise<string> {
  let url: URL;
  try {
    url = new URL(word);
  } catch {
    throw new InvalidArgumentError(`invalid URL: ${word}`);
  }
  const signal = AbortSignal.timeout(TIMEOUT_MS);
  let res: http.IncomingMessage;
  try {
    res = await follow(url, signal);
  } catch (e) {
    throw new InvalidArgumentError(`Get "${word}": ${(e as Error).message}`);
  }
  const status = res.statusCode ?? 0;
  if (status >= 400) {
    const body = (await readSome(res, 512).catch(() => '')).slice(0, 512);
    throw new InvalidArgumentError(`failed to GET ${word} with status ${status} ${res.statusMessage ?? ''}: ${body}`);
  }
  const length = Number(res.headers['content-length'] ?? '0');
  if (length > MAX_BYTES) throw new InvalidArgumentError(`${word} is larger than the ${MAX_BYTES} bytes ADD fetches`);
  const name = downloadName(url, res.headers['content-disposition'] ?? null, fallback);
  const file = path.join(dir, name);
  let seen = 0;
  const limit = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > MAX_BYTES) done(new InvalidArgumentError(`${word} is larger than the ${MAX_BYTES} bytes ADD fetches`));
      else done(null, chunk);
    },
  });
  try {
    await pipeline(res, limit, fs.createWriteStream(file, { flags: 'wx', mode: 0o600 }));
  } catch (e) {
    if (e instanceof InvalidArgumentError) throw e;
    throw new InvalidArgumentError(`failed to read ${word}: ${(e as Error).message}`);
  }
  await fs.promises.chmod(file, 0o600);
  const modified = res.headers['last-modified'];
  const t = modified ? Date.parse(modified) : NaN;
  if (Number.isFinite(t)) await fs.promises.utimes(file, t / 1000, t / 1000);
  return name;
}
