/**
 * How much of a container's output its json-file log durably holds, kept beside the log in
 * `<log>.pos` so that a daemon killed with SIGKILL loses and duplicates nothing: the next
 * daemon asks the guest agent to re-send each stream from there (AgentClient.reattach).
 *
 * The offsets count the raw bytes of the init's stdout and stderr (stream offsets, as the
 * agent counts them), not the JSON text. Before each entry is appended, one positional write
 * records the state before and after it:
 *
 *   "PVLOGPOS" | before: size, stdout, stderr | after: size, stdout, stderr   (u64 LE each)
 *
 * where size is the current log file's length. On recovery the file's real length tells
 * which holds: the whole entry is there (after), it never started (before), or it is torn
 * (cut back to before). A length below `before` means the file was rotated after the entry
 * was complete (rotation happens only between entries). Nothing here is fsync'd: a killed
 * daemon loses nothing the kernel already has; a host crash is out of scope.
 */
import * as fs from 'node:fs';

/** Stream offsets and the log file length they belong to. */
export interface LogPoint {
  size: number;
  stdout: number;
  stderr: number;
}

const MAGIC = Buffer.from('PVLOGPOS');
const RECORD = MAGIC.length + 6 * 8;

/** The side file of a log. */
export function positionFile(logFile: string): string {
  return `${logFile}.pos`;
}

/** Encode a before/after record. */
export function encodePosition(before: LogPoint, after: LogPoint): Buffer {
  const b = Buffer.alloc(RECORD);
  MAGIC.copy(b, 0);
  [before.size, before.stdout, before.stderr, after.size, after.stdout, after.stderr].forEach((v, i) =>
    b.writeBigUInt64LE(BigInt(v), MAGIC.length + 8 * i),
  );
  return b;
}

/** Decode a record; undefined when it is missing, short, foreign or out of range. */
export function decodePosition(b: Buffer): { before: LogPoint; after: LogPoint } | undefined {
  if (b.length < RECORD || !b.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const v: number[] = [];
  for (let i = 0; i < 6; i++) {
    const n = b.readBigUInt64LE(MAGIC.length + 8 * i);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
    v.push(Number(n));
  }
  const before = { size: v[0], stdout: v[1], stderr: v[2] };
  const after = { size: v[3], stdout: v[4], stderr: v[5] };
  if (after.size < before.size || after.stdout < before.stdout || after.stderr < before.stderr) return undefined;
  return { before, after };
}

/** Keeps the side file of one log open and rewrites its record in place. */
export class PositionFile {
  private fd: number | null = null;

  constructor(readonly file: string) {}

  /** Record the state before and after the entry about to be appended (throws on failure). */
  write(before: LogPoint, after: LogPoint): void {
    if (this.fd === null) this.fd = fs.openSync(this.file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o640);
    const rec = encodePosition(before, after);
    for (let off = 0; off < rec.length; ) off += fs.writeSync(this.fd, rec, off, rec.length - off, off);
  }

  /** Close the descriptor (it reopens on the next write). */
  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

/**
 * After a daemon restart: the offsets the log `logFile` durably holds, with a torn last
 * entry cut off. Undefined when there is no usable record (a log of an older daemon).
 */
export function recoverPosition(logFile: string): { stdout: number; stderr: number } | undefined {
  let rec: ReturnType<typeof decodePosition>;
  try {
    rec = decodePosition(fs.readFileSync(positionFile(logFile)));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  if (!rec) return undefined;
  let size = 0;
  try {
    size = fs.statSync(logFile).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (size >= rec.after.size || size < rec.before.size) return { stdout: rec.after.stdout, stderr: rec.after.stderr };
  if (size > rec.before.size) fs.truncateSync(logFile, rec.before.size);
  return { stdout: rec.before.stdout, stderr: rec.before.stderr };
}
