/**
 * The CRI sockets (--cri-host): each a unix socket made as the Docker API's are (mode 0660,
 * the -G group, a stale file replaced: ./listen.ts), whose connections are handed to the
 * grpc-js server of the CRI front end (src/api/cri/server.ts) through its connection injector.
 * grpc-js never binds a socket itself, so the socket's mode is never wider than 0660, and
 * shutdown closes the listeners (their files go) and destroys every connection like the API's.
 */
import * as grpc from '@grpc/grpc-js';
import * as net from 'node:net';
import { listenUnix, stopServing, trackConnections } from './listen';

/** The CRI server and its listeners. */
export interface CriListeners {
  grpc: grpc.Server;
  servers: net.Server[];
}

/** Listen on every `hosts` (unix:///path) for `server`. */
export async function serveCri(server: grpc.Server, hosts: string[], gid: number | undefined): Promise<CriListeners> {
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const servers: net.Server[] = [];
  try {
    for (const host of hosts) {
      const s = net.createServer((socket) => injector.injectConnection(socket));
      trackConnections(s);
      await listenUnix(s, host.slice('unix://'.length), gid);
      servers.push(s);
    }
  } catch (err) {
    await stopServing(servers);
    throw err;
  }
  return { grpc: server, servers };
}

/** Stop serving the CRI: calls in flight are cut, the socket files removed. */
export async function stopCri(l: CriListeners): Promise<void> {
  l.grpc.forceShutdown();
  await stopServing(l.servers);
}
