/**
 * A minimal QMP (QEMU Machine Protocol) client: connect to the VM's qmp.sock, negotiate
 * capabilities, run commands. The daemon connects only for the moment of a command, so a
 * restarted daemon (or a second client) never finds the monitor busy.
 */
import * as net from 'node:net';
import { UnavailableError } from '../../errors';
import { connectVmSocket } from '../../util/jailed-files';

interface QmpReply {
  return?: unknown;
  error?: { class: string; desc: string };
  event?: string;
  QMP?: unknown;
  id?: number;
}

/** One QMP connection. */
export class QmpClient {
  private buf = '';
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private closedError: Error | undefined;

  private constructor(private readonly sock: net.Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => this.onData(d));
    const fail = (err?: Error) => {
      this.closedError ??= new UnavailableError(`QMP connection closed${err ? `: ${err.message}` : ''}`);
      for (const p of this.pending.values()) p.reject(this.closedError);
      this.pending.clear();
    };
    sock.on('error', fail);
    sock.on('close', () => fail());
  }

  /** Connect to `path`, read the greeting and leave capabilities negotiation mode. */
  static async connect(path: string, timeoutMs = 2000): Promise<QmpClient> {
    let sock: net.Socket;
    try {
      // QEMU made it, in a directory it writes: never through a symlink (src/util/jailed-files.ts).
      sock = connectVmSocket(path);
    } catch (err) {
      throw new UnavailableError(`cannot talk to QEMU's monitor ${path}: ${(err as Error).message}`);
    }
    const timer = setTimeout(() => sock.destroy(new Error(`no QMP greeting within ${timeoutMs} ms`)), timeoutMs);
    try {
      const greeting = await new Promise<QmpClient>((resolve, reject) => {
        sock.once('error', reject);
        let early = '';
        const onGreeting = (d: Buffer) => {
          early += d.toString('utf8');
          const nl = early.indexOf('\n');
          if (nl < 0) return;
          sock.off('data', onGreeting);
          sock.off('error', reject);
          const client = new QmpClient(sock);
          client.buf = early.slice(nl + 1);
          resolve(client);
        };
        sock.on('data', onGreeting);
      });
      await greeting.execute('qmp_capabilities');
      return greeting;
    } catch (err) {
      sock.destroy();
      throw new UnavailableError(`cannot talk to QEMU's monitor ${path}: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  private onData(d: string): void {
    this.buf += d;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (!line) continue;
      let msg: QmpReply;
      try {
        msg = JSON.parse(line) as QmpReply;
      } catch {
        continue;
      }
      if (typeof msg.id !== 'number') continue; // events
      const p = this.pending.get(msg.id);
      if (!p) continue;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new UnavailableError(`QMP: ${msg.error.class}: ${msg.error.desc}`));
      else p.resolve(msg.return);
    }
  }

  /** Run one command and return its `return` value. */
  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.sock.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id }) + '\n');
    });
  }

  /** Close the connection (QEMU keeps running). */
  close(): void {
    this.sock.destroy();
  }
}

/** Connect, run one command, disconnect. */
export function qmpCommand(
  path: string,
  command: string,
  args?: Record<string, unknown>,
  timeoutMs = 2000,
): Promise<unknown> {
  return withQmp(path, timeoutMs, (c) => c.execute(command, args), `QMP ${command}`);
}

/**
 * Connect once and run `steps` on that connection, one command after another (each awaited),
 * within `timeoutMs` in all (a timeout's error starts with `what`); disconnect. Several
 * commands then cost one connection and one capabilities round trip, not one of each per
 * command.
 */
export async function withQmp<T>(
  path: string,
  timeoutMs: number,
  steps: (c: QmpClient) => Promise<T>,
  what = 'QMP',
): Promise<T> {
  const c = await QmpClient.connect(path, timeoutMs);
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new UnavailableError(`${what}: no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    return await Promise.race([steps(c), timeout]);
  } finally {
    clearTimeout(timer);
    c.close();
  }
}

/**
 * QMP on a QEMU just started: its socket file exists from bind(2) a moment before QEMU listens,
 * so a refused connection is retried for a second.
 */
export async function connectWhenListening(sock: string): Promise<QmpClient> {
  const deadline = Date.now() + 1000;
  for (;;) {
    try {
      return await QmpClient.connect(sock);
    } catch (err) {
      if (!/ECONNREFUSED/.test((err as Error).message) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}
