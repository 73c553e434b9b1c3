/**
 * Test clients of the CRI streaming server, speaking as client-go does: a SPDY/3.1 upgrade with
 * X-Stream-Protocol-Version and one stream per standard stream (remotecommand) or a pair per
 * connection (portforward), and the k8s websocket channel protocols through `ws`.
 */
import * as http from 'node:http';
import { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { SpdyConnection } from '../../../../../src/api/cri/streaming/spdy/connection';
import type { TerminalSize } from '../../../../../src/api/cri/streaming/types';

/** An HTTP answer that was not an upgrade. */
export class HttpRefusal extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    readonly headers: http.IncomingHttpHeaders,
  ) {
    super(`HTTP ${status}: ${body}`);
  }
}

/** Upgrades to SPDY/3.1 offering `protocols`; resolves with the session and the chosen protocol. */
export function spdyDial(
  url: string,
  protocols: string[],
  opts: { method?: string; upgradeHeaders?: boolean } = {},
): Promise<{ conn: SpdyConnection; protocol: string; socket: Duplex }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[]> = {};
    if (protocols.length) headers['X-Stream-Protocol-Version'] = protocols;
    if (opts.upgradeHeaders !== false) {
      headers.Connection = 'Upgrade';
      headers.Upgrade = 'SPDY/3.1';
    }
    const req = http.request(url, { method: opts.method ?? 'POST', headers });
    req.on('upgrade', (res, socket, head) => {
      if (head.length) socket.unshift(head);
      const conn = new SpdyConnection(socket, { server: false });
      resolve({ conn, protocol: String(res.headers['x-stream-protocol-version']), socket });
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => reject(new HttpRefusal(res.statusCode ?? 0, body, res.headers)));
    });
    req.on('error', reject);
    req.end();
  });
}

/** What a remotecommand session gave back. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  /** The raw bytes of the error stream / channel. */
  error: string;
}

/** Options of a test exec or attach. */
export interface SessionInput {
  stdin?: string;
  stdout?: boolean;
  stderr?: boolean;
  tty?: boolean;
  resize?: TerminalSize[];
  /** Written to stdin before `stdin` ends, each after the previous output was seen. */
}

function collect(s: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    s.on('data', (c: Buffer) => (out += c.toString('utf8')));
    s.on('end', () => resolve(out));
    s.on('close', () => resolve(out));
  });
}

/**
 * A remotecommand session over SPDY the way client-go's v4/v3/v2 executors run one: error stream
 * first, then stdin, stdout, stderr, resize; stdin written and closed; output read to its end.
 */
export async function spdyRemoteCommand(
  url: string,
  input: SessionInput,
  protocols = ['v4.channel.k8s.io'],
): Promise<ExecResult & { protocol: string }> {
  const { conn, protocol } = await spdyDial(url, protocols);
  const error = await conn.createStream({ streamtype: ['error'] });
  const errorText = collect(error);
  error.end();
  const stdin = input.stdin !== undefined ? await conn.createStream({ streamtype: ['stdin'] }) : undefined;
  const stdout = input.stdout ? await conn.createStream({ streamtype: ['stdout'] }) : undefined;
  const stderr = input.stderr ? await conn.createStream({ streamtype: ['stderr'] }) : undefined;
  const resize =
    input.tty && protocol !== 'v2.channel.k8s.io' && protocol !== 'channel.k8s.io'
      ? await conn.createStream({ streamtype: ['resize'] })
      : undefined;
  for (const size of input.resize ?? []) resize?.write(JSON.stringify({ Width: size.width, Height: size.height }));
  const out = stdout ? collect(stdout) : Promise.resolve('');
  const err = stderr ? collect(stderr) : Promise.resolve('');
  if (stdin) stdin.end(input.stdin);
  const result = { stdout: await out, stderr: await err, error: await errorText, protocol };
  conn.destroy();
  return result;
}

/**
 * A websocket to the server offering `protocols`, recording from the start (the server may send
 * in the same packet as its 101); rejects with HttpRefusal if not upgraded.
 */
export function wsDial(
  url: string,
  protocols: string[],
  onMessage?: (ws: WebSocket, channel: number, data: Buffer) => void,
): Promise<WebSocket & { transcript: Promise<WsTranscript> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), protocols) as WebSocket & {
      transcript: Promise<WsTranscript>;
    };
    ws.transcript = wsRecord(ws, (ch, d) => onMessage?.(ws, ch, d));
    ws.on('open', () => resolve(ws));
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => reject(new HttpRefusal(res.statusCode ?? 0, body, res.headers)));
    });
    ws.on('error', reject);
  });
}

/** The messages of a websocket session, by channel, in arrival order. */
export interface WsTranscript {
  /** Every message as [channel, data]. */
  messages: [number, Buffer][];
  /** The concatenated data of a channel. */
  text(channel: number): string;
  closeCode: number;
}

/** Decodes a message of a channel protocol. */
export function decodeWs(protocol: string, message: Buffer, isBinary: boolean): [number, Buffer] {
  if (protocol.includes('base64')) {
    expect(isBinary).toBe(false);
    const text = message.toString('latin1');
    return [text.charCodeAt(0) - 48, Buffer.from(text.slice(1), 'base64')];
  }
  expect(isBinary).toBe(true);
  return [message[0], message.subarray(1)];
}

/** Encodes a message of a channel protocol. */
export function encodeWs(protocol: string, channel: number, data: Buffer | string): Buffer | string {
  const b = Buffer.from(data);
  if (protocol.includes('base64')) return String.fromCharCode(48 + channel) + b.toString('base64');
  return Buffer.concat([Buffer.from([channel]), b]);
}

/** Records a websocket's messages until it closes; `onMessage` may answer as they come. */
function wsRecord(ws: WebSocket, onMessage?: (channel: number, data: Buffer) => void): Promise<WsTranscript> {
  const messages: [number, Buffer][] = [];
  return new Promise((resolve) => {
    ws.on('message', (m: Buffer, isBinary: boolean) => {
      const [ch, data] = decodeWs(ws.protocol, m, isBinary);
      messages.push([ch, data]);
      onMessage?.(ch, data);
    });
    ws.on('close', (code: number) =>
      resolve({
        messages,
        closeCode: code,
        text: (channel) => Buffer.concat(messages.filter(([c]) => c === channel).map(([, d]) => d)).toString('utf8'),
      }),
    );
  });
}
