/**
 * podvisord's entry point: parse flags, bring up the layers bottom to top, serve the Docker
 * API on every -H address, and on SIGINT/SIGTERM shut down within a bound (shutdown.ts): cut
 * what is in flight, close listeners, destroy idle VMs. Running containers' VMs are left
 * running: a restarted daemon re-adopts them.
 */
import type * as http from 'node:http';
import { USAGE } from './flags';
import { loadDaemonOptions } from './config-file';
import { dockerHostFor, planListeners, serveOn, stopServing, type ApiServer } from './listen';
import { runShutdown } from './shutdown';
import { openVmRuntime } from './vm-runtime';
import { outbound } from '../util/outbound';
import { createApiApp } from '../api/v1.41/server';
import { dockerContainerView } from '../api/v1.41/pod-containers';
import { createNativeApp, isNativeRequest } from '../api/native/server';
import { HeldVms } from '../vm/idle-vms';
import { watchEventLoopLag } from '../util/loop-lag';
import { logger, setLogLevel } from '../util/log';
import { PodvisorError } from '../errors';
import { PODVISOR_VERSION } from '../util/package-info';
import { ImageService } from '../storage/service';
import { UPPER_DISK_BYTES } from '../vm/devices/upper-disk';
import { sharedMounter } from '../util/mounter';
import { reclaimOrphanVms } from '../vm/orphan-vms';
import * as os from 'node:os';
import * as path from 'node:path';
import { EventBus } from '../pod/events';
import { PodManager } from '../pod/manager';
import { ContainerArchive } from '../storage/archive/service';
import { GuestArchive } from '../storage/archive/guest';
import { OverlayRootfs } from '../storage/rootfs';
import { SpareDisks } from '../storage/upper-disk-file';
import { StateStore } from '../storage/state';
import { repairFrontend } from '../translate/repair';
import { loadEngineId } from './engine-id';
import { closeDaemonRoots } from './private-roots';
import { openNetworks } from '../net/daemon';
import { lookupOver } from '../net/container-config';
import { dropStaleEndpoints, endpointIds } from '../pod/network';
import { VolumeStore } from '../storage/volumes';
import { removeWithContainers } from '../api/v1.41/volumes';
import { PodEngine } from '../engine/engine';
import { loadRegistriesConf } from '../storage/registry/registries-conf';
import type { CriRuntime } from '../api/cri/runtime';
import type { StreamingServer } from '../api/cri/streaming';
import { CniNetworks, cniStateDir } from '../net/cni/sandbox-networks';

/** The overlay directories inspect reports. */

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

  // --- images: content/, layers/, images/ under the data root -------------------------------
  // Per-registry mirrors (registries.conf) serve the Docker API's pulls and the CRI's alike.
  const registriesConf = loadRegistriesConf(opts.registriesConf);
  if (registriesConf.registries.length)
    log.info(`registries: ${registriesConf.registries.length} entr(ies) from ${opts.registriesConf}`);
  const images = await ImageService.open(opts.dataRoot, {
    insecureRegistries: opts.insecureRegistries,
    registryMirrors: opts.registryMirrors,
    registriesConf,
  });
  // --- end images ----------------------------------------------------------------------

  // --- VM runtime: acceleration, hypervisor, warm pool (./vm-runtime.ts) ---------------------
  const { accel, hypervisor, blockMode, vmDefaults, poolDevices, vmFactory } = await openVmRuntime(opts);
  // VMs an earlier daemon left that no container claims. The pod layer passes the ids of
  // the VMs of its running containers here (and adopts those itself).
  const keepVms = new Set<string>();
  // --- end VM runtime ------------------------------------------------------------------------

  // --- containers: state, rootfs, pods; restored before the API serves (no half-known pod) ---
  // Per-container state, logs, hosts files and rootfs layers live under <data-root>/containers.
  const containersRoot = path.join(opts.dataRoot, 'containers');
  const state = new StateStore(containersRoot);
  await state.init();
  // Block mode: a formatted upper disk is kept ready in <data-root>/upper-disks, so a create
  // moves it into place instead of waiting for mkfs.ext4 (src/storage/upper-disk-file.ts).
  const spareDisks = blockMode ? new SpareDisks(path.join(opts.dataRoot, 'upper-disks'), UPPER_DISK_BYTES) : undefined;
  spareDisks?.refill();
  const rootfs = new OverlayRootfs(containersRoot, undefined, spareDisks);
  const events = new EventBus();
  // Bridges and rules come up in the background once the API listens (a daemon refused at
  // listen time touches no host network): /networks requests and pod starts wait for them.
  let networksOpened: (m: Awaited<ReturnType<typeof openNetworks>>) => void = () => undefined;
  const networks = new Promise<Awaited<ReturnType<typeof openNetworks>>>((resolve) => (networksOpened = resolve));
  // VMs the user holds (run-vm, stop --keep-vm): booted from the pool, of the pool's config.
  const heldVms = new HeldVms(
    vmFactory,
    { size: vmDefaults, devices: poolDevices },
    path.join(opts.dataRoot, 'held-vms.json'),
  );
  // The node's CNI network of CRI sandboxes; what a killed daemon left is swept once pods are loaded.
  const cniNetworks = new CniNetworks({
    confDir: opts.cniConfDir,
    binDirs: opts.cniBinDirs,
    stateDir: cniStateDir(opts.execRoot),
  });
  const pods = new PodManager(
    {
      cni: cniNetworks,
      factory: vmFactory,
      hypervisor,
      images: images.store,
      rootfs,
      state,
      events,
      containersRoot,
      ...(blockMode ? { rootfsDisk: { bytes: UPPER_DISK_BYTES } } : {}),
      repairFrontend,
      networks,
    },
    heldVms,
  );
  images.store.setRunningProbe((id) => {
    try {
      return pods.isRunning(id);
    } catch {
      return false;
    }
  });
  // Running containers are re-adopted in the background while the API serves (requests about
  // one wait for it: adoptionGate); their VMs are kept from reclaim, the others marked exited.
  const { adopted } = await pods.load();
  // A sandbox that is still known keeps its network (RemovePodSandbox releases it).
  void cniNetworks.sweep((id) => {
    try {
      return pods.get(id).id === id;
    } catch {
      return false;
    }
  });
  // docker cp / export of a stopped container mounts its overlay for the request: what an
  // earlier daemon left mounted goes now, what this one has open goes at shutdown.
  // Block mode: a container's root is read and written in its guest (its VM, or a short-lived
  // one while it does not run); a layer holds at most its disk, a whole root its image too
  // (bounded by extract's default of 64 GiB a layer, four such layers at most here).
  const archive = new ContainerArchive(
    rootfs,
    new GuestArchive((id) => pods.openGuestFiles(id), {
      layerBytes: UPPER_DISK_BYTES,
      treeBytes: UPPER_DISK_BYTES + 4 * 64 * 1024 ** 3,
    }),
  );
  const staleArchiveMounts = await archive.reclaimStale();
  if (staleArchiveMounts) log.info(`detached ${staleArchiveMounts} archive mount(s) left by an earlier daemon`);
  // Docker sees each container of a pod of several as a container of its own.
  const dockerPods = dockerContainerView(pods);
  const hostCpus = os.cpus().length;
  // Named and anonymous volumes under <data-root>/volumes; anonymous ones of --rm containers go with them.
  const volumes = { store: await VolumeStore.open(opts.dataRoot), pods, events };
  removeWithContainers(volumes);
  // The creation service (src/engine): every front end's creates (Docker, native, builder)
  // go through it. It reads names as the Docker view does, so a create's references (links,
  // --volumes-from, a taken name) reach every container of a pod.
  const engine = new PodEngine({
    pods: dockerPods,
    images: images.store,
    vmDefaults,
    hostCpus,
    logDefaults: { Type: opts.logDriver, Config: opts.logOpts },
    networks: networks.then((n) => (n ? lookupOver((ref) => n.get(ref)) : undefined)),
    volumes: { store: volumes.store, events },
    archive,
  });
  const containers = {
    pods: dockerPods,
    engine,
    images: images.store,
    events,
    vmDefaults,
    hostCpus,
    rootfsPaths: (id: string) => rootfs.paths(id),
    archive,
  };
  // --- end containers ------------------------------------------------------------------------

  const app = createApiApp({
    system: {
      version: PODVISOR_VERSION,
      dataRoot: opts.dataRoot,
      accel: accel.accel,
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
  const nativeApp = createNativeApp({ pods, vms: pods.vms, engine });
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
  // Kubernetes CRI v1 (--cri-host) on its own sockets, over the same image store.
  /** Stops the CRI's listeners and its streaming server (set once they serve). */
  let stopCriServing: () => Promise<void> = () => Promise.resolve();
  if (opts.criHosts.length) {
    // Loaded only when served: grpc-js and the .proto cost ~0.1-0.3 s of start-up.
    const { createCriServer, criHandlers } = await import('../api/cri/server');
    const { RuntimeConfigState, RuntimeInfo } = await import('../api/cri/runtime-info');
    const { CriImageService } = await import('../api/cri/images');
    const { CriRuntime } = await import('../api/cri/runtime');
    const { CriEvents, criStatuses } = await import('../api/cri/runtime-events');
    const { StreamingServer } = await import('../api/cri/streaming');
    const { PodStreamingBackend } = await import('../api/cri/streaming/pod-backend');
    const { serveCri, stopCri } = await import('./cri-listen');
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
          sandboxImage: async () => {
            const ref = opts.criSandboxImage;
            await images.store.resolve(ref).catch(() => criImages.pull({ image: { image: ref } }));
            return ref;
          },
          address: (id) => cniNetworks.get(id),
          counters: (id) => cniNetworks.counters(id),
          releaseNetwork: (id) => cniNetworks.tearDown(id),
          streaming: () => late.streaming,
        })),
        // GetContainerEvents: the pod layer's events of CRI pods, with the runtime's statuses.
        events: new CriEvents({ events, statuses: (id) => criStatuses(criRuntime)(id) }),
      }),
    );
    // Exec, Attach and PortForward URLs point at the streaming server (loopback, a free port).
    const streaming = new StreamingServer(new PodStreamingBackend(pods, criRuntime));
    late.streaming = streaming;
    await streaming.start();
    log.info(`CRI streaming server on ${streaming.url}`);
    const cri = await serveCri(criServer, opts.criHosts, listenPlan.gid);
    stopCriServing = () => Promise.all([stopCri(cri), streaming.stop()]).then(() => undefined);
    for (const host of opts.criHosts) log.info(`CRI v1 listening on ${host}`);
  }
  log.info(
    `podvisord ${PODVISOR_VERSION} ready in ${Math.round(performance.now())} ms (${Math.round(performance.now() - mainStart)} ms after loading its code). To use it: export DOCKER_HOST=${dockerHostFor(opts.hosts[0])}`,
  );
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
  // Once every adoption has ended, reclaim the leftovers (VMs and VM processes of our exec root
  // no running container claims), then fill the pool; all in the background. A shutdown waits
  // for the reclaim, so a daemon stopped right after its start leaves no orphan behind.
  let stopping = false;
  const reclaimed = adopted.then(async (ids) => {
    for (const id of ids) keepVms.add(id);
    // Idle VMs an earlier daemon held (it died without stopping them) are the user's still.
    for (const id of await heldVms.restore(hypervisor)) keepVms.add(id);
    return reclaimOrphanVms(hypervisor, keepVms);
  });
  void reclaimed.then(() => {
    if (stopping) return;
    vmFactory.start();
    if (opts.vmPoolSize > 0) {
      log.info(
        `VM pool: booting ${opts.vmPoolSize} idle VM(s) of ${vmDefaults.memoryMiB} MiB, ${vmDefaults.cpus} vCPU in the background`,
      );
      void vmFactory.whenFull().then(() => log.info(`VM pool: ${vmFactory.idleCount} idle VM(s) ready`));
    }
  });

  // Shutdown (shutdown.ts): everything in flight is cut first, so what is left ends quickly
  // and within SHUTDOWN_BOUND_MS in any case.
  const shutdown = async (sig: string) => {
    if (stopping) return;
    stopping = true;
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
        {
          name: 'API listeners',
          run: () => void (serving = Promise.all([stopServing(servers), stopCriServing()]).then(() => undefined)),
        },
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
      ],
      last: [
        { name: 'archive mounts', run: () => archive.close() },
        { name: 'mount helper', run: () => sharedMounter().close() },
      ],
    });
    log.info(`shut down in ${ms} ms`);
    process.exit(late.length ? 1 : 0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
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

main(process.argv.slice(2)).catch((err) => {
  const msg = err instanceof PodvisorError ? err.message : err instanceof Error ? err.stack : String(err);
  process.stderr.write(`podvisord: ${msg}\n`);
  process.exit(1);
});
