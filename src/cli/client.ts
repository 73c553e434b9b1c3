/**
 * The CLI's connection to podvisord: JSON requests to the native API (/v1/pods, /v1/vms) and
 * to the Docker API on the same socket (pull, info, attach, exec), over a unix socket or TCP.
 * The address is -H, else PODVISOR_HOST, else the daemon's default socket.
 */
import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import type { NativeErrorBody } from '../api/native/wire';

/** podvisord's default socket (the daemon's -H default). */
export const DEFAULT_HOST = 'unix:///run/podvisor/docker.sock';

/**
 * A failure the CLI reports and exits on: its message says what to do; `code` is the exit
 * code; `missingImage`: the daemon answered that this image is not local (it can be pulled).
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly missingImage?: string,
  ) {
    super(message);
  }
}

/** Exit codes a script can rely on. */
export const EXIT = {
  /** The daemon refused or failed the request (its message is printed). */
  failed: 1,
  /** Bad usage: unknown command, missing or wrong argument. */
  usage: 2,
  /** The daemon could not be reached. */
  unreachable: 3,
  /** The pod or VM named does not exist. */
  notFound: 4,
  /** The pod or VM is in a state that forbids the operation (e.g. running, associated). */
  conflict: 5,
} as const;

/** Where the daemon listens: a unix socket path or a TCP host and port. */
export type Endpoint = { socketPath: string } | { host: string; port: number };

/** Parse -H / PODVISOR_HOST. */
export function endpointOf(host: string | undefined): Endpoint {
  const h = host || process.env.PODVISOR_HOST || DEFAULT_HOST;
  if (h.startsWith('unix://')) return { socketPath: h.slice('unix://'.length) };
  if (h.startsWith('/')) return { socketPath: h };
  const m = /^(?:tcp:\/\/)?([^:/]+):(\d+)\/?$/.exec(h);
  if (!m) throw new CliError(`bad host "${h}": use unix:///path/to/socket or tcp://HOST:PORT`, EXIT.usage);
  return { host: m[1], port: Number(m[2]) };
}

/** A JSON answer. */
export interface Answer<T = unknown> {
  status: number;
  body: T;
}

/** The daemon's client (see the module comment). */
export class Client {
  constructor(
    readonly endpoint: Endpoint,
    readonly hostText: string,
  ) {}

  private unreachable(err: Error): CliError {
    return new CliError(
      `cannot reach podvisord at ${this.hostText}: ${err.message}. ` +
        'Is it running (npm start)? Set the address with -H or PODVISOR_HOST.',
      EXIT.unreachable,
    );
  }

  /**
   * Send a request; resolves with the raw response (the caller reads it). The body is sent as
   * JSON, or as it is when `contentType` names another type (a YAML pod file).
   */
  raw(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const data =
        body === undefined
          ? undefined
          : Buffer.from(contentType === 'application/json' ? JSON.stringify(body) : String(body));
      const req = http.request({
        ...this.endpoint,
        method,
        path,
        headers: { ...(data ? { 'Content-Type': contentType, 'Content-Length': data.length } : {}), Host: 'podvisor' },
      });
      req.once('response', resolve);
      req.once('error', (err) => reject(this.unreachable(err)));
      req.end(data);
    });
  }

  /** A JSON request; a 4xx/5xx answer becomes a CliError with the daemon's message. */
  async json<T>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
    const res = await this.raw(method, path, body, contentType);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const status = res.statusCode ?? 0;
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    if (status >= 400) throw errorOf(status, parsed);
    return parsed as T;
  }

  /**
   * A hijacked stream (Docker's attach and exec start): resolves with the raw socket once the
   * daemon has switched protocols.
   */
  hijack(path: string, body?: unknown): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body));
      const req = http.request({
        ...this.endpoint,
        method: 'POST',
        path,
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': data.length,
          Connection: 'Upgrade',
          Upgrade: 'tcp',
          Host: 'podvisor',
        },
      });
      req.once('upgrade', (_res, socket, head) => {
        if (head.length) socket.unshift(head);
        resolve(socket);
      });
      req.once('response', async (res) => {
        const chunks: Buffer[] = [];
        for await (const c of res) chunks.push(c as Buffer);
        let parsed: unknown = Buffer.concat(chunks).toString('utf8');
        try {
          parsed = JSON.parse(parsed as string);
        } catch {
          // plain text
        }
        reject(errorOf(res.statusCode ?? 500, parsed));
      });
      req.once('error', (err) => reject(this.unreachable(err)));
      req.end(data);
    });
  }
}

/** The CliError of a failed answer: the daemon's message, an exit code by status. */
export function errorOf(status: number, body: unknown): CliError {
  const wire = body && typeof body === 'object' ? (body as Partial<NativeErrorBody>) : undefined;
  const msg =
    typeof wire?.message === 'string' ? wire.message : typeof body === 'string' && body ? body : `HTTP ${status}`;
  const hint = /^no pod matches/.test(msg)
    ? ' (podvisor list shows the pods)'
    : /^no such VM/.test(msg)
      ? ' (podvisor list vms shows the VMs)'
      : '';
  if (hint) return new CliError(msg + hint, EXIT.notFound);
  const code =
    status === 404 ? EXIT.notFound : status === 409 ? EXIT.conflict : status === 400 ? EXIT.usage : EXIT.failed;
  const image = status === 404 ? wire?.image : undefined;
  return new CliError(msg, code, typeof image === 'string' && image ? image : undefined);
}
