/**
 * port-forward over a websocket (portforward.k8s.io and v4.channel.k8s.io): one connection per
 * forwarded TCP connection, two channels per port of the request (data 2i, error 2i+1). As the
 * kubelet, the server first sends each channel's port, little-endian 16 bits, then the data; the
 * websocket closes when every port's forwarding is done.
 */
import type { WebSocket } from 'ws';
import { endWritable } from './session';
import { StreamingBackend } from './types';
import { ChannelCodec, WsChannel } from './ws-channels';

/** Serves one accepted websocket forwarding `ports` of `podSandboxId`. */
export async function servePortForwardWs(
  ws: WebSocket,
  protocol: string,
  podSandboxId: string,
  ports: number[],
  backend: StreamingBackend,
): Promise<void> {
  const codec = new ChannelCodec(protocol);
  const abort = new AbortController();
  const pairs = ports.map((port, i) => ({
    port,
    data: new WsChannel(ws, codec, 2 * i),
    error: new WsChannel(ws, codec, 2 * i + 1),
  }));
  ws.on('message', (message: Buffer, isBinary: boolean) => {
    const m = codec.decode(message, isBinary);
    if (m && m.channel % 2 === 0) pairs[m.channel / 2]?.data.deliver(m.data);
  });
  ws.on('close', () => {
    abort.abort();
    for (const p of pairs) p.data.endInput();
  });
  ws.on('error', () => undefined);

  for (const p of pairs) {
    const portBytes = Buffer.alloc(2);
    portBytes.writeUInt16LE(p.port);
    p.data.sendRaw(portBytes);
    p.error.sendRaw(portBytes);
  }
  await Promise.all(
    pairs.map(async (p) => {
      try {
        await backend.portForward(podSandboxId, p.port, p.data, abort.signal);
      } catch (e) {
        p.error.write(`error forwarding port ${p.port} to pod ${podSandboxId}, uid : ${(e as Error).message}`);
      }
      await Promise.all([endWritable(p.data), endWritable(p.error)]);
    }),
  );
  if (ws.readyState === ws.OPEN) ws.close(1000);
}
