/**
 * Container logs in Docker's json-file format, kept on the HOST under
 * `<data-root>/containers/<id>/<id>-json.log`, one JSON object per line:
 *
 *   {"log":"hello\n","stream":"stdout","time":"2026-11-22T08:46:32.366842840Z"}
 *
 * so `docker logs` works after the container stopped and after a daemon restart. Output is
 * cut into lines as Docker's log copier does: an entry per line (with its "\n"), a line longer
 * than MAX_LINE is cut into partial entries, and what remains when a stream ends is written
 * as a last entry without "\n". Writes are synchronous appends, so a reader that takes a
 * snapshot of the files (`snapshotLog`) and subscribes in the same tick misses nothing and
 * sees nothing twice.
 *
 * Rotation follows dockerd's json-file driver (--log-opt max-size / max-file, ./log-config.ts):
 * before an entry is written, a current file that holds max-size bytes or more is renamed
 * `<id>-json.log.1` (older ones shift to .2 ... up to max-file - 1, the oldest is dropped),
 * and a new current file is started; with max-file 1 the current file is replaced by an empty
 * one. With `compress`, rotated files are gzip'd (`<id>-json.log.1.gz` ...), as dockerd's.
 * Readers read the rotated files oldest first, then the current one. A snapshot holds
 * open descriptors, so a rotation while it is read loses nothing of what it saw.
 *
 * A write that fails (a full disk) drops that entry, as dockerd's json-file logger does: the
 * file is cut back to its last whole line, so a torn line cannot spoil the next entry, the
 * failure is logged (once until a write succeeds again), and the container is not held up.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { rfc3339Nanos, nowRfc3339 } from '../../util/time';
import { DEFAULT_LOG_POLICY, type LogPolicy } from './log-config';
import type { OutputResume } from '../../vm/types';
import type { LogPoint } from './log-position';
import { logger } from '../../util/log';
import { PositionFile, positionFile, recoverPosition } from './log-position';

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
  /** Bytes in the current file (known once it is open). */
  private size = 0;
  private readonly pending: Record<'stdout' | 'stderr', Buffer> = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
  private readonly listeners = new Set<LogListener>();
  /** Entries dropped since the last successful write. */
  private dropped = 0;
  /** Stream offsets of the output passed to entries so far (see ./log-position.ts). */
  private readonly offsets: Record<'stdout' | 'stderr', number> = { stdout: 0, stderr: 0 };
  private readonly position: PositionFile;
  private positionFailed = false;
  /** The CRI log file (LogPolicy.criPath), open while written. */
  private criFd: number | null = null;

  constructor(
    readonly file: string,
    readonly policy: LogPolicy = DEFAULT_LOG_POLICY,
  ) {
    this.position = new PositionFile(positionFile(file));
  }

  /**
   * A (new or re-attached) process starts writing: its streams continue at these offsets (0
   * for a new process). Recorded at once, so a restart never takes a previous process's
   * offsets for this one's.
   */
  startProcess(start: { stdout: number; stderr: number } = { stdout: 0, stderr: 0 }): void {
    this.offsets.stdout = start.stdout;
    this.offsets.stderr = start.stderr;
    // The CRI log exists once the container started, output or not (the kubelet and critest
    // open it right after StartContainer answers, as containerd creates it at start).
    if (this.policy.criPath) {
      try {
        this.openCri();
      } catch (err) {
        log.warn(`${this.policy.criPath}: cannot create the CRI log: ${(err as Error).message}`);
      }
    }
    if (this.policy.driver !== 'json-file') return;
    try {
      this.open();
      const p = { size: this.size, ...start };
      this.position.write(p, p);
    } catch (err) {
      this.positionError(err);
    }
  }

  /**
   * After a daemon restart, for a process that kept running: where its streams should be
   * re-sent from to complete this log without duplicates (a torn last entry is cut off), and
   * where to report bytes that are lost. Undefined without a usable position record.
   */
  resumePoint(): OutputResume | undefined {
    if (this.policy.driver !== 'json-file') return undefined;
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
    let at: { stdout: number; stderr: number } | undefined;
    try {
      at = recoverPosition(this.file);
    } catch (err) {
      log.warn(`${this.file}: cannot read its position: ${(err as Error).message}`);
    }
    if (!at) return undefined;
    return {
      ...at,
      lost: (stream, bytes) =>
        log.warn(
          `${this.file}: ${bytes} bytes of ${stream} were lost while the daemon was down (more than the guest keeps)`,
        ),
    };
  }

  private positionError(err: unknown): void {
    if (!this.positionFailed) log.warn(`${this.file}: cannot record its position: ${(err as Error).message}`);
    this.positionFailed = true;
  }

  private open(): number {
    if (this.fd === null) {
      this.fd = fs.openSync(this.file, 'a', 0o640);
      this.size = fs.fstatSync(this.fd).size;
    }
    return this.fd;
  }

  /** Start a new current file, keeping max-file - 1 rotated ones (see the module comment). */
  private rotate(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
    const name = this.file;
    const ignoreMissing = (f: () => void) => {
      try {
        f();
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    };
    if (this.policy.maxFile < 2) {
      ignoreMissing(() => fs.unlinkSync(name));
    } else {
      const ext = this.policy.compress ? '.gz' : '';
      for (let i = this.policy.maxFile - 1; i > 1; i--)
        ignoreMissing(() => fs.renameSync(`${name}.${i - 1}${ext}`, `${name}.${i}${ext}`));
      ignoreMissing(() => fs.renameSync(name, `${name}.1`));
      if (this.policy.compress) compressRotated(`${name}.1`);
    }
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
    const before = { size: 0, ...this.offsets };
    this.offsets[stream] += log.length;
    if (this.policy.driver === 'json-file') {
      const line = Buffer.from(JSON.stringify({ log: log.toString('utf8'), stream, time }) + '\n');
      if (!this.writeWhole(line, before)) return;
    }
    if (this.policy.criPath) this.writeCri(stream, time, log);
    const e: LogEntry = { stream, time, log: Buffer.from(log) };
    for (const l of [...this.listeners]) l(e);
  }

  /** Append a whole line (rotating first when due), or nothing: false when it could not be written. */
  private writeWhole(line: Buffer, before: LogPoint): boolean {
    try {
      this.open();
      if (this.policy.maxSize > 0 && this.size >= this.policy.maxSize) this.rotate();
      const fd = this.open();
      try {
        this.position.write({ ...before, size: this.size }, { size: this.size + line.length, ...this.offsets });
        this.positionFailed = false;
      } catch (err) {
        this.positionError(err);
      }
      for (let off = 0; off < line.length; ) off += fs.writeSync(fd, line, off);
      this.size += line.length;
      if (this.dropped) log.info(`${this.file}: writing again after ${this.dropped} dropped entries`);
      this.dropped = 0;
      return true;
    } catch (err) {
      if (this.fd !== null) {
        try {
          fs.ftruncateSync(this.fd, this.size);
        } catch {
          // Nothing more to do: readers skip a torn line.
        }
      }
      if (this.dropped++ === 0) log.warn(`${this.file}: log entry dropped: ${(err as Error).message}`);
      return false;
    }
  }

  /**
   * One entry in the CRI log format (`<RFC3339Nano> <stream> <F|P> <line>`: P for a partial
   * line, the tag of a line cut at MAX_LINE or a last line without its newline).
   */
  private writeCri(stream: 'stdout' | 'stderr', time: string, data: Buffer): void {
    const full = data.length > 0 && data[data.length - 1] === 0x0a;
    const body = full ? data.subarray(0, data.length - 1) : data;
    const line = Buffer.concat([Buffer.from(`${time} ${stream} ${full ? 'F' : 'P'} `), body, Buffer.from('\n')]);
    try {
      const fd = this.openCri();
      for (let off = 0; off < line.length; ) off += fs.writeSync(fd, line, off);
    } catch (err) {
      if (this.dropped++ === 0) log.warn(`${this.policy.criPath}: log entry dropped: ${(err as Error).message}`);
    }
  }

  /** The CRI log file's descriptor, opened (made, with its directory) when it is not. */
  private openCri(): number {
    if (this.criFd === null) {
      fs.mkdirSync(path.dirname(this.policy.criPath!), { recursive: true });
      this.criFd = fs.openSync(this.policy.criPath!, 'a', 0o640);
    }
    return this.criFd;
  }

  /**
   * ReopenContainerLog, after the kubelet renamed the CRI log file for rotation: close it and
   * open the path again at once, so that the new file exists when the call answers, as
   * containerd's does (throws when it cannot be made).
   */
  reopenCri(): void {
    this.closeCri();
    if (this.policy.criPath) this.openCri();
  }

  private closeCri(): void {
    if (this.criFd !== null) fs.closeSync(this.criFd);
    this.criFd = null;
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
    this.closeCri();
    this.position.close();
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
    if (typeof o.log !== 'string' || (o.stream !== 'stdout' && o.stream !== 'stderr') || typeof o.time !== 'string')
      return undefined;
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
 * json-file's `compress`: a just-rotated file becomes `<file>.1.gz` (dockerd does this in the
 * background; here it is done at once, so a rotation never races a compression: at most
 * max-size bytes, a few tens of milliseconds for the default sizes). Written to a temporary
 * name and renamed, so readers see the plain file or the whole .gz, never half of one.
 */
function compressRotated(plain: string): void {
  const data = fs.readFileSync(plain);
  const tmp = `${plain}.gz.tmp`;
  try {
    fs.writeFileSync(tmp, zlib.gzipSync(data));
    fs.renameSync(tmp, `${plain}.gz`);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e; // the rotated file stays plain: still read, and the entry is dropped (full disk)
  }
  fs.unlinkSync(plain);
}

/** The rotated file N of a log: `<file>.N.gz` when compressed, else `<file>.N`; undefined when neither exists. */
function rotatedFile(file: string, i: number): string | undefined {
  if (fs.existsSync(`${file}.${i}.gz`)) return `${file}.${i}.gz`;
  if (fs.existsSync(`${file}.${i}`)) return `${file}.${i}`;
  return undefined;
}

/** The files of a log, oldest first: `<file>.N[.gz]` ... `<file>.1[.gz]`, then `<file>`. */
export function logFiles(file: string): string[] {
  const rotated: string[] = [];
  for (let i = 1, f = rotatedFile(file, 1); f; f = rotatedFile(file, ++i)) rotated.unshift(f);
  return [...rotated, file];
}

/** Open descriptors of a log's files and their sizes at one instant (see the module comment). */
export interface LogSnapshot {
  /** `gz`: a compressed rotated file. */
  parts: Array<{ fd: number; size: number; gz?: boolean }>;
}

/** The text of a log file's bytes (gunzipped when compressed; a broken .gz reads as empty). */
function textOf(data: Buffer, gz: boolean | undefined): string {
  if (!gz) return data.toString('utf8');
  try {
    return zlib.gunzipSync(data).toString('utf8');
  } catch {
    return '';
  }
}

/** Take a snapshot of a log's files now (synchronously). */
export function snapshotLog(file: string): LogSnapshot {
  const parts: LogSnapshot['parts'] = [];
  for (const f of logFiles(file)) {
    try {
      const fd = fs.openSync(f, 'r');
      parts.push({ fd, size: fs.fstatSync(fd).size, ...(f.endsWith('.gz') ? { gz: true } : {}) });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  return { parts };
}

function readFd(fd: number, size: number): Promise<Buffer> {
  const buf = Buffer.alloc(size);
  const step = (off: number): Promise<Buffer> =>
    off >= size
      ? Promise.resolve(buf)
      : new Promise((resolve, reject) =>
          fs.read(fd, buf, off, size - off, off, (err, n) =>
            err ? reject(err) : n === 0 ? resolve(buf.subarray(0, off)) : resolve(step(off + n)),
          ),
        );
  return step(0);
}

function entriesOf(text: string, o: LogReadOptions, out: LogEntry[]): void {
  for (const line of text.split('\n')) {
    const e = parseLogLine(line);
    if (e && entryMatches(e, o)) out.push(e);
  }
}

/** The entries of a snapshot, filtered and tailed; its descriptors are closed. */
export async function readLogSnapshot(snap: LogSnapshot, o: LogReadOptions): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  try {
    for (const p of snap.parts) entriesOf(textOf(await readFd(p.fd, p.size), p.gz), o, out);
  } finally {
    for (const p of snap.parts) fs.closeSync(p.fd);
  }
  if (o.tail !== undefined && o.tail >= 0) return o.tail === 0 ? [] : out.slice(-o.tail);
  return out;
}

/** The entries of a log (its rotated files, then the current one), filtered and tailed. */
export function readLogEntries(file: string, o: LogReadOptions): Promise<LogEntry[]> {
  return readLogSnapshot(snapshotLog(file), o);
}

/** Every entry of a log, read synchronously (attach's logs=1 replay). */
export function readLogSync(file: string): LogEntry[] {
  const out: LogEntry[] = [];
  for (const f of logFiles(file)) {
    let text: string;
    try {
      text = textOf(fs.readFileSync(f), f.endsWith('.gz'));
    } catch {
      continue;
    }
    entriesOf(text, { stdout: true, stderr: true }, out);
  }
  return out;
}
