/**
 * dockerd's JSON progress streams (its jsonmessage format), shared by pull, push and load:
 * Go's HTML-safe JSON, the progress bar and sizes, one line per message, and the error line
 * that ends a stream whose headers already went out.
 */
import type { Response } from 'express';
import type { DockerProgress } from '../json/pull-progress';
import { dockerMessage } from '../../../translate/errors';

/** go-units HumanSize: decimal units, 4 significant digits. */
export function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
  let size = n;
  let i = 0;
  while (size >= 1000 && i < units.length - 1) {
    size /= 1000;
    i++;
  }
  let s = size.toPrecision(4);
  if (s.includes('.') && !s.includes('e')) s = s.replace(/0+$/, '').replace(/\.$/, '');
  return s + units[i];
}

/** dockerd's progress bar: `[=====>      ]  1.2MB/3.4MB` (its daemon-side width is 200). */
export function progressBar(current: number, total: number): string {
  if (current <= 0 && total <= 0) return '';
  if (total <= 0) return humanSize(current).padStart(8);
  const pct = Math.min(50, Math.floor(Math.floor((current / total) * 100) / 2));
  const bar = `[${'='.repeat(pct)}>${' '.repeat(Math.max(0, 50 - pct))}] `;
  const numbers =
    current > total ? humanSize(current).padStart(8) : `${humanSize(current).padStart(8)}/${humanSize(total)}`;
  return bar + numbers;
}

/** JSON as Go's encoder writes it (HTML-safe escapes). */
export function goJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}

/** One line of the pull stream, keys in dockerd's order. */
export function progressLine(p: DockerProgress): string {
  const o: Record<string, unknown> = { status: p.status };
  if (p.progressDetail) {
    o.progressDetail = p.progressDetail;
    if (p.progressDetail.current !== undefined && p.progressDetail.total !== undefined) {
      o.progress = progressBar(p.progressDetail.current, p.progressDetail.total);
    }
  }
  if (p.id !== undefined) o.id = p.id;
  return goJson(o) + '\r\n';
}

/**
 * A failure of a streamed progress answer: before the headers went out it is thrown (the error
 * middleware answers with its status); after, it becomes dockerd's last line
 * (`{"errorDetail":{"message":...},"error":...}`), since the status is already 200.
 */
export function writeProgressError(res: Response, err: unknown): void {
  if (!res.headersSent) throw err;
  const message = dockerMessage(err) ?? (err instanceof Error ? err.message : String(err));
  res.write(goJson({ errorDetail: { message }, error: message }) + '\r\n');
}
