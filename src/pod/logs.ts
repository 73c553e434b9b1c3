/**
 * Container logs in Docker's json-file format, kept on the HOST under
 * `<data-root>/containers/<id>/<id>-json.log`, one JSON object per line:
 *
 *   {"log":"hello\n","stream":"stdout","time":"2026-11-22T08:46:32.366842840Z"}
 *
 * so `docker logs` works after the container stopped and after a daemon restart. Output is
 * cut into lines as Docker's log copier does: an entry per line (with its "\n"), a line longer
 * than MAX_LINE is cut into partial entries, and what remains when a stream ends is written
 * as a last entry without "\n". Writes are synchronous appends, so a reader that stats the
 * file and subscribes in the same tick misses nothing and sees nothing twice.
 *
 * A write that fails (a full disk) drops that entry, as dockerd's json-file logger does: the
 * file is cut back to its last whole line, so a torn line cannot spoil the next entry, the
 * failure is logged (once until a write succeeds again), and the container is not held up.
 */
import * as fs from 'node:fs';
import { parseRfc3339, rfc3339Nanos, nowRfc3339 } from '../util/time';
import { logger } from '../util/log';

const log = logger('logs');

/** Docker's copier buffer: longer lines are split into several entries. */
export const MAX_LINE = 16 * 1024;

/** One log entry. */
export interface LogEntry {
  stream: 'stdout' | 'stderr';
  /** RFC 3339 with nanoseconds. */
  time: string;
  log: Buffer;
}

/** Called for each entry as it is written. */
export type LogListener = (e: LogEntry) => void;

/** Appends a container's output to its json-file log. */
export class LogWriter {
  private fd: number | null = null;
  private readonly pending: Record<'stdout' | 'stderr', Buffer> = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
  private readonly listeners = new Set<LogListener>();
  /** Where the next entry starts (the file's size after the last whole entry). */
  private size = 0;
  /** Entries dropped since the last successful write. */
  private dropped = 0;

  constructor(readonly file: string) {}

  private open(): number {
    if (this.fd === null) {
      const fd = fs.openSync(this.file, 'a', 0o640);
      this.size = fs.fstatSync(fd).size;
      this.fd = fd;
    }
    return this.fd;
  }

  /** Add raw output of a stream; complete lines are written at once. */
  write(stream: 'stdout' | 'stderr', data: Buffer): void {
    let buf = this.pending[stream].length ? Buffer.concat([this.pending[stream], data]) : data;
    for (;;) {
      const nl = buf.indexOf(0x0a);
      if (nl < 0 || nl >= MAX_LINE) {
        if (buf.length >= MAX_LINE) {
          this.append(stream, buf.subarray(0, MAX_LINE));
          buf = buf.subarray(MAX_LINE);
          continue;
        }
        break;
      }
      this.append(stream, buf.subarray(0, nl + 1));
      buf = buf.subarray(nl + 1);
    }
    this.pending[stream] = Buffer.from(buf);
  }

  /** The stream ended: write what is left of its last line. */
  flush(stream: 'stdout' | 'stderr'): void {
    if (this.pending[stream].length) this.append(stream, this.pending[stream]);
    this.pending[stream] = Buffer.alloc(0);
  }

  private append(stream: 'stdout' | 'stderr', log: Buffer): void {
    const time = nowRfc3339();
    const line = Buffer.from(JSON.stringify({ log: log.toString('utf8'), stream, time }) + '\n');
    if (!this.writeWhole(line)) return;
    const e: LogEntry = { stream, time, log: Buffer.from(log) };
    for (const l of [...this.listeners]) l(e);
  }

  /** Append a whole line, or nothing: false when it could not be written (entry dropped). */
  private writeWhole(line: Buffer): boolean {
    let fd: number | undefined;
    try {
      fd = this.open();
      for (let off = 0; off < line.length;) off += fs.writeSync(fd, line, off);
      this.size += line.length;
      if (this.dropped) log.info(`${this.file}: writing again after ${this.dropped} dropped entries`);
      this.dropped = 0;
      return true;
    } catch (err) {
      if (fd !== undefined) {
        try {
          fs.ftruncateSync(fd, this.size);
        } catch {
          // Nothing more to do: the reader skips a torn line.
        }
      }
      if (this.dropped++ === 0) log.warn(`${this.file}: log entry dropped: ${(err as Error).message}`);
      return false;
    }
  }

  /** Follow new entries; returns the unsubscribe function. */
  subscribe(l: LogListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Flush both streams and close the file. */
  close(): void {
    this.flush('stdout');
    this.flush('stderr');
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

/** Options of `docker logs`. */
export interface LogReadOptions {
  stdout: boolean;
  stderr: boolean;
  /** Only entries at or after this many nanoseconds since the epoch. */
  sinceNano?: bigint;
  /** Only entries before this many nanoseconds since the epoch. */
  untilNano?: bigint;
  /** Only the last N entries (after the stream and time filters); undefined = all. */
  tail?: number;
}

/** Parse one line of a json-file log; undefined for a torn or foreign line. */
export function parseLogLine(line: string): LogEntry | undefined {
  if (!line) return undefined;
  try {
    const o = JSON.parse(line) as { log?: unknown; stream?: unknown; time?: unknown };
    if (typeof o.log !== 'string' || (o.stream !== 'stdout' && o.stream !== 'stderr') || typeof o.time !== 'string') return undefined;
    return { stream: o.stream, time: o.time, log: Buffer.from(o.log, 'utf8') };
  } catch {
    return undefined;
  }
}

/** Whether an entry passes the stream and time filters. */
export function entryMatches(e: LogEntry, o: LogReadOptions): boolean {
  if (e.stream === 'stdout' ? !o.stdout : !o.stderr) return false;
  if (o.sinceNano !== undefined || o.untilNano !== undefined) {
    const t = rfc3339Nanos(e.time);
    if (o.sinceNano !== undefined && t < o.sinceNano) return false;
    if (o.untilNano !== undefined && t >= o.untilNano) return false;
  }
  return true;
}

/**
 * The entries of a log file up to `endOffset` bytes (the size observed when the caller
 * subscribed for following), filtered and tailed.
 */
export async function readLogEntries(file: string, o: LogReadOptions, endOffset?: number): Promise<LogEntry[]> {
  let data: Buffer;
  try {
    data = await fs.promises.readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  if (endOffset !== undefined) data = data.subarray(0, endOffset);
  const out: LogEntry[] = [];
  for (const line of data.toString('utf8').split('\n')) {
    const e = parseLogLine(line);
    if (e && entryMatches(e, o)) out.push(e);
  }
  if (o.tail !== undefined && o.tail >= 0) return o.tail === 0 ? [] : out.slice(-o.tail);
  return out;
}

/** Size of a log file now (0 when missing). */
export function logSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/** Seconds (with fraction) or RFC 3339 as the `since`/`until` query gives them -> nanoseconds. */
export function parseTimeArg(v: string): bigint | undefined {
  if (v === '' || v === '0') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) {
    const [s, frac = ''] = v.split('.');
    return BigInt(s) * 1000000000n + BigInt(frac.padEnd(9, '0').slice(0, 9));
  }
  const ms = parseRfc3339(v);
  if (Number.isNaN(ms)) return undefined;
  return rfc3339Nanos(v);
}
