/**
 * The usual way a backend carries out a port-forward: a TCP connection to an address it can
 * reach (the pod's IP on its network, or a loopback port in tests), joined to the stream.
 */
import * as net from 'node:net';
import { Duplex } from 'node:stream';

/**
 * Connects to host:port and copies both ways: the client's end of the stream half-closes the TCP
 * connection; the far side's end closes it, which resolves (the server then ends the stream);
 * rejects if it cannot be made or fails. Aborting `signal` drops it.
 */
export function forwardToTcp(stream: Duplex, host: string, port: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return resolve();
    const sock = net.connect({ host, port });
    let connected = false;
    const onAbort = (): void => {
      sock.destroy();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    sock.once('connect', () => {
      connected = true;
      stream.pipe(sock);
      sock.pipe(stream, { end: false });
    });
    sock.once('error', (e: NodeJS.ErrnoException) => {
      if (!connected)
        reject(
          new Error(
            `dial tcp ${host}:${port}: ${e.code === 'ECONNREFUSED' ? 'connect: connection refused' : e.message}`,
          ),
        );
    });
    sock.once('close', () => {
      signal.removeEventListener('abort', onAbort);
      stream.unpipe(sock);
      resolve();
    });
  });
}
