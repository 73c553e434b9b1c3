/**
 * The host-path operations of src/pod, src/storage and src/vm that do not go through the
 * beneath helpers, each with why it may act on its path by name
 * (test/unit/lint/host-paths.test.ts). An entry names a file, a function in it and the
 * operations it makes there; a reason starting `FINDING:` is a call that acts on a path a
 * guest can write and is still to be fixed (docs/security.md).
 */

/** One allowed function's operations on paths by name, and why. */
export interface AllowedHostPathCalls {
  /** The file, relative to the repository. */
  file: string;
  /** The function: `name`, `Class.method`, or `<module>`. */
  fn: string;
  /** Its operations, as the scan names them (`fs.promises.readFile`, `mounter.unmount`, `spawn rm`). */
  calls: string[];
  reason: string;
}

const DATA_ROOT = "paths under the daemon's own data root that no guest reaches";
const CONTAINER_DIR =
  "the container's or pod's directory under the data root (records, logs, checkpoints, the host's copies of its /etc files): no share, no guest reaches it";
const IMAGE_STORE =
  'the image store under the data root (blobs, layers, index, spool): content from registries, `docker load` and builds, never a tree a guest writes';
const LAYER_EXTRACT =
  'an image layer being extracted into its own new directory of the layer store (pull, load, commit): the tar is checked entry by entry (src/storage/extract.ts), no guest reaches the directory';
const SQUASH = "stored image layers and a scratch directory of the daemon's (build --squash): no guest reaches either";
const VM_DIR_DAEMON =
  "the daemon's part of a VM's runtime directory (the directory, vm.json, volumes.key, disks/, the names of run/ and the shares): no jailed process has it bound, only run/, the shares and disks/, each a mount root in its jail that it can neither rename nor replace (src/vm/qemu/runtime-dir.ts)";
const VM_RUN_FILE =
  "a file of a VM's run/, which its jailed QEMU and helpers write: opened O_NOFOLLOW | O_NONBLOCK and fstat-checked (a regular file of one link, or a socket) before any use, the components above it the daemon's (src/util/jailed-files.ts)";
const PROC = "/proc, /dev or /sys of the host or of the daemon's own children";
const INSTALLED =
  "the daemon's installed files and the host's configuration (guest kernel and initrd, QEMU, busybox, registries.conf, resolv.conf)";
const EXEC_ROOT = "the daemon's exec root, above the VMs' directories: no guest reaches it";
const READY_DISK =
  "a ready upper disk, `ready-<vm id>.ext4` in the daemon's spare disks' directory under the data root (src/daemon/ready-disks.ts), in no VM's directory: no guest or jailed process reaches its name";
const TEMPLATES =
  'a VM template (its directory under the exec root): its guest runs no container, and its QEMU is gone before its files are removed';
const TEARDOWN =
  "a VM's runtime directory at teardown, after its QEMU and virtiofsd are gone (no guest writes the shares any more); the paths are mountinfo's own, with no symlink in them, and rm -rf --one-file-system never follows a symlink";
const ROOTFS_DATA =
  "the container's rootfs directory under the data root (upper/, work/, l/, lower.json, mountpoint, disk files); a 9p-mode guest writes inside upper/ only, never these names";
const IMAGE_DISKS =
  "an image disk file in the daemon's <data-root>/image-disks, written by the host alone (guests only read it, through a read-only device)";
const PENDING_DISK =
  "a block-mode container's host upper/ before its first start: only the host's docker cp at create wrote it, no guest has reached it";
const TAR_IN_TARGET =
  "`p` is the entry's Target.p: its name beneath the held parent directory (at(parent, name), src/storage/archive/tar-in.ts targetOf), used with no-follow calls";

const CHECKPOINT_FILES =
  "a checkpoint's files being packed (the daemon's own saved state in the container's directory under the data root, no guest reaches it), opened with O_NOFOLLOW";
const CHECKPOINT_UNPACK =
  'a checkpoint being unpacked into the new directory its caller just made under the data root (mode 0700, no guest reaches it): each file made with O_CREAT|O_EXCL|O_NOFOLLOW, and only the files this call made removed on failure';
const BASE_TREE =
  "a read-only mount of an image's stored layers for a checkpoint image's recipe, made at a fresh 0700 scratch directory under <data-root>/checkpoint-images: no guest reaches it, and the tree is walked one component at a time with O_NOFOLLOW";

export const ALLOWED: AllowedHostPathCalls[] = [
  // src/pod
  {
    file: 'src/pod/checkpoints/checkpoints.ts',
    fn: 'createCheckpoint',
    calls: ['fs.promises.mkdir', 'fs.promises.rename', 'removeTree'],
    reason: CONTAINER_DIR,
  },
  {
    file: 'src/pod/checkpoints/checkpoints.ts',
    fn: 'createCheckpoint',
    calls: ['fs.promises.link'],
    reason:
      "a CRI save's link of a joined container's image disk (<data-root>/image-disks/, made by the host, behind a read-only device) into the checkpoint's new directory: neither is a path a guest writes, and link(2) never follows a link at its source",
  },
  { file: 'src/pod/checkpoints/checkpoints.ts', fn: 'hasCheckpoint', calls: ['fs.lstatSync'], reason: CONTAINER_DIR },
  {
    file: 'src/pod/checkpoints/cri-restore.ts',
    fn: 'importCriCheckpoint',
    calls: ['fs.promises.mkdir', 'fs.promises.rename', 'removeTree'],
    reason: `a CRI restore's checkpoint, unpacked under .new-<name> in the sandbox pod's checkpoints directory and renamed when whole: ${CONTAINER_DIR}`,
  },
  {
    file: 'src/pod/checkpoints/cri-restore.ts',
    fn: 'readRecord',
    calls: ['fs.promises.open'],
    reason: `a record the archive reader just made anew (O_EXCL) in a CRI restore's new checkpoint directory, opened O_NOFOLLOW: ${CONTAINER_DIR}`,
  },
  {
    file: 'src/pod/checkpoints/unfinished-saves.ts',
    fn: 'removeUnfinishedSaves',
    calls: ['fs.promises.readdir', 'removeTree'],
    reason: CONTAINER_DIR,
  },
  {
    file: 'src/pod/checkpoints/checkpoints.ts',
    fn: 'listCheckpoints',
    calls: ['fs.promises.readdir'],
    reason: CONTAINER_DIR,
  },
  {
    file: 'src/pod/checkpoints/checkpoints.ts',
    fn: 'removeCheckpoint',
    calls: ['fs.promises.rm'],
    reason: CONTAINER_DIR,
  },
  { file: 'src/pod/checkpoints/checkpoints.ts', fn: 'restoredVm', calls: ['fs.existsSync'], reason: CONTAINER_DIR },
  { file: 'src/pod/checkpoints/checkpoints.ts', fn: 'savedRecord', calls: ['fs.readFileSync'], reason: CONTAINER_DIR },
  {
    file: 'src/pod/network/cni-network.ts',
    fn: 'sandboxFiles',
    calls: ['fs.promises.readFile'],
    reason: CONTAINER_DIR,
  },
  { file: 'src/pod/lifecycle/lifecycle.ts', fn: 'create', calls: ['fs.promises.mkdir'], reason: CONTAINER_DIR },
  { file: 'src/pod/io/log-position.ts', fn: 'PositionFile.write', calls: ['fs.openSync'], reason: CONTAINER_DIR },
  {
    file: 'src/pod/io/log-position.ts',
    fn: 'recoverPosition',
    calls: ['fs.readFileSync', 'fs.statSync', 'fs.truncateSync'],
    reason: CONTAINER_DIR,
  },
  {
    file: 'src/pod/io/logs.ts',
    fn: 'LogWriter.openCri',
    calls: ['fs.mkdirSync', 'fs.openSync'],
    reason: "the CRI log path the kubelet gave (a host path of the orchestrator's), never a guest's share",
  },
  { file: 'src/pod/io/logs.ts', fn: 'LogWriter.open', calls: ['fs.openSync'], reason: CONTAINER_DIR },
  {
    file: 'src/pod/io/logs.ts',
    fn: 'LogWriter.rotate',
    calls: ['fs.renameSync', 'fs.unlinkSync'],
    reason: CONTAINER_DIR,
  },
  {
    file: 'src/pod/io/logs.ts',
    fn: 'compressRotated',
    calls: ['fs.readFileSync', 'fs.renameSync', 'fs.rmSync', 'fs.unlinkSync', 'fs.writeFileSync'],
    reason: CONTAINER_DIR,
  },
  { file: 'src/pod/io/logs.ts', fn: 'readLogSync', calls: ['fs.readFileSync'], reason: CONTAINER_DIR },
  { file: 'src/pod/io/logs.ts', fn: 'rotatedFile', calls: ['fs.existsSync'], reason: CONTAINER_DIR },
  { file: 'src/pod/io/logs.ts', fn: 'snapshotLog', calls: ['fs.openSync'], reason: CONTAINER_DIR },
  {
    file: 'src/pod/mounts/mounts.ts',
    fn: 'shareKey',
    calls: ['fs.linkSync', 'fs.rmSync', 'fs.writeFileSync'],
    reason: `\`<share>.key\` beside the volume share (${VM_DIR_DAEMON}); in an earlier build's flat directory, written under a random name and linked (link never follows), then read as ${VM_RUN_FILE}`,
  },
  { file: 'src/pod/records/record.ts', fn: 'decodeRecord', calls: ['fs.promises.rm'], reason: CONTAINER_DIR },
  { file: 'src/pod/lifecycle/runtime.ts', fn: 'joinPodNetwork', calls: ['fs.promises.readFile'], reason: INSTALLED },
  {
    file: 'src/pod/lifecycle/runtime.ts',
    fn: 'prepareFiles',
    calls: ['fs.promises.mkdir', 'fs.promises.writeFile'],
    reason: `${CONTAINER_DIR}; the copies in the rootfs go through writeEtcFile (src/pod/mounts/etc-files.ts, beneath)`,
  },
  { file: 'src/pod/network/connect-as.ts', fn: 'connectAsBinary', calls: ['fs.accessSync'], reason: INSTALLED },
  { file: 'src/pod/network/share-events.ts', fn: 'startWatcher', calls: ['fs.existsSync'], reason: INSTALLED },
  {
    file: 'src/pod/network/share-events.ts',
    fn: 'startWatcher',
    calls: ['fs.openSync'],
    reason:
      "the volume share's own directory (the host made it and only the host names it), handed to the watcher, which resolves paths below it with openat2 (RESOLVE_BENEATH, no symlinks)",
  },

  // src/storage
  {
    file: 'src/storage/archive-image/load.ts',
    fn: 'ArchiveLoader.importLayer',
    calls: ['fs.promises.stat'],
    reason: IMAGE_STORE,
  },
  {
    file: 'src/storage/archive-image/load.ts',
    fn: 'ArchiveLoader.load',
    calls: ['fs.promises.mkdir', 'fs.promises.rm'],
    reason: IMAGE_STORE,
  },
  {
    file: 'src/storage/archive-image/load.ts',
    fn: 'openTar',
    calls: ['fs.createReadStream', 'fs.promises.open'],
    reason: IMAGE_STORE,
  },
  { file: 'src/storage/archive-image/load.ts', fn: 'planEntry', calls: ['fs.readFileSync'], reason: IMAGE_STORE },
  { file: 'src/storage/archive-image/read.ts', fn: 'json', calls: ['fs.readFileSync'], reason: IMAGE_STORE },
  {
    file: 'src/storage/archive-image/read.ts',
    fn: 'spoolArchive',
    calls: ['fs.createWriteStream'],
    reason: IMAGE_STORE,
  },
  {
    file: 'src/storage/archive-image/save.ts',
    fn: 'openLayerTar',
    calls: ['fs.createReadStream'],
    reason: IMAGE_STORE,
  },
  {
    file: 'src/storage/archive/changes.ts',
    fn: 'existsInLayers',
    calls: ['fs.promises.lstat'],
    reason: `the image's stored layers (${IMAGE_STORE}); the writable layer is walked beneath (walk)`,
  },
  {
    file: 'src/storage/archive/resolve.ts',
    fn: 'RootDir.open',
    calls: ['fs.promises.open'],
    reason:
      'the root of a RootDir: a directory the daemon owns and names (its callers pass a data-root path or `/`); every path below it is resolved beneath',
  },
  {
    file: 'src/storage/archive/service.ts',
    fn: 'ContainerArchive.reclaimStale',
    calls: ['fs.promises.readdir'],
    reason: DATA_ROOT,
  },
  {
    file: 'src/storage/archive/service.ts',
    fn: 'isOwnMount',
    calls: ['fs.promises.stat'],
    reason: "the share's root directory, which the host made and only the host names",
  },
  {
    file: 'src/storage/archive/service.ts',
    fn: 'openMountRoot',
    calls: ['fs.promises.realpath'],
    reason:
      "a volume's data directory under the data root (bind sources are pinned and skip it): its path is the daemon's, the guest writes only below it, and the result is opened beneath `/` with no symlink followed",
  },
  {
    file: 'src/storage/archive/tar-in.ts',
    fn: 'makeRoom',
    calls: ['fs.lstatSync', 'fs.unlinkSync'],
    reason: TAR_IN_TARGET,
  },
  {
    file: 'src/storage/archive/tar-in.ts',
    fn: 'placeDirectory',
    calls: ['fs.mkdirSync', 'fs.openSync'],
    reason: TAR_IN_TARGET,
  },
  {
    file: 'src/storage/archive/tar-in.ts',
    fn: 'placeFile',
    calls: ['fs.openSync', 'fs.rmSync'],
    reason: TAR_IN_TARGET,
  },
  { file: 'src/storage/archive/tar-in.ts', fn: 'placeNode', calls: ['fs.lchownSync'], reason: TAR_IN_TARGET },
  {
    file: 'src/storage/archive/tar-in.ts',
    fn: 'placeSymlink',
    calls: ['fs.lchownSync', 'fs.lutimesSync', 'fs.symlinkSync'],
    reason: TAR_IN_TARGET,
  },
  {
    file: 'src/storage/checkpoint-image/state-archive.ts',
    fn: 'addBlob',
    calls: ['fs.createReadStream'],
    reason: IMAGE_STORE,
  },
  {
    file: 'src/storage/checkpoint-image/state-archive.ts',
    fn: 'planStates',
    calls: ['fs.readFileSync', 'fs.statSync'],
    reason: IMAGE_STORE,
  },
  {
    file: 'src/storage/checkpoint-image/state-archive.ts',
    fn: 'storeStates',
    calls: ['fs.createReadStream'],
    reason: IMAGE_STORE,
  },
  {
    file: 'src/storage/checkpoint-image/extents.ts',
    fn: 'extentStreamOf',
    calls: ['fs.promises.open'],
    reason: CHECKPOINT_FILES,
  },
  {
    file: 'src/storage/checkpoint-image/pack.ts',
    fn: 'plainSource',
    calls: ['fs.promises.open'],
    reason: CHECKPOINT_FILES,
  },
  { file: 'src/storage/checkpoint-image/unpack.ts', fn: 'openBlob', calls: ['fs.promises.open'], reason: IMAGE_STORE },
  {
    file: 'src/storage/checkpoint-image/unpack.ts',
    fn: 'unpackCheckpointFiles',
    calls: ['fs.promises.open', 'fs.promises.rm'],
    reason: CHECKPOINT_UNPACK,
  },
  {
    file: 'src/storage/commit-tar.ts',
    fn: 'isOpaqueDir',
    calls: ['spawn getfattr'],
    reason: `called by squash on a stored layer's directory (${SQUASH})`,
  },
  ...['commitTemp', 'delete', 'has', 'init', 'list', 'put', 'read', 'size', 'stage', 'ingestNew'].map((m) => ({
    file: 'src/storage/content.ts',
    fn: `ContentStore.${m}`,
    calls: [
      ...{
        commitTemp: ['fs.promises.rename'],
        delete: ['fs.promises.rm'],
        has: ['fs.promises.access'],
        init: ['fs.promises.mkdir', 'fs.promises.rm'],
        list: ['fs.promises.readdir'],
        put: ['fs.promises.open', 'fs.promises.rm'],
        read: ['fs.promises.readFile'],
        size: ['fs.promises.stat'],
        stage: ['fs.createWriteStream'],
        ingestNew: ['fs.createWriteStream', 'fs.promises.rm'],
      }[m]!,
    ],
    reason: IMAGE_STORE,
  })),
  { file: 'src/storage/content.ts', fn: 'discard', calls: ['fs.promises.rm'], reason: IMAGE_STORE },
  {
    file: 'src/storage/extract.ts',
    fn: 'LayerExtractor.applyOwnerMode',
    calls: ['fs.promises.chmod', 'fs.promises.lchown', 'fs.promises.lutimes'],
    reason: LAYER_EXTRACT,
  },
  ...['directory', 'ensureParents'].map((m) => ({
    file: 'src/storage/extract.ts',
    fn: `LayerExtractor.${m}`,
    calls: ['fs.promises.mkdir'],
    reason: LAYER_EXTRACT,
  })),
  { file: 'src/storage/extract.ts', fn: 'LayerExtractor.file', calls: ['fs.promises.open'], reason: LAYER_EXTRACT },
  ...['finish', 'node'].map((m) => ({
    file: 'src/storage/extract.ts',
    fn: `LayerExtractor.${m}`,
    calls: ['fs.promises.utimes'],
    reason: LAYER_EXTRACT,
  })),
  { file: 'src/storage/extract.ts', fn: 'LayerExtractor.hardlink', calls: ['fs.promises.link'], reason: LAYER_EXTRACT },
  {
    file: 'src/storage/extract.ts',
    fn: 'LayerExtractor.removeExisting',
    calls: ['fs.promises.rm', 'fs.promises.unlink'],
    reason: LAYER_EXTRACT,
  },
  {
    file: 'src/storage/extract.ts',
    fn: 'LayerExtractor.symlink',
    calls: ['fs.promises.symlink'],
    reason: LAYER_EXTRACT,
  },
  {
    file: 'src/storage/extract.ts',
    fn: 'LayerExtractor.whiteout',
    calls: ['fs.promises.lchown'],
    reason: LAYER_EXTRACT,
  },
  {
    file: 'src/storage/fsops.ts',
    fn: 'lsetxattr',
    calls: ['spawn setfattr'],
    reason:
      "setfattr -h never follows a symlink at the last name; callers pass a layer's path (extract, squash), under the data root",
  },
  {
    file: 'src/storage/fsops.ts',
    fn: 'mknod',
    calls: ['spawn mknod'],
    reason:
      "mknod(2) never follows a symlink at the last name; callers pass a layer's path (extract) or a name beneath a held directory (tar-in)",
  },
  {
    file: 'src/storage/image-index.ts',
    fn: 'ImageIndex.init',
    calls: ['fs.promises.mkdir', 'fs.promises.readFile'],
    reason: IMAGE_STORE,
  },
  { file: 'src/storage/layers/store.ts', fn: 'LayerStore.begin', calls: ['fs.promises.mkdir'], reason: IMAGE_STORE },
  {
    file: 'src/storage/layers/store.ts',
    fn: 'LayerStore.discard',
    calls: ['fs.promises.rename', 'removeTree'],
    reason: IMAGE_STORE,
  },
  {
    file: 'src/storage/layers/store.ts',
    fn: 'LayerStore.init',
    calls: ['fs.promises.mkdir', 'fs.promises.readFile', 'fs.promises.readdir', 'removeTree'],
    reason: IMAGE_STORE,
  },
  {
    file: 'src/storage/layers/store.ts',
    fn: 'LayerStore.commitWork',
    calls: ['fs.promises.rename'],
    reason: IMAGE_STORE,
  },
  { file: 'src/storage/push.ts', fn: 'open', calls: ['fs.createReadStream'], reason: IMAGE_STORE },
  {
    file: 'src/storage/layers/top-level-files.ts',
    fn: 'findInLayers',
    calls: ['fs.promises.lstat'],
    reason: IMAGE_STORE,
  },
  {
    file: 'src/storage/layers/top-level-files.ts',
    fn: 'addMember',
    calls: ['fs.promises.open'],
    reason: IMAGE_STORE,
  },
  {
    file: 'src/storage/registry/registries-conf.ts',
    fn: 'loadRegistriesConf',
    calls: ['fs.readFileSync'],
    reason: INSTALLED,
  },
  ...['diskOf', 'isRemoved'].map((m) => ({
    file: 'src/storage/rootfs.ts',
    fn: `OverlayRootfs.${m}`,
    calls: ['fs.existsSync'],
    reason: ROOTFS_DATA,
  })),
  ...['layers', 'mountRecord'].map((m) => ({
    file: 'src/storage/rootfs.ts',
    fn: `OverlayRootfs.${m}`,
    calls: ['fs.promises.readFile'],
    reason: ROOTFS_DATA,
  })),
  {
    file: 'src/storage/image-disks/from-layers.ts',
    fn: 'RootfsImageDisks.someContainerOn',
    calls: ['fs.promises.readdir', 'fs.promises.readFile'],
    reason: `the data root's containers directory and each container's lower.json: ${ROOTFS_DATA}`,
  },
  {
    file: 'src/storage/rootfs.ts',
    fn: 'OverlayRootfs.mountDetached',
    calls: ['fs.promises.mkdir', 'mounter.unmount'],
    reason: `${ROOTFS_DATA}: the target is its archive-mnt, a short mount for docker cp or export of a stopped container`,
  },
  {
    file: 'src/storage/layer-mounts.ts',
    fn: 'mountImageLayers',
    calls: ['mounter.bindTree', 'mounter.mount'],
    reason:
      "stored image layers mounted read-only at a target the caller holds (fdPath of a mount point reached beneath the share) or under the data root (archive-mnt, a disk's seed)",
  },
  {
    file: 'src/storage/rootfs.ts',
    fn: 'OverlayRootfs.mountOverlay',
    calls: ['mounter.mount'],
    reason:
      "the overlay's layers and upper/work are the daemon's own directories under the data root; the target is fdPath of a mount point reached beneath the share (mount) or the data root's archive-mnt (mountDetached)",
  },
  {
    file: 'src/storage/rootfs.ts',
    fn: 'OverlayRootfs.prepare',
    calls: ['fs.existsSync', 'fs.promises.mkdir'],
    reason: ROOTFS_DATA,
  },
  {
    file: 'src/storage/layer-mounts.ts',
    fn: 'writeLayerLinks',
    calls: ['fs.promises.mkdir', 'fs.promises.rm', 'fs.promises.symlink'],
    reason: `${ROOTFS_DATA}; or the short layer links beside an image disk being made (${IMAGE_DISKS})`,
  },
  {
    file: 'src/storage/layer-mounts.ts',
    fn: 'removeLayerLinks',
    calls: ['fs.promises.rm'],
    reason: `the short layer links beside an image disk being made: ${IMAGE_DISKS}`,
  },
  {
    file: 'src/storage/image-disks/from-layers.ts',
    fn: 'RootfsImageDisks.hasImageDisk',
    calls: ['fs.existsSync'],
    reason: IMAGE_DISKS,
  },
  {
    file: 'src/storage/rootfs.ts',
    fn: 'OverlayRootfs.remove',
    calls: ['fs.promises.readdir', 'mounter.unmount', 'removeTree'],
    reason: `${ROOTFS_DATA}: the daemon's own files; upper/, which a guest may still reach through a mount it moved in its share, goes with removeGuestTree`,
  },
  { file: 'src/storage/rootfs.ts', fn: 'OverlayRootfs.sizeRw', calls: ['fs.promises.stat'], reason: ROOTFS_DATA },
  { file: 'src/storage/rootfs.ts', fn: 'OverlayRootfs.takeDisk', calls: ['fs.promises.rm'], reason: ROOTFS_DATA },
  {
    file: 'src/storage/rootfs.ts',
    fn: 'OverlayRootfs.unmountDetached',
    calls: ['mounter.unmount'],
    reason: `${ROOTFS_DATA}: the archive-mnt that mountDetached made`,
  },
  { file: 'src/storage/rootfs.ts', fn: 'OverlayRootfs.unmount', calls: ['fs.promises.rm'], reason: ROOTFS_DATA },
  {
    file: 'src/storage/image-disks/from-layers.ts',
    fn: 'unmount',
    calls: ['mounter.unmount'],
    reason: `the image's read-only tree mounted beside an image disk being made (${IMAGE_DISKS})`,
  },
  { file: 'src/storage/service.ts', fn: 'ImageService.open', calls: ['fs.promises.rm'], reason: IMAGE_STORE },
  {
    file: 'src/storage/squash.ts',
    fn: 'applyLayer',
    calls: [
      'fs.promises.chmod',
      'fs.promises.lchown',
      'fs.promises.lstat',
      'fs.promises.mkdir',
      'fs.promises.readdir',
      'fs.promises.rm',
      'fs.promises.utimes',
    ],
    reason: SQUASH,
  },
  {
    file: 'src/storage/squash.ts',
    fn: 'place',
    calls: [
      'fs.promises.chmod',
      'fs.promises.copyFile',
      'fs.promises.lchown',
      'fs.promises.link',
      'fs.promises.lutimes',
      'fs.promises.readlink',
      'fs.promises.symlink',
    ],
    reason: SQUASH,
  },
  {
    file: 'src/storage/squash.ts',
    fn: 'squashImage',
    calls: ['fs.promises.mkdir', 'fs.promises.mkdtemp', 'fs.promises.rm'],
    reason: SQUASH,
  },
  { file: 'src/storage/state.ts', fn: 'StateStore.init', calls: ['fs.promises.mkdir'], reason: DATA_ROOT },
  { file: 'src/storage/state.ts', fn: 'StateStore.loadAll', calls: ['fs.promises.readdir'], reason: DATA_ROOT },
  { file: 'src/storage/state.ts', fn: 'StateStore.load', calls: ['fs.promises.readFile'], reason: DATA_ROOT },
  { file: 'src/storage/state.ts', fn: 'StateStore.save', calls: ['fs.promises.mkdir'], reason: DATA_ROOT },
  {
    file: 'src/storage/tree-walk.ts',
    fn: 'walkNoFollow',
    calls: ['fs.promises.open'],
    reason:
      "the walk's root, the daemon's own path (a writable layer's upper/, a volume's _data) opened with O_NOFOLLOW; everything below it is reached through held descriptors",
  },
  {
    file: 'src/storage/upper-disk-file.ts',
    fn: 'SpareDisks.refill',
    calls: ['fs.existsSync', 'fs.promises.mkdir'],
    reason: `the spare upper disk (${DATA_ROOT})`,
  },
  {
    file: 'src/storage/upper-disk-file.ts',
    fn: 'SpareDisks.take',
    calls: ['fs.promises.rename'],
    reason: `the spare upper disk (${DATA_ROOT})`,
  },
  { file: 'src/storage/upper-disk-file.ts', fn: 'hasPendingDisk', calls: ['fs.existsSync'], reason: ROOTFS_DATA },
  {
    file: 'src/storage/image-disks/image-disks.ts',
    fn: 'ImageDisks.ensure',
    calls: ['fs.existsSync'],
    reason: IMAGE_DISKS,
  },
  {
    file: 'src/storage/image-disks/image-disks.ts',
    fn: 'ImageDisks.remove',
    calls: ['fs.promises.rm'],
    reason: IMAGE_DISKS,
  },
  {
    file: 'src/storage/image-disks/image-disks.ts',
    fn: 'ImageDisks.makeNeeded',
    calls: ['fs.promises.rm'],
    reason: IMAGE_DISKS,
  },
  {
    file: 'src/storage/image-disks/image-disks.ts',
    fn: 'ImageDisks.release',
    calls: ['fs.existsSync'],
    reason: IMAGE_DISKS,
  },
  {
    file: 'src/storage/image-disks/image-disks.ts',
    fn: 'ImageDisks.interrupted',
    calls: ['fs.readdirSync'],
    reason: `the directory of the image disks, listed for what a killed daemon's makes left (${IMAGE_DISKS})`,
  },
  {
    file: 'src/storage/image-disks/image-disks.ts',
    fn: 'ImageDisks.make',
    calls: ['fs.promises.mkdir', 'fs.promises.rm', 'fs.promises.rename', 'fs.promises.rmdir', 'fs.promises.stat'],
    reason: IMAGE_DISKS,
  },
  {
    file: 'src/storage/image-disks/image-disks.ts',
    fn: 'makeImageFilesystem',
    calls: ['spawn mkfs.ext4'],
    reason: `${IMAGE_DISKS}; mkfs.ext4 -d reads the image's read-only layers, mounted by the host`,
  },
  {
    file: 'src/storage/rootfs.ts',
    fn: 'OverlayRootfs.makeDisk',
    calls: ['mounter.unmount'],
    reason: `a seed's lower/ in the container's directory (${DATA_ROOT}), which only an earlier daemon's copy of the image mounted`,
  },
  {
    file: 'src/storage/upper-disk-file.ts',
    fn: 'makePendingDisk',
    calls: [
      'fs.existsSync',
      'fs.promises.mkdir',
      'fs.promises.readFile',
      'fs.promises.readdir',
      'fs.promises.rename',
      'fs.promises.rm',
      'removeTree',
    ],
    reason: PENDING_DISK,
  },
  {
    file: 'src/storage/upper-disk-file.ts',
    fn: 'makeDiskVolumeSeed',
    calls: ['fs.promises.mkdir'],
    reason: `${PENDING_DISK}: the seeds of the volumes kept on that disk, which only copy-up fills (no-follow, at held parents)`,
  },
  {
    file: 'src/storage/upper-disk-file.ts',
    fn: 'makeUpperDisk',
    calls: ['fs.promises.rename', 'fs.promises.rm', 'spawn mkfs.ext4'],
    reason: `a new disk file under the data root; mkfs.ext4 -d copies a seed directory in user space without following its symlinks (${PENDING_DISK})`,
  },
  { file: 'src/storage/upper-disk-file.ts', fn: 'make', calls: ['fs.promises.mkdir'], reason: DATA_ROOT },
  { file: 'src/storage/upper-disk-file.ts', fn: 'remove', calls: ['fs.promises.rm'], reason: DATA_ROOT },
  { file: 'src/storage/upper-disk-file.ts', fn: 'scratchDisks', calls: ['fs.rmSync'], reason: DATA_ROOT },
  {
    file: 'src/storage/volumes-copy.ts',
    fn: 'isEmptyDir',
    calls: ['fs.promises.opendir'],
    reason: "a volume's data directory itself, whose path is the daemon's (the guest writes only below it)",
  },
  {
    file: 'src/storage/volumes-copy.ts',
    fn: 'copyOutOfContainer',
    calls: ['fs.promises.mkdtemp', 'fs.promises.lstat', 'fs.promises.rmdir', 'fs.promises.rename'],
    reason:
      "a volume kept on a container's disk, whose `_data` no guest has (another container's mount of it is refused) and whose staging directory beside it only this extraction writes; the moved entry is lstat'ed and renamed, never followed",
  },
  {
    file: 'src/storage/volumes.ts',
    fn: 'VolumeStore.create',
    calls: ['fs.promises.mkdir', 'removeTree'],
    reason: `${DATA_ROOT}: a volume whose create failed, never mounted anywhere`,
  },
  {
    file: 'src/storage/volumes.ts',
    fn: 'VolumeStore.isEmpty',
    calls: ['fs.promises.opendir'],
    reason: "a volume's data directory itself, whose path is the daemon's (the guest writes only below it); only read",
  },
  {
    file: 'src/storage/volumes.ts',
    fn: 'VolumeStore.open',
    calls: ['fs.promises.mkdir', 'fs.promises.readFile', 'fs.promises.readdir', 'fs.promises.rm', 'removeTree'],
    reason:
      "the volumes' root and its record under the data root, above every volume's data; a directory without a record (a create cut short) was never mounted anywhere",
  },

  // src/vm
  { file: 'src/vm/accel.ts', fn: 'fileIdentity', calls: ['fs.realpathSync', 'fs.statSync'], reason: INSTALLED },
  {
    file: 'src/vm/accel.ts',
    fn: 'probeKvm',
    calls: ['fs.mkdirSync', 'fs.mkdtempSync', 'fs.rmSync'],
    reason: EXEC_ROOT,
  },
  { file: 'src/vm/accel.ts', fn: 'readRecord', calls: ['fs.readFileSync'], reason: EXEC_ROOT },
  {
    file: 'src/vm/accel.ts',
    fn: 'resolveAccel',
    calls: ['fs.accessSync', 'fs.mkdirSync', 'fs.renameSync', 'fs.writeFileSync'],
    reason: `/dev/kvm, and ${EXEC_ROOT}`,
  },
  {
    file: 'src/vm/clean.ts',
    fn: 'emptyDir',
    calls: ['fs.promises.open'],
    reason:
      'the share directory itself, which the host made and only the host names; everything below it is reached through the held descriptor',
  },
  { file: 'src/vm/devices/nic.ts', fn: 'canCreateTaps', calls: ['fs.accessSync'], reason: PROC },
  { file: 'src/vm/guest-images.ts', fn: 'debianGuestImages', calls: ['fs.existsSync'], reason: INSTALLED },
  { file: 'src/vm/guest-images.ts', fn: 'kernelHas9p', calls: ['fs.readFileSync'], reason: INSTALLED },
  { file: 'src/vm/guest-images.ts', fn: 'ownGuestImages', calls: ['fs.existsSync'], reason: INSTALLED },
  { file: 'src/vm/idle-vms.ts', fn: 'HeldVms.restore', calls: ['fs.promises.readFile'], reason: EXEC_ROOT },
  { file: 'src/vm/pool-demand.ts', fn: 'idleCoresSampler', calls: ['fs.readFileSync'], reason: PROC },
  { file: 'src/vm/qemu/adopt.ts', fn: 'adoptVm', calls: ['fs.existsSync'], reason: VM_DIR_DAEMON },
  { file: 'src/vm/qemu/binaries.ts', fn: 'checkGuestImages', calls: ['fs.existsSync'], reason: INSTALLED },
  { file: 'src/vm/qemu/binaries.ts', fn: 'isExecutable', calls: ['fs.accessSync', 'fs.statSync'], reason: INSTALLED },
  { file: 'src/vm/qemu/binaries.ts', fn: 'ramShimLibrary', calls: ['fs.existsSync', 'fs.statSync'], reason: INSTALLED },
  { file: 'src/vm/qemu/snapshots/checkpoint.ts', fn: 'madeAlready', calls: ['fs.existsSync'], reason: CONTAINER_DIR },
  {
    file: 'src/vm/qemu/snapshots/saved-record.ts',
    fn: 'readSavedVm',
    calls: ['fs.existsSync', 'fs.readFileSync'],
    reason: CONTAINER_DIR,
  },
  { file: 'src/vm/qemu/snapshots/checkpoint.ts', fn: 'saveVm', calls: ['fs.promises.rm'], reason: CONTAINER_DIR },
  {
    file: 'src/vm/qemu/snapshots/saved-record.ts',
    fn: 'imageDiskIdentity',
    calls: ['fs.statSync'],
    reason: IMAGE_DISKS,
  },
  { file: 'src/vm/qemu/snapshots/save-stamp.ts', fn: 'fileDigest', calls: ['fs.openSync'], reason: INSTALLED },
  {
    file: 'src/storage/checkpoint-image/base-tree.ts',
    fn: 'mountBaseTree',
    calls: ['fs.promises.mkdir', 'fs.promises.mkdtemp'],
    reason: BASE_TREE,
  },
  {
    file: 'src/storage/checkpoint-image/base-tree.ts',
    fn: 'cleanup',
    calls: ['mounter.unmount', 'fs.promises.rm'],
    reason: BASE_TREE,
  },
  {
    file: 'src/storage/checkpoint-image/base-tree.ts',
    fn: 'removeLeftoverTrees',
    calls: ['fs.promises.readdir', 'mounter.unmount', 'fs.promises.rm'],
    reason: BASE_TREE,
  },
  { file: 'src/storage/checkpoint-image/recipe.ts', fn: 'recipeOf', calls: ['fs.promises.open'], reason: IMAGE_DISKS },
  {
    file: 'src/storage/checkpoint-image/tree-files.ts',
    fn: 'listTreeFiles',
    calls: ['fs.promises.open'],
    reason: BASE_TREE,
  },
  {
    file: 'src/storage/checkpoint-image/tree-files.ts',
    fn: 'TreeOpener.dir',
    calls: ['fs.promises.open'],
    reason: BASE_TREE,
  },
  {
    file: 'src/vm/qemu/snapshots/save-stamp.ts',
    fn: 'warmFileDigests',
    calls: ['fs.promises.open'],
    reason: INSTALLED,
  },
  {
    file: 'src/vm/qemu/snapshots/fork-template.ts',
    fn: 'makeForkTemplate',
    calls: ['fs.promises.rename', 'fs.promises.rm'],
    reason: TEMPLATES,
  },
  {
    file: 'src/vm/qemu/snapshots/clone-qemu.ts',
    fn: 'spawnCloneQemu',
    calls: ['fs.openSync', 'fs.writeFileSync'],
    reason: `a template's saved state and RAM file (${TEMPLATES}), or a checkpoint's (${CONTAINER_DIR}); the RAM file is made present so that the jail can bind it`,
  },
  {
    file: 'src/vm/qemu/confinement/jail-mounts.ts',
    fn: 'withFilesInVmDir',
    calls: ['fs.rmSync'],
    reason: `the mount points of a disk's files in a VM's disks/ (${VM_DIR_DAEMON}); in an earlier build's flat directory, which its QEMU writes, an unlink of that name only, once unmounted (unlink never follows)`,
  },
  {
    file: 'src/vm/qemu/confinement/jail-mounts.ts',
    fn: 'newMountPoint',
    calls: ['fs.openSync', 'fs.unlinkSync'],
    reason: `a new mount point in a VM's disks/ (${VM_DIR_DAEMON}); in an earlier build's flat directory made O_CREAT | O_EXCL | O_NOFOLLOW (never a file a name led to) and mounted onto by its descriptor, a stale name unlinked (unlink never follows)`,
  },
  { file: 'src/vm/qemu/confinement/jail.ts', fn: 'jailBinary', calls: ['fs.accessSync'], reason: INSTALLED },
  {
    file: 'src/vm/qemu/confinement/jail.ts',
    fn: 'programFiles',
    calls: ['fs.statSync', 'fs.existsSync'],
    reason: INSTALLED,
  },
  { file: 'src/vm/qemu/confinement/jail.ts', fn: 'helperJailArgs', calls: ['fs.statSync'], reason: INSTALLED },
  {
    file: 'src/vm/qemu/confinement/jail.ts',
    fn: 'listDir',
    calls: ['fs.readdirSync'],
    reason: `${INSTALLED}: QEMU's firmware and module directories`,
  },
  {
    file: 'src/vm/qemu/confinement/jail.ts',
    fn: 'jailArgs',
    calls: ['fs.existsSync'],
    reason: `${INSTALLED}, and the host's device nodes a jail binds (${PROC})`,
  },
  {
    file: 'src/vm/qemu/confinement/jail.ts',
    fn: 'isDirectory',
    calls: ['fs.statSync'],
    reason: `what a jail binds: ${INSTALLED}, and the VM's runtime directory itself (the jail binds the directory, not a path in its shares)`,
  },
  {
    file: 'src/vm/qemu/confinement/vm-cgroup.ts',
    fn: 'cgroupLayout',
    calls: ['fs.existsSync'],
    reason: `the host's cgroup filesystems (${PROC})`,
  },
  {
    file: 'src/vm/qemu/confinement/vm-cgroup.ts',
    fn: 'readOr',
    calls: ['fs.readFileSync'],
    reason: `the host's cgroup filesystems (${PROC})`,
  },
  {
    file: 'src/vm/qemu/confinement/vm-cgroup.ts',
    fn: 'ensureParent',
    calls: ['fs.mkdirSync', 'fs.writeFileSync'],
    reason: `the host's cgroup filesystems (${PROC})`,
  },
  {
    file: 'src/vm/qemu/confinement/vm-cgroup.ts',
    fn: 'makeCgroupIn',
    calls: ['fs.mkdirSync', 'fs.writeFileSync', 'fs.existsSync'],
    reason: `the host's cgroup filesystems (${PROC})`,
  },
  {
    file: 'src/vm/qemu/confinement/vm-cgroup.ts',
    fn: 'removeCgroupDir',
    calls: ['fs.rmdirSync'],
    reason: `the host's cgroup filesystems (${PROC})`,
  },
  {
    file: 'src/vm/qemu/confinement/vm-cgroup.ts',
    fn: 'removeNowOrLater',
    calls: ['fs.rmdirSync'],
    reason: `the host's cgroup filesystems (${PROC})`,
  },
  {
    file: 'src/vm/qemu/confinement/vm-cgroup.ts',
    fn: 'sweepVmCgroups',
    calls: ['fs.readdirSync'],
    reason: `the host's cgroup filesystems (${PROC})`,
  },
  {
    file: 'src/vm/qemu/confinement/vm-cgroup.ts',
    fn: 'removeIfEmpty',
    calls: ['fs.rmdirSync'],
    reason: `the host's cgroup filesystems (${PROC})`,
  },
  {
    file: 'src/vm/qemu/confinement/vm-cgroup-parent.ts',
    fn: 'placeVmCgroup',
    calls: ['fs.readFileSync'],
    reason: PROC,
  },
  {
    file: 'src/vm/qemu/confinement/vm-cgroup-parent.ts',
    fn: 'makeParent',
    calls: ['fs.mkdirSync', 'fs.readFileSync', 'fs.writeFileSync'],
    reason: `the host's cgroup filesystems (${PROC})`,
  },
  {
    file: 'src/vm/qemu/confinement/vm-cgroup-parent.ts',
    fn: 'chargeMovesWith',
    calls: ['fs.writeFileSync'],
    reason: `the host's cgroup filesystems (${PROC})`,
  },
  {
    file: 'src/vm/qemu/confinement/vm-cgroup-parent.ts',
    fn: 'processesOf',
    calls: ['fs.readFileSync'],
    reason: `the host's cgroup filesystems (${PROC})`,
  },
  {
    file: 'src/vm/qemu/confinement/vm-cgroup-parent.ts',
    fn: 'moveProcess',
    calls: ['fs.writeFileSync'],
    reason: `the host's cgroup filesystems (${PROC})`,
  },
  {
    file: 'src/vm/qemu/confinement/vm-cgroup-record.ts',
    fn: 'placedDirs',
    calls: ['fs.readFileSync'],
    reason: `${EXEC_ROOT} (vm-cgroups/, records of where VM cgroups are)`,
  },
  {
    file: 'src/vm/qemu/confinement/vm-cgroup-record.ts',
    fn: 'recordPlacement',
    calls: ['fs.mkdirSync', 'fs.writeFileSync', 'fs.renameSync'],
    reason: `${EXEC_ROOT} (vm-cgroups/, records of where VM cgroups are)`,
  },
  {
    file: 'src/vm/qemu/confinement/vm-cgroup-record.ts',
    fn: 'forgetPlacement',
    calls: ['fs.rmSync'],
    reason: `${EXEC_ROOT} (vm-cgroups/, records of where VM cgroups are)`,
  },
  {
    file: 'src/vm/qemu/confinement/vm-cgroup-record.ts',
    fn: 'placementRecords',
    calls: ['fs.readdirSync'],
    reason: `${EXEC_ROOT} (vm-cgroups/, records of where VM cgroups are)`,
  },
  { file: 'src/vm/qemu/host-files.ts', fn: 'pssBytes', calls: ['fs.readFileSync'], reason: PROC },
  {
    file: 'src/vm/qemu/host-files.ts',
    fn: 'removeTreeOnOneDevice',
    calls: ['fs.existsSync', 'spawn rm'],
    reason: `${TEARDOWN}; emptyDir (src/vm/clean.ts) passes a name beneath a held directory instead`,
  },
  { file: 'src/vm/qemu/host-files.ts', fn: 'unmountBelow', calls: ['mounter.unmount'], reason: TEARDOWN },
  { file: 'src/vm/qemu/host-tsc.ts', fn: 'hostTscKhz', calls: ['fs.readFileSync'], reason: PROC },
  {
    file: 'src/vm/qemu/hypervisor.ts',
    fn: 'QemuHypervisor.listRuntimeVms',
    calls: ['fs.readdirSync'],
    reason: EXEC_ROOT,
  },
  {
    file: 'src/vm/qemu/hypervisor.ts',
    fn: 'QemuHypervisor.newRuntimeDir',
    calls: ['fs.mkdirSync'],
    reason: EXEC_ROOT,
  },
  { file: 'src/vm/qemu/memory/jit-trim.ts', fn: 'findJitMapping', calls: ['fs.readFileSync'], reason: PROC },
  {
    file: 'src/vm/qemu/memory/jit-trim.ts',
    fn: 'jitTrimWorthwhile',
    calls: ['fs.statSync'],
    reason: `a /proc/<pid>/map_files entry (${PROC})`,
  },
  {
    file: 'src/vm/qemu/snapshots/migration.ts',
    fn: 'close',
    calls: ['fs.rmSync'],
    reason:
      "the state socket the daemon listened on in a VM's run/: an unlink of that name only (unlink never follows a symlink), nothing behind it",
  },
  {
    file: 'src/vm/qemu/snapshots/migration.ts',
    fn: 'receiveState',
    calls: ['fs.createWriteStream', 'fs.rmSync'],
    reason: `the state file, in a checkpoint's directory (${CONTAINER_DIR}) or a template's (${TEMPLATES}); the socket in a VM's run/ is unlinked by name only (never followed) and bound anew (bind(2) refuses any name left there)`,
  },
  {
    file: 'src/vm/qemu/memory/post-boot-reclaim.ts',
    fn: 'readIntoPageCache',
    calls: ['fs.promises.open'],
    reason: INSTALLED,
  },
  ...['procState', 'processArgv', 'processCpuMs'].map((fn) => ({
    file: 'src/vm/qemu/processes/processes.ts',
    fn,
    calls: ['fs.readFileSync'],
    reason: PROC,
  })),
  { file: 'src/vm/qemu/processes/processes.ts', fn: 'setProcessNice', calls: ['fs.readdirSync'], reason: PROC },
  { file: 'src/vm/qemu/processes/processes.ts', fn: 'parentPid', calls: ['fs.readFileSync'], reason: PROC },
  { file: 'src/vm/qemu/confinement/jailed-process.ts', fn: 'onlyChild', calls: ['fs.readFileSync'], reason: PROC },
  { file: 'src/vm/qemu/processes/vm-processes.ts', fn: 'isSupervisor', calls: ['fs.readlinkSync'], reason: PROC },
  { file: 'src/vm/qemu/qemu-vm.ts', fn: 'QemuVm.reclaimBootMemory', calls: ['fs.realpathSync'], reason: INSTALLED },
  { file: 'src/vm/qemu/qemu-vm.ts', fn: 'QemuVm.saveTo', calls: ['fs.promises.rm'], reason: CONTAINER_DIR },
  {
    file: 'src/vm/devices/upper-disk/ready-disk.ts',
    fn: 'ReadyUpperDisk.discard',
    calls: ['fs.promises.rm'],
    reason: READY_DISK,
  },
  {
    file: 'src/vm/devices/upper-disk/ready-disk.ts',
    fn: 'ReadyUpperDisk.take',
    calls: ['fs.promises.rename'],
    reason: READY_DISK,
  },
  {
    file: 'src/vm/qemu/vm-record.ts',
    fn: 'writeVmRecord',
    calls: ['fs.renameSync', 'fs.writeFileSync'],
    reason: `a new VM's vm.json (${VM_DIR_DAEMON})`,
  },
  {
    file: 'src/vm/qemu/runtime-dir.ts',
    fn: 'makeRuntimeDir',
    calls: ['fs.mkdirSync'],
    reason: `a new VM's directory and its parts, made before any process of the VM runs (${VM_DIR_DAEMON})`,
  },
  {
    file: 'src/vm/qemu/runtime-dir.ts',
    fn: 'layoutOf',
    calls: ['fs.lstatSync'],
    reason: `whether a VM's directory has run/, by lstat, which never follows (${VM_DIR_DAEMON})`,
  },
  { file: 'src/vm/qemu/runtime-dir.ts', fn: 'jailedDirs', calls: ['fs.existsSync'], reason: VM_DIR_DAEMON },
  {
    file: 'src/vm/qemu/start-steps.ts',
    fn: 'waitForSocket',
    calls: ['fs.existsSync'],
    reason: `whether a socket in a VM's run/ is there yet, nothing more: the connection that follows goes through connectVmSocket (${VM_RUN_FILE})`,
  },
  {
    file: 'src/vm/qemu/snapshots/templates.ts',
    fn: 'VmTemplates.build',
    calls: ['fs.mkdirSync', 'fs.readdirSync', 'fs.rmSync', 'fs.writeFileSync'],
    reason: `${TEMPLATES}; its RAM file is made new (O_EXCL) in its fresh directory before its QEMU starts`,
  },
  ...['close', 'discard', 'sweepOnce'].map((m) => ({
    file: 'src/vm/qemu/snapshots/templates.ts',
    fn: `VmTemplates.${m}`,
    calls: ['fs.promises.rm'],
    reason: TEMPLATES,
  })),
  { file: 'src/vm/qemu/snapshots/templates.ts', fn: 'stamp', calls: ['fs.statSync'], reason: INSTALLED },
  { file: 'src/vm/qemu/processes/vm-processes.ts', fn: 'liveProcesses', calls: ['fs.readdirSync'], reason: PROC },
  {
    file: 'src/vm/qemu/memory/zero-trim.ts',
    fn: 'findGuestMemfd',
    calls: ['fs.readdirSync', 'fs.readlinkSync', 'fs.statSync'],
    reason: `QEMU's fds under /proc/<pid>/fd (${PROC})`,
  },
  {
    file: 'src/vm/rehearsal.ts',
    fn: 'Rehearsal.buildRootfs',
    calls: [
      'fs.promises.chmod',
      'fs.promises.copyFile',
      'fs.promises.mkdir',
      'fs.promises.symlink',
      'fs.promises.writeFile',
    ],
    reason: "the rehearsal's own rootfs, a new directory of the daemon's that it fills before its VM boots",
  },
  {
    file: 'src/vm/rehearsal.ts',
    fn: 'Rehearsal.rehearse',
    calls: ['fs.promises.rm'],
    reason: "the rehearsal's own directory, after its VM is gone",
  },
  { file: 'src/vm/rehearsal.ts', fn: 'isStaticElf', calls: ['fs.openSync'], reason: INSTALLED },
];
