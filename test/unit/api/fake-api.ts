/**
 * The Docker API served as the daemon serves it (express app + hijack bridge and limits) on a
 * unix socket in a temp directory, over the in-memory pod layer (test/unit/pod/fakes.ts):
 *
 *   const api = await startFakeApi();   // api.h (the fakes), api.sock, api.server
 *   const api = await startFakeApi({ networks: true });  // also api.nets: networks on an in-memory host
 *   const api = await startFakeApi({ experimental: true });  // as dockerd --experimental
 *   ...                                 // requests to api.sock
 *   await api.close();                  // connections closed, temp directory removed
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { createApiApp } from '../../../src/api/v1.41/server';
import { installHijack } from '../../../src/api/v1.41/hijack';
import { harness, type Harness } from '../pod/fakes';
import { NetworkManager } from '../../../src/net/manager';
import { FakeNetHost } from '../net/fake-host';
import { lookupOver } from '../../../src/net/container-config';

/** A running API over the fakes. */
export interface FakeApi {
  h: Harness;
  server: http.Server;
  /** The unix socket it listens on. */
  sock: string;
  /** The networks (with `networks: true`): the real manager over an in-memory host. */
  nets?: NetworkManager;
  close(): Promise<void>;
}

/** Start the API over a fresh fakes harness. */
export async function startFakeApi(opts: { networks?: boolean; experimental?: boolean } = {}): Promise<FakeApi> {
  const netRoot = opts.networks ? fs.mkdtempSync(path.join(os.tmpdir(), 'pvnet-fakeapi-')) : undefined;
  const nets = netRoot ? await NetworkManager.open(netRoot, new FakeNetHost()) : undefined;
  const h = await harness(undefined, nets ? { networks: Promise.resolve(nets) } : {});
  const app = createApiApp({
    system: { version: '0.0.0-test', dataRoot: h.root, accel: 'tcg', experimental: !!opts.experimental },
    containers: {
      pods: h.pods,
      engine: h.engine(h.pods, nets ? { networks: Promise.resolve(lookupOver((ref) => nets.get(ref))) } : {}),
      images: h.images,
      events: h.events,
      vmDefaults: { memoryMiB: 256, cpus: 1 },
      hostCpus: 2,
    },
    ...(nets ? { networks: { manager: Promise.resolve(nets) } } : {}),
  });
  const server = http.createServer(app);
  installHijack(server, app);
  const sock = path.join(h.root, 'api.sock');
  await new Promise<void>((r) => server.listen(sock, r));
  return {
    h,
    server,
    sock,
    ...(nets ? { nets } : {}),
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await h.cleanup();
      if (netRoot) fs.rmSync(netRoot, { recursive: true, force: true });
    },
  };
}

/** The HTTP status and Docker message of a dockerode call that fails; [0, ''] when it succeeds. */
export async function failureOf(p: Promise<unknown>): Promise<[number, string]> {
  try {
    await p;
    return [0, ''];
  } catch (err) {
    const e = err as { statusCode: number; json?: { message: string } };
    return [e.statusCode, e.json?.message ?? ''];
  }
}

/** Remove every container (forced, so no fake guest timer is left), then close the API. */
export async function closeAfterRemovingAll(
  api: FakeApi,
  docker: {
    listContainers(o: object): Promise<Array<{ Id: string }>>;
    getContainer(id: string): { remove(o: object): Promise<unknown> };
  },
): Promise<void> {
  for (const c of await docker.listContainers({ all: true })) await docker.getContainer(c.Id).remove({ force: true });
  await api.close();
}
