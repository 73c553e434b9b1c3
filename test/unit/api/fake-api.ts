/**
 * The Docker API served as the daemon serves it (express app + hijack bridge and limits) on a
 * unix socket in a temp directory, over the in-memory pod layer (test/unit/pod/fakes.ts):
 *
 *   const api = await startFakeApi();   // api.h (the fakes), api.sock, api.server
 *   ...                                 // requests to api.sock
 *   await api.close();                  // connections closed, temp directory removed
 */
import * as http from 'node:http';
import * as path from 'node:path';
import { createApiApp } from '../../../src/api/v1.41/server';
import { installHijack } from '../../../src/api/v1.41/hijack';
import { harness, type Harness } from '../pod/fakes';

/** A running API over the fakes. */
export interface FakeApi {
  h: Harness;
  server: http.Server;
  /** The unix socket it listens on. */
  sock: string;
  close(): Promise<void>;
}

/** Start the API over a fresh fakes harness. */
export async function startFakeApi(): Promise<FakeApi> {
  const h = await harness();
  const app = createApiApp({
    system: { version: '0.0.0-test', dataRoot: h.root, accel: 'tcg' },
    containers: { pods: h.pods, images: h.images, events: h.events, vmDefaults: { memoryMiB: 256, cpus: 1 }, hostCpus: 2 },
  });
  const server = http.createServer(app);
  installHijack(server, app);
  const sock = path.join(h.root, 'api.sock');
  await new Promise<void>((r) => server.listen(sock, r));
  return {
    h,
    server,
    sock,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await h.cleanup();
    },
  };
}
