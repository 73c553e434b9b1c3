/**
 * Protocol negotiation of an incoming streaming request: which transport (SPDY/3.1 upgrade or
 * websocket) and which subprotocol version, with the kubelet's answers when nothing fits.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** remotecommand over SPDY, most preferred first (the kubelet's SupportedStreamingProtocols). */
export const REMOTECOMMAND_SPDY_PROTOCOLS = [
  'v4.channel.k8s.io',
  'v3.channel.k8s.io',
  'v2.channel.k8s.io',
  'channel.k8s.io',
] as const;
/** port-forward over SPDY. */
export const PORTFORWARD_SPDY_PROTOCOLS = ['portforward.k8s.io'] as const;
/** remotecommand over websocket ('' is a client that names none: binary channels). */
export const REMOTECOMMAND_WS_PROTOCOLS = [
  'v5.channel.k8s.io',
  'v4.channel.k8s.io',
  'v4.base64.channel.k8s.io',
  'channel.k8s.io',
  'base64.channel.k8s.io',
] as const;
/** port-forward over websocket. */
export const PORTFORWARD_WS_PROTOCOLS = ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io'] as const;

/** A request the server answers with an HTTP error instead of an upgrade. */
export class NegotiationError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string[]> = {},
  ) {
    super(message);
  }
}

function values(h: string | string[] | undefined): string[] {
  const all = Array.isArray(h) ? h : h === undefined ? [] : [h];
  return all
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
}

function connectionUpgrade(headers: IncomingHttpHeaders): boolean {
  return values(headers.connection).some((v) => v.toLowerCase() === 'upgrade');
}

/** Whether this is a websocket upgrade (Upgrade: websocket, Connection: ...upgrade...). */
export function isWebSocketRequest(headers: IncomingHttpHeaders): boolean {
  return (headers.upgrade ?? '').toLowerCase() === 'websocket' && connectionUpgrade(headers);
}

/**
 * SPDY: picks the first protocol the client lists (X-Stream-Protocol-Version, repeated or comma
 * separated) that the server accepts, then checks the upgrade headers. Errors as the kubelet:
 * none listed 400, none in common 403 (with X-Accepted-Stream-Protocol-Versions), not an
 * upgrade to SPDY/3.1 400.
 */
export function negotiateSpdy(headers: IncomingHttpHeaders, server: readonly string[]): string {
  const client = values(headers['x-stream-protocol-version']);
  if (client.length === 0) {
    throw new NegotiationError(400, 'unable to upgrade: X-Stream-Protocol-Version is required');
  }
  const chosen = client.find((p) => server.includes(p));
  if (!chosen) {
    throw new NegotiationError(
      403,
      `unable to upgrade: unable to negotiate protocol: client supports [${client.join(' ')}], server accepts [${server.join(' ')}]`,
      { 'X-Accepted-Stream-Protocol-Versions': [...server] },
    );
  }
  if (!connectionUpgrade(headers) || (headers.upgrade ?? '').toLowerCase() !== 'spdy/3.1') {
    throw new NegotiationError(400, 'unable to upgrade: missing upgrade headers in request');
  }
  return chosen;
}

/**
 * Websocket: the first subprotocol the client offers (Sec-WebSocket-Protocol) that the server
 * accepts, or '' when it offers none; offering only unknown ones is refused with 403, as Go's
 * websocket server does.
 */
export function negotiateWebSocket(headers: IncomingHttpHeaders, server: readonly string[]): string {
  const client = values(headers['sec-websocket-protocol']);
  if (client.length === 0) return '';
  const chosen = client.find((p) => server.includes(p));
  if (!chosen) {
    throw new NegotiationError(
      403,
      `requested protocol(s) are not supported: [${client.join(' ')}]; supports [${server.join(' ')}]`,
    );
  }
  return chosen;
}
