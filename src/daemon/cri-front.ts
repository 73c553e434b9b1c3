/**
 * The Kubernetes CRI v1 front (--cri-host) wired by the daemon (./main.ts): its gRPC server on
 * its own sockets (./cri-listen.ts), over the same image store, creation service and pods as
 * the Docker API, with its streaming server for Exec, Attach and PortForward. Its records of
 * sandboxes and containers are its own, under `<data-root>/cri/` (src/api/cri/record-store.ts),
 * loaded (and reconciled with the pods, which are loaded already) before it serves. Its modules are
 * loaded only when it is served: grpc-js and the .proto cost ~0.1-0.3 s of start-up.
 */
import * as path from 'node:path';
import type { CriRuntime } from '../api/cri/runtime';
import type { StreamingServer } from '../api/cri/streaming';
import { PODVISOR_VERSION } from '../util/package-info';
import { logger } from '../util/log';
import type { DaemonLayers } from './layers';
import type { ListenPlan } from './listen';
import type { DaemonOptions } from './options';

const log = logger('daemon');

/** Serve the CRI on `opts.criHosts`; resolves to what stops its listeners and its streaming server. */
export async function serveCriFront(
  opts: DaemonOptions,
  listenPlan: ListenPlan,
  { images, engine, pods, events, cniNetworks }: DaemonLayers,
): Promise<() => Promise<void>> {
  const { createCriServer, criHandlers } = await import('../api/cri/server');
  const { RuntimeConfigState, RuntimeInfo } = await import('../api/cri/runtime-info');
  const { CriImageService } = await import('../api/cri/images');
  const { CriRuntime } = await import('../api/cri/runtime');
  const { CriEvents, criStatuses } = await import('../api/cri/runtime-events');
  const { StreamingServer } = await import('../api/cri/streaming');
  const { PodStreamingBackend } = await import('../api/cri/streaming/pod-backend');
  const { serveCri, stopCri } = await import('./cri-listen');
  const { CriRecordStore } = await import('../api/cri/record-store');
  const { manifestAnnotations } = await import('../storage/manifest-annotations');
  const records = await CriRecordStore.open(path.join(opts.dataRoot, 'cri'), pods);
  // A CRI pod removed by any front (docker rm -f too) takes its record with it.
  const unfollow = records.follow(events);
  let criRuntime: CriRuntime;
  // The runtime hands out the streaming server's URLs; the server's backend is the runtime.
  const late: { streaming?: StreamingServer } = {};
  const criImages = new CriImageService(images);
  const criServer = createCriServer(
    criHandlers({
      info: new RuntimeInfo({
        version: PODVISOR_VERSION,
        network: () => {
          const n = cniNetworks.networkReady();
          return { ready: n.ready, reason: n.reason ?? '', message: n.message ?? '' };
        },
        config: new RuntimeConfigState(),
      }),
      images: criImages,
      runtime: (criRuntime = new CriRuntime({
        engine,
        pods,
        records,
        sandboxImage: async () => {
          const ref = opts.criSandboxImage;
          await images.store.resolve(ref).catch(() => criImages.pull({ image: { image: ref } }));
          return ref;
        },
        address: (id) => cniNetworks.get(id),
        counters: (id) => cniNetworks.counters(id),
        releaseNetwork: (id) => cniNetworks.tearDown(id),
        checkpointImages: {
          resolve: (ref) => images.store.resolve(ref),
          layerDirs: (id) => images.store.layerDirs(id),
          annotations: (image) => manifestAnnotations(images.content, image.repoDigests),
        },
        streaming: () => late.streaming,
      })),
      // GetContainerEvents: the pod layer's events of CRI pods, with the runtime's statuses.
      events: new CriEvents({ events, records, statuses: (id) => criStatuses(criRuntime)(id) }),
    }),
  );
  // Exec, Attach and PortForward URLs point at the streaming server (loopback, a free port).
  const streaming = new StreamingServer(new PodStreamingBackend(pods, criRuntime));
  late.streaming = streaming;
  await streaming.start();
  log.info(`CRI streaming server on ${streaming.url}`);
  const cri = await serveCri(criServer, opts.criHosts, listenPlan.gid);
  for (const host of opts.criHosts) log.info(`CRI v1 listening on ${host}`);
  return () => Promise.all([stopCri(cri), streaming.stop()]).then(() => void unfollow());
}
