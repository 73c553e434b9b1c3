/**
 * Opening the daemon's listen sockets (unix:// and tcp://, as dockerd's -H).
 * Unix sockets get mode 0660 (the socket is root-equivalent); a stale socket file left by a
 * killed daemon is replaced. TCP without TLS is served on loopback only and loudly warned.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as http from 'node:http';
import { logger } from '../util/log';
import { UnavailableError } from '../errors';

const log = logger('daemon');

/** Start `server` listening on `host`; resolves once it accepts connections. */
export async function listenOn(server: http.Server, host: string): Promise<void> {
  if (host.startsWith('unix://')) {
    const sock = host.slice('unix://'.length);
    fs.mkdirSync(path.dirname(sock), { recursive: true });
    try {
      fs.unlinkSync(sock);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(sock, () => {
        server.off('error', reject);
        resolve();
      });
    });
    fs.chmodSync(sock, 0o660);
    return;
  }
  const m = /^tcp:\/\/([^:]*):(\d+)$/.exec(host);
  if (!m) throw new UnavailableError(`cannot listen on ${host}`);
  const addr = m[1] || '127.0.0.1';
  if (!/^(127\.|localhost$|::1$)/.test(addr)) {
    log.warn(`Binding to IP address ${addr} without --tlsverify is insecure and gives root access on this machine to everyone who has access to your network.`);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(m[2]), addr, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The value of DOCKER_HOST a user should export to reach `host`. */
export function dockerHostFor(host: string): string {
  return host.replace(/^tcp:\/\/:/, 'tcp://127.0.0.1:');
}
