/**
 * podvisord's entry point: parse flags, bring up the layers bottom to top, serve the Docker
 * API on every -H address, and on SIGINT/SIGTERM shut down within a bound (shutdown.ts): cut
 * what is in flight, close listeners, destroy idle VMs. Running containers' VMs are left
 * running: a restarted daemon re-adopts them.
 *
 * The wiring is a few named steps: the layers (./layers.ts), the Docker and native APIs
 * (serveApis), the CRI (./cri-front.ts), the background work once they serve
 * (startBackgroundWork), and the shutdown (shutdownOf).
 */
import type * as http from 'node:http';
import { USAGE } from './flags';
import { loadDaemonOptions } from './config-file';
import { dockerHostFor, planListeners, serveOn, stopServing, type ApiServer, type ListenPlan } from './listen';
import { runShutdown } from './shutdown';
import { openLayers, type DaemonLayers } from './layers';
import { serveCriFront } from './cri-front';
import type { DaemonOptions } from './options';
import { outbound } from '../util/outbound';
import { createApiApp } from '../api/v1.41/server';
import { createNativeApp, isNativeRequest } from '../api/native/server';
import { watchEventLoopLag } from '../util/loop-lag';
import { logger, setLogLevel } from '../util/log';
import { PodvisorError } from '../errors';
import { PODVISOR_VERSION } from '../util/package-info';
import { sharedMounter } from '../util/mounter';
import { reclaimOrphanVms } from '../vm/orphan-vms';
import { settleVmCgroupRemovals } from '../vm/qemu/confinement/vm-cgroup';
import type { PodManager } from '../pod/manager';
import { loadEngineId } from './engine-id';
import { closeDaemonRoots } from './private-roots';
import { openNetworks } from '../net/daemon';
import { dropStaleEndpoints, endpointIds } from '../pod/network/network';
import { installErrorPolicy } from './error-policy';

const log = logger('daemon');

async function main(argv: string[]): Promise<void> {
  const mainStart = performance.now();
  const parsed = loadDaemonOptions(argv);
  if (parsed === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const opts = parsed;
  setLogLevel(opts.logLevel);
  // TLS files and the socket group are checked before any other work.
  const listenPlan = planListeners(opts);

  // Both roots are root's alone (0700) before anything is made in them (./private-roots.ts).
  closeDaemonRoots([opts.dataRoot, opts.execRoot]);

  const layers = await openLayers(opts);
  const servers = await serveApis(opts, listenPlan, layers);
  log.info(
    `podvisord ${PODVISOR_VERSION} ready in ${Math.round(performance.now())} ms (${Math.round(performance.now() - mainStart)} ms after loading its code). To use it: export DOCKER_HOST=${dockerHostFor(opts.hosts[0])}`,
  );
  const run: DaemonRun = { stopping: false };
  const criServing = serveCriLater(opts, listenPlan, layers, run);
  const reclaimed = startBackgroundWork(opts, layers, run);
  const shutdown = shutdownOf(layers, run, reclaimed, () =>
    Promise.all([stopServing(servers), criServing.then((stopCri) => stopCri())]).then(() => undefined),
  );
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

/**
 * Kubernetes CRI v1 (--cri-host) on its own sockets, over the same image store, once the
 * Docker API serves and every running container is re-adopted: its code (gRPC, protobuf, the
 * CRI's services: ~100 ms to load) then delays no Docker client of a restart. Resolves with
 * what stops its listeners and streaming server. A CRI socket that cannot be served ends the
 * daemon, as at start.
 */
function serveCriLater(
  opts: DaemonOptions,
  listenPlan: ListenPlan,
  layers: DaemonLayers,
  run: DaemonRun,
): Promise<() => Promise<void>> {
  const none = () => Promise.resolve();
  if (!opts.criHosts.length) return Promise.resolve(none);
  return layers.adopted
    .then(
      () => (run.stopping ? none : serveCriFront(opts, listenPlan, layers)),
      () => none,
    )
    .catch((err: unknown) => {
      const msg = err instanceof PodvisorError ? err.message : err instanceof Error ? err.stack : String(err);
      process.stderr.write(`podvisord: CRI: ${msg}\n`);
      process.exit(1);
    });
}

/** Whether the daemon is shutting down (no pool fill starts after that). */
interface DaemonRun {
  stopping: boolean;
}

/** The Docker API and the native pod API on every -H address, behind the adoption gate. */
async function serveApis(opts: DaemonOptions, listenPlan: ListenPlan, layers: DaemonLayers): Promise<ApiServer[]> {
  const { images, containers, networks, volumes, pods, engine, vm, checkpointImages } = layers;
  const app = createApiApp({
    system: {
      version: PODVISOR_VERSION,
      dataRoot: opts.dataRoot,
      accel: vm.accel.accel,
      logDriver: opts.logDriver,
      experimental: opts.experimental,
      id: loadEngineId(opts.dataRoot),
    },
    images,
    containers,
    networks: { manager: networks },
    volumes,
  });
  // The native pod API (/v1/pods, /v1/vms) on the same sockets.
  // Its pods join the default bridge (or the network their spec names), as `docker run`'s do.
  const nativeApp = createNativeApp({ pods, vms: pods.vms, engine, checkpointImages });
  // Log any stall of the event loop over 50 ms (no request may hold it longer).
  watchEventLoopLag();
  // Requests about a container being re-adopted wait for it (adoptionGate); the gate is a
  // plain request listener in front of the apps.
  const gated = adoptionGate(pods, app, /^(?:\/v[0-9.]+)?\/containers\/([^/?]+)\//);
  const nativeGated = adoptionGate(pods, nativeApp, /^\/v1\/pods\/([^/?]+)/);
  const handler = ((req: http.IncomingMessage, res: http.ServerResponse) =>
    isNativeRequest(req.url ?? '') ? nativeGated(req, res) : gated(req, res)) as unknown as typeof app;
  const servers: ApiServer[] = [];
  for (const host of opts.hosts) {
    servers.push(await serveOn(handler, host, listenPlan));
    log.info(
      `API listening on ${host}${host.startsWith('tcp://') && listenPlan.tls ? (listenPlan.tls.verify ? ' (TLS, client certificates verified)' : ' (TLS)') : ''}`,
    );
  }
  return servers;
}

/**
 * What runs in the background once the APIs serve: the host's networks, stale endpoints freed,
 * the disks of images stored before made (one at a time), leftover VMs reclaimed, then the
 * pool filled. Resolves (the returned promise) once the
 * reclaim has ended.
 */
function startBackgroundWork(opts: DaemonOptions, layers: DaemonLayers, run: DaemonRun): Promise<unknown> {
  const { events, networks, networksOpened, pods, adopted, heldVms, imageDiskSweep } = layers;
  const { hypervisor, vmFactory, vmDefaults } = layers.vm;
  void openNetworks(opts.dataRoot, events).then(networksOpened);
  // Endpoints of containers that stopped or went while no daemon watched are freed once every
  // adoption has ended (those of re-adopted containers keep their ports and names).
  void networks
    .then((n) => n && endpointIds(n))
    .then(async (before) => {
      const n = await networks;
      await adopted;
      if (n && before)
        await dropStaleEndpoints(n, before, (id) => {
          try {
            return pods.isRunning(id);
          } catch {
            return false;
          }
        });
    });
  // VMs an earlier daemon left that no container claims. The pod layer passes the ids of
  // the VMs of its running containers here (and adopts those itself).
  const keepVms = new Set<string>();
  // Once every adoption has ended, reclaim the leftovers (VMs and VM processes of our exec root
  // no running container claims), then fill the pool; all in the background. A shutdown waits
  // for the reclaim, so a daemon stopped right after its start leaves no orphan behind.
  const reclaimed = adopted.then(async (ids) => {
    for (const id of ids) keepVms.add(id);
    // Idle VMs an earlier daemon held (it died without stopping them) are the user's still.
    for (const id of await heldVms.restore(hypervisor)) keepVms.add(id);
    return reclaimOrphanVms(hypervisor, keepVms);
  });
  // The disks of images stored before, once every re-adoption has ended (it has deadlines),
  // one at a time at the lowest CPU priority (src/storage/image-disks/sweep.ts).
  if (imageDiskSweep) void adopted.then(() => (run.stopping ? undefined : imageDiskSweep.run()));
  void reclaimed.then(() => {
    if (run.stopping) return;
    vmFactory.start();
    if (opts.vmPoolSize > 0) {
      log.info(
        `VM pool: booting ${opts.vmPoolSize} idle VM(s) of ${vmDefaults.memoryMiB} MiB, ${vmDefaults.cpus} vCPU in the background`,
      );
      void vmFactory.whenFull().then(() => log.info(`VM pool: ${vmFactory.idleCount} idle VM(s) ready`));
    }
  });
  return reclaimed;
}

/**
 * The shutdown on SIGINT/SIGTERM (shutdown.ts): everything in flight is cut first, so what is
 * left ends quickly and within SHUTDOWN_BOUND_MS in any case. `stopListeners` closes every API
 * listener and connection, hijacked streams included (listen.ts), and the CRI's.
 */
function shutdownOf(
  layers: DaemonLayers,
  run: DaemonRun,
  reclaimed: Promise<unknown>,
  stopListeners: () => Promise<void>,
): (sig: string) => Promise<void> {
  const { pods, heldVms, networks, spareDisks, archive, imageDisks, imageDiskSweep } = layers;
  const { hypervisor, vmFactory } = layers.vm;
  return async (sig: string) => {
    if (run.stopping) return;
    run.stopping = true;
    log.info(`${sig} received, shutting down`);
    let poolClosed: Promise<void> = Promise.resolve();
    let serving: Promise<void> = Promise.resolve();
    const { ms, late } = await runShutdown({
      cut: [
        // The pool refills no more from this moment (its idle VMs go below).
        { name: 'VM pool', run: () => void (poolClosed = vmFactory.close()) },
        // Pulls, pushes, logins, imports and ADD downloads fail now rather than wait on a peer.
        { name: 'outgoing requests', run: () => outbound.abortAll() },
        // Containers keep running: their agent channels are closed, the next daemon re-adopts them.
        { name: 'pods', run: () => pods.shutdown() },
        // Every client connection goes, hijacked streams included (listen.ts).
        { name: 'API listeners', run: () => void (serving = stopListeners()) },
      ],
      // Teardowns of runs that just ended and storage of pods just removed finish; idle VMs go
      // (VMs of running containers stay for the next daemon to adopt); boots under way are cut
      // short, so none is left without an owner.
      settle: [
        { name: 'API connections', run: () => serving },
        { name: 'pod teardowns', run: () => pods.settled() },
        { name: 'held VMs', run: () => heldVms.close() },
        { name: 'VM pool (idle VMs, boots)', run: () => poolClosed },
        {
          name: 'hypervisor (reclaim, boots, templates)',
          run: () => reclaimed.catch(() => undefined).then(() => hypervisor.close()),
        },
        { name: 'networks', run: () => networks.then((n) => n?.shutdown()) },
        { name: 'spare upper disk', run: () => spareDisks?.idle() ?? Promise.resolve() },
        // The background sweep stops; a make under way is cut short and takes its temporary
        // file and the image's mount away (before the mount helper goes, below).
        {
          name: 'image disks',
          run: () => {
            imageDiskSweep?.stop();
            return imageDisks?.close();
          },
        },
      ],
      last: [
        { name: 'archive mounts', run: () => archive.close() },
        { name: 'mount helper', run: () => sharedMounter().close() },
        // VM cgroup removals under way end (a cgroup is busy while its QEMU exits), bounded;
        // then an empty one of this daemon's roots that no removal got to goes too.
        { name: 'VM cgroups', run: () => settleVmCgroupRemovals(3000) },
      ],
    });
    log.info(`shut down in ${ms} ms`);
    process.exit(late.length ? 1 : 0);
  };
}

/**
 * The request handler: `app`, except that a request about a container (`ref` finds its name
 * or id in the URL) being re-adopted after a restart waits until that adoption has ended (PodManager.whenAdopted), so clients see it
 * running with its VM, or exited, never half-restored.
 */
function adoptionGate(pods: PodManager, app: http.RequestListener, ref: RegExp): http.RequestListener {
  return (req, res) => {
    const m = ref.exec(req.url ?? '');
    let wait: Promise<void> | undefined;
    try {
      wait = m ? pods.whenAdopted(decodeURIComponent(m[1])) : undefined;
    } catch {
      // A malformed escape: the app answers it.
    }
    if (!wait) return void app(req, res);
    void wait.then(() => app(req, res));
  };
}

// A socket error nothing caught (a guest's relay ended badly) is logged and the daemon serves
// on; anything else thrown ends it (./error-policy.ts says why).
installErrorPolicy();
main(process.argv.slice(2)).catch((err) => {
  const msg = err instanceof PodvisorError ? err.message : err instanceof Error ? err.stack : String(err);
  process.stderr.write(`podvisord: ${msg}\n`);
  process.exit(1);
});
