/**
 * A long-lived perl process that makes system calls Node has no binding for, fed one request
 * line at a time (src/util/mounter.ts: mount(2); src/net/link-helper.ts: netlink). A process
 * per call would cost a fork and exec of the daemon's large process and the tool's start
 * (2.5-7 ms of CPU each, on the path of every container start); a request to the helper costs
 * a pipe round trip (~0.1-0.3 ms). perl-base is Essential in Debian, so the helper is always
 * there and nothing has to be built.
 *
 * Protocol: one request per line on the helper's stdin (the caller's own format, which must
 * not contain a newline: hex-encode strings), and one answer line per request, in order:
 * `0` for success (`0 <value>` where the caller wants one), or `<errno> <message>`. The helper is started on the first request,
 * restarted on the next request after it died, and killed when a request takes longer than
 * the timeout (everything queued behind it fails with it). While requests are pending it keeps
 * the daemon's event loop alive; idle, it does not.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { UnavailableError } from '../errors';

interface Pending {
  describe: string;
  /** With the text after the `0` (query), or nothing (request). */
  resolve: (rest: string) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** One perl helper process answering request lines (see the module comment). */
export class PerlLineHelper {
  private helper: ChildProcessWithoutNullStreams | undefined;
  private readonly pending: Pending[] = [];
  private partial = '';

  /**
   * `script`: the perl program (it must answer every line, flush each answer, and exit at the
   * end of its input); `name`: what it is, for error messages; `timeoutMs`: the longest a
   * request may take.
   */
  constructor(
    private readonly script: string,
    private readonly name: string,
    private readonly timeoutMs: number,
  ) {}

  /** Send `line`; resolves on `0`, rejects with UnavailableError(`<describe>: <message>`) otherwise. */
  async request(line: string, describe: string): Promise<void> {
    await this.query(line, describe);
  }

  /**
   * Send `line`; resolves on `0 <rest>` (or `0`) with `rest` and the pid of the helper that
   * answered (whose fds the answer may name), rejects otherwise with UnavailableError
   * (`<describe>: <message>`) whose `errno` is the helper's.
   */
  query(line: string, describe: string): Promise<{ answer: string; pid: number }> {
    const helper = this.start();
    const pid = helper.pid ?? 0;
    return new Promise<{ answer: string; pid: number }>((resolve, reject) => {
      const timer = setTimeout(() => {
        // A hung request: the helper cannot be trusted any more. Everything queued behind
        // this request fails with it (exit handler).
        helper.kill('SIGKILL');
      }, this.timeoutMs);
      timer.unref();
      if (this.pending.length === 0) holdOpen(helper, true);
      this.pending.push({ describe, resolve: (answer) => resolve({ answer, pid }), reject, timer });
      helper.stdin.write(`${line}\n`);
    });
  }

  /** The helper's pid while one runs (diagnostics and tests). */
  get pid(): number | undefined {
    return this.helper?.pid;
  }

  /** Stop the helper (pending requests fail); a later request starts a new one. */
  close(): void {
    this.helper?.stdin.end();
    this.helper = undefined;
  }

  private start(): ChildProcessWithoutNullStreams {
    if (this.helper) return this.helper;
    const helper = spawn('perl', ['-e', this.script], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.helper = helper;
    helper.stdout.setEncoding('utf8');
    helper.stdout.on('data', (chunk: string) => this.onOutput(chunk));
    let stderr = '';
    helper.stderr.setEncoding('utf8');
    helper.stderr.on('data', (t: string) => (stderr = (stderr + t).slice(-500)));
    helper.stdin.on('error', () => undefined); // an exit is reported by 'exit'
    helper.on('error', (err) => this.onExit(helper, err.message));
    helper.on('exit', (code, signal) =>
      this.onExit(helper, `${this.name} exited (${signal ?? code})${stderr ? `: ${stderr.trim()}` : ''}`),
    );
    holdOpen(helper, false);
    return helper;
  }

  private onOutput(chunk: string): void {
    this.partial += chunk;
    let nl: number;
    while ((nl = this.partial.indexOf('\n')) >= 0) {
      const line = this.partial.slice(0, nl);
      this.partial = this.partial.slice(nl + 1);
      const p = this.pending.shift();
      if (!p) continue;
      clearTimeout(p.timer);
      if (this.pending.length === 0 && this.helper) holdOpen(this.helper, false);
      if (line === '0' || line.startsWith('0 ')) p.resolve(line.slice(2));
      else {
        const errno = /^(\d+) /.exec(line)?.[1];
        const e = new UnavailableError(`${p.describe}: ${line.replace(/^\d+ /, '')}`);
        p.reject(errno ? Object.assign(e, { errno: Number(errno) }) : e);
      }
    }
  }

  private onExit(helper: ChildProcessWithoutNullStreams, why: string): void {
    if (this.helper === helper) this.helper = undefined;
    this.partial = '';
    for (const p of this.pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(new UnavailableError(`${p.describe}: ${why}`));
    }
  }
}

/** While requests are pending the helper keeps the process alive; idle, it must not. */
function holdOpen(helper: ChildProcessWithoutNullStreams, hold: boolean): void {
  for (const h of [helper, helper.stdin, helper.stdout, helper.stderr] as Array<{
    ref?: () => void;
    unref?: () => void;
  }>) {
    if (hold) h.ref?.();
    else h.unref?.();
  }
}
