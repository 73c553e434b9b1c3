/**
 * The k8s websocket channel protocols: each message starts with its channel number, one byte
 * (binary protocols) or one ASCII digit before base64 data (the base64 protocols). v5 adds a
 * close signal: channel 255 with the number of the channel the sender closed.
 */
import { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

/** The channel number of v5's close signal. */
export const CLOSE_CHANNEL = 255;

/** Frames and unframes messages of one websocket for a negotiated subprotocol. */
export class ChannelCodec {
  readonly base64: boolean;

  constructor(protocol: string) {
    this.base64 = protocol.includes('base64');
  }

  /** The message that carries `data` on `channel`. */
  encode(channel: number, data: Buffer): Buffer | string {
    if (this.base64) return String.fromCharCode(48 + channel) + data.toString('base64');
    return Buffer.concat([Buffer.from([channel]), data]);
  }

  /** A received message as channel and data; undefined for an empty or undecodable one. */
  decode(message: Buffer, isBinary: boolean): { channel: number; data: Buffer } | undefined {
    if (message.length === 0) return undefined;
    if (this.base64) {
      if (isBinary) return undefined;
      const text = message.toString('latin1');
      const data = text.slice(1);
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data)) return undefined;
      return { channel: text.charCodeAt(0) - 48, data: Buffer.from(data, 'base64') };
    }
    return { channel: message[0], data: message.subarray(1) };
  }
}

/**
 * One channel of a websocket as a Duplex: writes go out as messages on the channel (the callback
 * once the socket took them), and deliver() feeds what arrived on it to the readable side.
 */
export class WsChannel extends Duplex {
  constructor(
    private readonly ws: WebSocket,
    private readonly codec: ChannelCodec,
    /** The channel number. */
    readonly channel: number,
  ) {
    super({ allowHalfOpen: true });
  }

  /** Data the client sent on this channel. */
  deliver(data: Buffer): void {
    if (!this.readableEnded && data.length > 0) this.push(data);
  }

  /** The client closed this channel (v5) or the connection ended. */
  endInput(): void {
    if (!this.readableEnded) this.push(null);
  }

  /** Sends a message on the channel even when empty (the kubelet's readiness message). */
  sendRaw(data: Buffer): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(this.codec.encode(this.channel, data));
  }

  override _read(): void {
    // Messages are pushed as they arrive.
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.ws.readyState !== this.ws.OPEN) return cb();
    this.ws.send(this.codec.encode(this.channel, chunk), () => cb());
  }
}
