/**
 * exec and attach over a websocket (the channel.k8s.io family): stdin 0, stdout 1, stderr 2,
 * error 3, resize 4. As the kubelet, the server first sends an empty message on the lowest
 * channel it writes, to say the session is up; at the end it writes the status on channel 3
 * (JSON from v4 on; before that only a failure's message) and closes the websocket.
 */
import type { WebSocket } from 'ws';
import { ResizeDecoder } from './resize';
import { endWritable, RemoteCommand, RemoteSession, runSession } from './session';
import { encodeStatus, KubeStatus } from './status';
import { ResizeEvents, StreamingBackend } from './types';
import { ChannelCodec, CLOSE_CHANNEL, WsChannel } from './ws-channels';

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;

/** Serves one accepted websocket for `command`, negotiated to `protocol`. */
export async function serveRemoteCommandWs(
  ws: WebSocket,
  protocol: string,
  command: RemoteCommand,
  backend: StreamingBackend,
): Promise<void> {
  const req = command.request;
  const codec = new ChannelCodec(protocol);
  const channel = (n: number): WsChannel => new WsChannel(ws, codec, n);
  const stdin = req.stdin ? channel(STDIN) : undefined;
  const stdout = req.stdout ? channel(STDOUT) : undefined;
  const stderr = req.stderr ? channel(STDERR) : undefined;
  const error = channel(ERROR);
  const resize = new ResizeEvents();
  const decoder = new ResizeDecoder(resize);
  const abort = new AbortController();
  let resizeEnded = false;
  const endResize = (): void => {
    if (!resizeEnded) decoder.end();
    resizeEnded = true;
  };

  ws.on('message', (message: Buffer, isBinary: boolean) => {
    const m = codec.decode(message, isBinary);
    if (!m) return;
    if (m.channel === STDIN) stdin?.deliver(m.data);
    else if (m.channel === RESIZE && !resizeEnded) decoder.push(m.data);
    else if (m.channel === CLOSE_CHANNEL && protocol.startsWith('v5.') && m.data.length > 0) {
      if (m.data[0] === STDIN) stdin?.endInput();
      if (m.data[0] === RESIZE) endResize();
    }
  });
  ws.on('close', () => {
    abort.abort();
    stdin?.endInput();
    endResize();
  });
  ws.on('error', () => undefined);

  (stdout ?? stderr ?? error).sendRaw(Buffer.alloc(0));

  const json = protocol.startsWith('v4.') || protocol.startsWith('v5.');
  const session: RemoteSession = {
    stdin,
    stdout,
    stderr,
    resize,
    signal: abort.signal,
    finish: async (status: KubeStatus) => {
      await Promise.all([endWritable(stdout), endWritable(stderr)]);
      const bytes = encodeStatus(status, json);
      if (bytes) error.write(bytes);
      await endWritable(error);
      if (ws.readyState === ws.OPEN) ws.close(1000);
    },
  };
  await runSession(session, command, backend);
}
