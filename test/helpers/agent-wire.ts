/**
 * A host connection to the agent's channels spoken on the wire, for the cases that need what
 * AgentClient never does: leaving a frame half-sent when it goes.
 */
import * as net from 'node:net';
import { encodeHeader } from '../../src/vm/agent/codec';
import { connectUnix, newSyncNonce, syncChannel } from '../../src/vm/agent/connect';
import { FrameType, Op, Stream } from '../../src/vm/agent/protocol';

/** A channel of the agent, as the conformance suite names them. */
export type ChannelName = 'control' | 'stream';

/**
 * The first part of a well-formed frame for `channel`: a header promising `length` bytes and
 * only some of them, so the agent waits for the rest.
 */
export function partialFrame(channel: ChannelName, length = 4096): Buffer {
  const header =
    channel === 'control'
      ? encodeHeader(Op.PING, 0, 0x7fff0001, length)
      : encodeHeader(FrameType.DATA, Stream.STDIN, 0x7fff0001, length);
  return Buffer.concat([header, Buffer.alloc(length / 4, 0x61)]);
}

/**
 * Connect to both channels, SYNC them, write the first part of a frame on each channel in
 * `partial`, and return the two sockets, still open (the caller destroys them).
 */
export async function connectAndLeaveMidFrame(
  ctlPath: string,
  ioPath: string,
  partial: ChannelName[],
): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  const deadline = Date.now() + 20_000;
  try {
    const ctl = await connectUnix(ctlPath, deadline, sockets);
    const io = await connectUnix(ioPath, deadline, sockets);
    const nonce = newSyncNonce();
    await Promise.all([syncChannel(ctl, 'control', nonce), syncChannel(io, 'stream', nonce)]);
    const written = partial.map(
      (ch) => new Promise<void>((resolve) => (ch === 'control' ? ctl : io).write(partialFrame(ch), () => resolve())),
    );
    await Promise.all(written);
    return sockets;
  } catch (e) {
    for (const s of sockets) s.destroy();
    throw e;
  }
}
