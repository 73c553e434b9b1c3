/**
 * `ADD <url>`: the file is fetched on the host, as dockerd's classic builder fetches it, into a
 * private directory, and then copied like a context file (never unpacked). As in dockerd the
 * file gets mode 0600, its mtime from the answer's `Last-Modified`, and its name from the
 * URL's path (else the answer's Content-Disposition, else the destination's name). The
 * download is bounded: at most MAX_BYTES, within TIMEOUT_MS.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { InvalidArgumentError } from '../errors';

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
  let res: Response;
  try {
    res = await fetch(url, { signal, redirect: 'follow' });
  } catch (e) {
    const cause = (e as { cause?: { message?: string } }).cause?.message ?? (e as Error).message;
    throw new InvalidArgumentError(`Get "${word}": ${cause}`);
  }
  if (res.status >= 400) {
    const body = (await res.text().catch(() => '')).slice(0, 512);
    throw new InvalidArgumentError(`failed to GET ${word} with status ${res.status} ${res.statusText}: ${body}`);
  }
  const length = Number(res.headers.get('content-length') ?? '0');
  if (length > MAX_BYTES) throw new InvalidArgumentError(`${word} is larger than the ${MAX_BYTES} bytes ADD fetches`);
  const name = downloadName(url, res.headers.get('content-disposition'), fallback);
  const file = path.join(dir, name);
  let seen = 0;
  const limit = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > MAX_BYTES) done(new InvalidArgumentError(`${word} is larger than the ${MAX_BYTES} bytes ADD fetches`));
      else done(null, chunk);
    },
  });
  const body = res.body ? Readable.fromWeb(res.body as import('node:stream/web').ReadableStream) : Readable.from([]);
  try {
    await pipeline(body, limit, fs.createWriteStream(file, { flags: 'wx', mode: 0o600 }));
  } catch (e) {
    if (e instanceof InvalidArgumentError) throw e;
    throw new InvalidArgumentError(`failed to read ${word}: ${(e as Error).message}`);
  }
  await fs.promises.chmod(file, 0o600);
  const modified = res.headers.get('last-modified');
  const t = modified ? Date.parse(modified) : NaN;
  if (Number.isFinite(t)) await fs.promises.utimes(file, t / 1000, t / 1000);
  return name;
}
