/**
 * Sending one fuzz case over a raw unix-socket connection and reading what comes back:
 * the status, the start of the body, or that the connection was closed, or that nothing
 * happened within the bound (a hang).
 */
import * as net from 'node:net';
import { requestHead, type FuzzCase } from './cases';

/** What the daemon did with one case. */
export interface Outcome {
  /** HTTP status of the answer, when one came. */
  status?: number;
  /** The first bytes of the answer's body (for the error-format check). */
  body?: string;
  contentType?: string;
  /** Closed without an answer (acceptable for transport-level garbage). */
  closed: boolean;
  /** Neither an answer nor a close within the bound. */
  hung: boolean;
  ms: number;
}

/** How long a case may take before it counts as a hang. */
export const CASE_BOUND_MS = 15000;

/** Send `c` to the daemon on `socketPath`. Never rejects. */
export function sendCase(socketPath: string, c: FuzzCase, boundMs = CASE_BOUND_MS): Promise<Outcome> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const sock = net.connect(socketPath);
    let got = Buffer.alloc(0);
    let done = false;
    const finish = (o: Omit<Outcome, 'ms'>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ ...o, ms: Date.now() - t0 });
    };
    const parse = (final: boolean) => {
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) {
        if (final) finish({ closed: true, hung: false });
        return;
      }
      const head = got.subarray(0, end).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (!m) return finish({ closed: true, hung: false });
      const status = Number(m[1]);
      const ct = /\r\ncontent-type: *([^\r\n]*)/i.exec(head)?.[1];
      const body = got.subarray(end + 4);
      // An error answer is read whole (its length is given, or the connection closes after
      // it: the request said Connection: close); a success may be an endless stream and is
      // judged on its status.
      const len = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (final || status < 300 || status === 304 || c.method === 'HEAD' || (len && body.length >= Number(len[1]))) {
        finish({ status, body: body.toString('utf8'), contentType: ct, closed: false, hung: false });
      }
    };
    const timer = setTimeout(() => finish({ closed: false, hung: true }), boundMs);
    sock.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]).subarray(0, 1024 * 1024);
      parse(false);
    });
    sock.on('close', () => parse(true));
    sock.on('error', () => undefined);
    sock.on('connect', () => {
      if (c.delivery === 'abort') {
        sock.write(Buffer.concat([requestHead(c), c.body]));
        setTimeout(() => finish({ closed: true, hung: false }), 20);
        return;
      }
      sock.write(requestHead(c));
      if (c.body.length) sock.write(c.body);
      if (!c.bulk) return;
      // Stream the big body, honouring back-pressure, until done or the daemon closes.
      const chunk = Buffer.alloc(256 * 1024, 0x61);
      let left = c.bulk;
      const pump = () => {
        while (left > 0 && !sock.destroyed && !done) {
          const n = Math.min(left, chunk.length);
          left -= n;
          if (!sock.write(chunk.subarray(0, n))) {
            sock.once('drain', pump);
            return;
          }
        }
        if (left <= 0 && !sock.destroyed) sock.write('"]');
      };
      pump();
    });
  });
}

/**
 * Open a slow-loris connection: headers trickled a few bytes at a time, never finished.
 * Resolves with how long the daemon kept it open (capped at `maxMs`).
 */
export function slowLoris(
  socketPath: string,
  maxMs: number,
  everyMs = 500,
): Promise<{ closedByDaemon: boolean; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const sock = net.connect(socketPath);
    const line = Buffer.from('GET /containers/json HTTP/1.1\r\nHost: docker\r\nX-Slow: ');
    let sent = 0;
    let tick: NodeJS.Timeout | undefined;
    const end = (closedByDaemon: boolean) => {
      if (tick) clearInterval(tick);
      clearTimeout(cap);
      sock.destroy();
      resolve({ closedByDaemon, ms: Date.now() - t0 });
    };
    const cap = setTimeout(() => end(false), maxMs);
    sock.on('error', () => undefined);
    sock.on('close', () => end(true));
    // Read (and drop) the answer, or the daemon's close would never be seen.
    sock.resume();
    sock.on('connect', () => {
      tick = setInterval(() => {
        if (sent < line.length) sock.write(line.subarray(sent, ++sent));
        else sock.write('a');
      }, everyMs);
    });
  });
}
