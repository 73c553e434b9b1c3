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

/** The payload length of the frames partialFrame begins. */
const PARTIAL_LENGTH = 4096;

/**
 * The first part of a well-formed frame for `channel` (a PING on the control channel, stdin
 * DATA for a handle no process has on the stream channel): a header promising
 * PARTIAL_LENGTH payload bytes, and all of them but `missing`, so the agent waits for those.
 */
export function partialFrame(channel: ChannelName, missing: number): Buffer {
  const header =
    channel === 'control'
      ? encodeHeader(Op.PING, 0, 0x7fff0001, PARTIAL_LENGTH)
      : encodeHeader(FrameType.DATA, Stream.STDIN, 0x7fff0001, PARTIAL_LENGTH);
  return Buffer.concat([header, Buffer.alloc(PARTIAL_LENGTH - missing, 0x61)]);
}

/**
 * Connect to both channels, SYNC them, write the first part of a frame (partialFrame, short
 * by `missing` bytes) on each channel in `partial`, and return the two sockets, still open
 * (the caller destroys them).
 */
export async function connectAndLeaveMidFrame(
  ctlPath: string,
  ioPath: string,
  partial: ChannelName[],
  missing: number,
): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  const deadline = Date.now() + 20_000;
  try {
    const ctl = await connectUnix(ctlPath, deadline, sockets);
    const io = await connectUnix(ioPath, deadline, sockets);
    const nonce = newSyncNonce();
    await Promise.all([syncChannel(ctl, 'control', nonce), syncChannel(io, 'stream', nonce)]);
    const written = partial.map(
      (ch) =>
        new Promise<void>((resolve) => (ch === 'control' ? ctl : io).write(partialFrame(ch, missing), () => resolve())),
    );
    await Promise.all(written);
    return sockets;
  } catch (e) {
    for (const s of sockets) s.destroy();
    throw e;
  }
}
