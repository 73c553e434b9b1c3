/**
 * The daemon's layers brought up bottom to top, before any API serves (./main.ts): images,
 * the VM runtime (./vm-runtime.ts), the pods (restored from disk, so no API sees a half-known
 * pod), and what the fronts create with (the archive service, volumes, the creation service).
 * Each step is a function of its own; `openLayers` runs them in order and hands back the
 * services the fronts, the background work and the shutdown use.
 */
import { hostBlkioWeightSupport } from '../api/v1.41/docker/blkio-weight';
import * as os from 'node:os';
import * as path from 'node:path';
import { dockerContainerView } from '../api/v1.41/pod-containers';
import type { ContainerServices } from '../api/v1.41/services';
import { removeWithContainers } from '../api/v1.41/volumes';
import type { PodEngine } from '../engine/engine';
import { CheckpointImages } from '../engine/checkpoint-images';
import { WarmStarts } from '../engine/warm-starts';
import { commitContainer } from '../api/v1.41/commit';
import { PODVISOR_VERSION } from '../util/package-info';
import { lookupOver } from '../net/container-config';
import { CniNetworks, cniStateDir } from '../net/cni/sandbox-networks';
import type { openNetworks } from '../net/daemon';
import { EventBus } from '../pod/events';
import { PodManager } from '../pod/manager';
import { GuestArchive } from '../storage/archive/guest';
import { ContainerArchive } from '../storage/archive/service';
import { loadRegistriesConf } from '../storage/registry/registries-conf';
import { OverlayRootfs } from '../storage/rootfs';
import { ImageService } from '../storage/service';
import { StateStore } from '../storage/state';
import { SpareDisks } from '../storage/upper-disk-file';
import { ImageDisks } from '../storage/image-disks/image-disks';
import { ImageDiskPrep } from '../storage/image-disks/prep';
import { ImageDiskSweep } from '../storage/image-disks/sweep';
import { VolumeStore } from '../storage/volumes';
import { repairFrontend } from '../api/v1.41/docker/repair';
import { logger } from '../util/log';
import { sharedMounter } from '../util/mounter';
import { mountBaseTree, removeLeftoverTrees } from '../storage/checkpoint-image/base-tree';
import { UPPER_DISK_BYTES } from '../vm/devices/upper-disk/upper-disk';
import { IMAGE_DISK_BYTES } from '../vm/devices/image-disk/image-disk';
import { HeldVms } from '../vm/idle-vms';
import { imageOnDiskIn, type DaemonOptions } from './options';
import { openCreationEngine } from './creation-engine';
import { removeInterruptedMakes } from './image-disk-leftovers';
import { openVmRuntime, type VmRuntime } from './vm-runtime';

const log = logger('daemon');

/** The host's networks once they are up (undefined: the host could not be set up). */
export type OpenedNetworks = Awaited<ReturnType<typeof openNetworks>>;

/** The pods and what they stand on, restored from disk (openPods). */
export interface PodLayer {
  spareDisks: SpareDisks | undefined;
  rootfs: OverlayRootfs;
  /** Block mode's image disks (their makes under way are cut short at shutdown). */
  imageDisks: ImageDisks | undefined;
  /** The disks of images stored before, made in the background once the API serves. */
  imageDiskSweep: ImageDiskSweep | undefined;
  events: EventBus;
  /** Resolved by `networksOpened` once the host's networks are up (in the background). */
  networks: Promise<OpenedNetworks>;
  networksOpened: (n: OpenedNetworks) => void;
  heldVms: HeldVms;
  cniNetworks: CniNetworks;
  pods: PodManager;
  /** The ids of the VMs of re-adopted pods, once every adoption has ended. */
  adopted: Promise<Set<string>>;
}

/** Everything the daemon is made of below its fronts. */
export interface DaemonLayers extends PodLayer {
  images: ImageService;
  vm: VmRuntime;
  archive: ContainerArchive;
  volumes: { store: VolumeStore; pods: PodManager; events: EventBus };
  engine: PodEngine;
  /** What the Docker API's container routes are handed. */
  containers: ContainerServices;
  /** Checkpoint images (src/engine/checkpoint-images.ts). */
  checkpointImages: CheckpointImages;
}

/** Bring every layer up, bottom to top (see the module comment). */
export async function openLayers(opts: DaemonOptions): Promise<DaemonLayers> {
  const images = await openImages(opts);
  const vm = await openVmRuntime(opts);
  const podLayer = await openPods(opts, images, vm);
  return { images, vm, ...podLayer, ...(await openCreation(opts, images, vm, podLayer)) };
}

/** Images: content/, layers/, images/ under the data root. */
async function openImages(opts: DaemonOptions): Promise<ImageService> {
  // Per-registry mirrors (registries.conf) serve the Docker API's pulls and the CRI's alike.
  const registriesConf = loadRegistriesConf(opts.registriesConf);
  if (registriesConf.registries.length)
    log.info(`registries: ${registriesConf.registries.length} entr(ies) from ${opts.registriesConf}`);
  return ImageService.open(opts.dataRoot, {
    insecureRegistries: opts.insecureRegistries,
    registryMirrors: opts.registryMirrors,
    registriesConf,
  });
}

/** The containers' state, rootfs and pods; restored before the API serves (no half-known pod). */
async function openPods(opts: DaemonOptions, images: ImageService, vm: VmRuntime): Promise<PodLayer> {
  const { hypervisor, blockMode, vmDefaults, poolDevices, vmFactory } = vm;
  // Per-container state, logs, hosts files and rootfs layers live under <data-root>/containers.
  const containersRoot = path.join(opts.dataRoot, 'containers');
  const state = new StateStore(containersRoot);
  await state.init();
  // Block mode: a formatted upper disk is kept ready in <data-root>/upper-disks, so a create
  // moves it into place instead of waiting for mkfs.ext4 (src/storage/upper-disk-file.ts).
  const spareDisks = blockMode ? new SpareDisks(path.join(opts.dataRoot, 'upper-disks'), UPPER_DISK_BYTES) : undefined;
  spareDisks?.refill();
  // Block mode: the read-only disks of images for containers that read their image from a disk
  // (the default; --storage-opt image=layers turns it off),
  // made once per image and removed with their images (src/storage/image-disks/image-disks.ts).
  const imageDiskDir = path.join(opts.dataRoot, 'image-disks');
  const imageDisks = blockMode ? new ImageDisks(imageDiskDir, IMAGE_DISK_BYTES) : undefined;
  if (imageDisks) images.store.useImageDisks(imageDisks);
  // What a killed daemon's makes left there goes before any make (./image-disk-leftovers.ts),
  // whatever this daemon's mode.
  await removeInterruptedMakes(imageDisks ?? new ImageDisks(imageDiskDir, IMAGE_DISK_BYTES), {
    mounter: sharedMounter(),
  });
  const rootfs = new OverlayRootfs(containersRoot, undefined, spareDisks, imageDisks);
  // Containers read their image from its disk by default: each image's disk is made when the
  // image comes (pull, load, build, commit), not at its first container's start; those of
  // images stored before are made by a sweep in the background (src/storage/image-disks/sweep.ts).
  const diskMaker = imageOnDiskIn(opts, blockMode) ? rootfs.imageDisks : undefined;
  if (diskMaker) images.makeImageDisks(new ImageDiskPrep((id) => images.store.layerDirs(id), diskMaker));
  const imageDiskSweep = diskMaker && new ImageDiskSweep(images.store, diskMaker);
  const events = new EventBus();
  // Bridges and rules come up in the background once the API listens (a daemon refused at
  // listen time touches no host network): /networks requests and pod starts wait for them.
  let networksOpened: (m: OpenedNetworks) => void = () => undefined;
  const networks = new Promise<OpenedNetworks>((resolve) => (networksOpened = resolve));
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
  return {
    spareDisks,
    rootfs,
    imageDisks,
    imageDiskSweep,
    events,
    networks,
    networksOpened,
    heldVms,
    cniNetworks,
    pods,
    adopted,
  };
}

/** The archive service, the volumes and the creation service, over the pods. */
async function openCreation(
  opts: DaemonOptions,
  images: ImageService,
  vm: VmRuntime,
  { rootfs, pods, events, networks }: PodLayer,
): Promise<Pick<DaemonLayers, 'archive' | 'volumes' | 'engine' | 'containers' | 'checkpointImages'>> {
  const { vmDefaults } = vm;
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
  if (opts.imageOnDisk === true && !vm.blockMode)
    log.warn('--storage-opt image=disk is ignored: this daemon is not in block mode (--rootfs-disk)');
  const staleArchiveMounts = await archive.reclaimStale();
  if (staleArchiveMounts) log.info(`detached ${staleArchiveMounts} archive mount(s) left by an earlier daemon`);
  // Docker sees each container of a pod of several as a container of its own.
  const dockerPods = dockerContainerView(pods);
  const hostCpus = os.cpus().length;
  // Named and anonymous volumes under <data-root>/volumes; anonymous ones of --rm containers go with them.
  const volumes = { store: await VolumeStore.open(opts.dataRoot), pods, events };
  removeWithContainers(volumes);
  // Checkpoint images (docs/checkpoint-images.md): made by committing and checkpointing a
  // container, started as forks of their saved state, unpacked under the data root.
  const checkpointImagesRoot = path.join(opts.dataRoot, 'checkpoint-images');
  // The base trees an earlier daemon's packs and unpacks left mounted go first.
  await removeLeftoverTrees(sharedMounter(), checkpointImagesRoot);
  const checkpointImages = new CheckpointImages({
    root: checkpointImagesRoot,
    pods,
    content: images.content,
    images: images.store,
    prepareForkTemplate: (dir) => vm.hypervisor.prepareForkTemplate(dir),
    checkStartable: (dir) => vm.hypervisor.checkSavedVm?.(dir),
    mountLayers: (dirs) => mountBaseTree(sharedMounter(), dirs, checkpointImagesRoot),
    registries: opts.checkpointImageRegistries,
    commit: (id) =>
      commitContainer(
        {
          containers: { pods: dockerPods, rootfsPaths: (c) => rootfs.paths(c), archive },
          images,
          version: PODVISOR_VERSION,
        },
        { container: id, repo: '', tag: '', changes: [], pause: true },
      ),
  });
  images.prepareSavedStates((id) => checkpointImages.prepare(id));
  const sweepStates = () =>
    void checkpointImages.sweep().catch((err: Error) => log.warn(`checkpoint images: ${err.message}`));
  images.store.onImageDeleted(sweepStates);
  events.subscribe((e) => {
    if (e.type === 'container' && e.action === 'destroy') sweepStates();
  });
  sweepStates();
  // Warm starts (docs/warm-starts.md): the first container of a kind saved once quiet, later
  // ones of that kind started from it.
  const warmStarts = new WarmStarts({
    root: path.join(opts.dataRoot, 'warm-starts'),
    enabled: opts.warmStarts,
    ...(opts.warmStartsMaxSize !== undefined ? { maxBytes: opts.warmStartsMaxSize } : {}),
    pods,
    imageTagged: (id) => (images.store.byId(id)?.repoTags.length ?? 0) > 0,
    checkStartable: (dir) => vm.hypervisor.checkSavedVm?.(dir),
    prepareForkTemplate: (dir) => vm.hypervisor.prepareForkTemplate(dir),
  });
  const sweepWarm = () => void warmStarts.sweep().catch((err: Error) => log.warn(`warm starts: ${err.message}`));
  images.store.onImageDeleted(sweepWarm);
  images.store.onTagMoved(sweepWarm);
  events.subscribe((e) => {
    warmStarts.onEvent(e);
    if (e.type === 'container' && e.action === 'destroy') sweepWarm();
  });
  sweepWarm();
  // The creation service (src/engine), over the pod layer: every front's creates go through it.
  const engine = openCreationEngine({
    pods,
    images: images.store,
    vmDefaults,
    hostCpus,
    logDefaults: { driver: opts.logDriver, opts: opts.logOpts },
    ...(imageOnDiskIn(opts, vm.blockMode) ? { imageOnDiskByDefault: true } : {}),
    networks: networks.then((n) => (n ? lookupOver((ref) => n.get(ref)) : undefined)),
    volumes: { store: volumes.store, events },
    archive,
    diskVolumeSeed: (id, volume) => rootfs.diskVolumeSeed(id, volume),
    checkpointImages,
    warmStarts,
  });
  const containers = {
    pods: dockerPods,
    engine,
    images: images.store,
    events,
    vmDefaults,
    hostCpus,
    blkioWeight: hostBlkioWeightSupport(),
    rootfsPaths: (id: string) => rootfs.paths(id),
    archive,
    checkpointImages,
    warmStarts,
  };
  return { archive, volumes, engine, containers, checkpointImages };
}
