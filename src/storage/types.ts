/**
 * The contracts between the storage layer and the layers above it.
 *
 * The image store (src/storage/images) owns pulled images and their unpacked layers; the pod
 * layer only reads from it through `ImageLookup`, and prepares container root filesystems
 * through `RootfsManager`. Both have in-memory/fake implementations for unit tests.
 */
import type { BeneathPath } from '../util/beneath';

/** An OCI/Docker image config, as stored in the image's config blob (fields Docker reads). */
export interface ImageConfig {
  architecture: string;
  os: string;
  created?: string;
  author?: string;
  config?: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    Labels?: Record<string, string> | null;
    ExposedPorts?: Record<string, object> | null;
    Volumes?: Record<string, object> | null;
    StopSignal?: string;
    Healthcheck?: unknown;
    Hostname?: string;
    Domainname?: string;
    AttachStdin?: boolean;
    AttachStdout?: boolean;
    AttachStderr?: boolean;
    Tty?: boolean;
    OpenStdin?: boolean;
    StdinOnce?: boolean;
    Image?: string;
    OnBuild?: string[] | null;
    Shell?: string[];
  };
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: Array<{
    created?: string;
    created_by?: string;
    author?: string;
    comment?: string;
    empty_layer?: boolean;
  }>;
}

/** A locally stored, complete image. */
export interface ImageRecord {
  /** `sha256:<hex>` of the config blob: Docker's image ID. */
  id: string;
  /** `name:tag` references pointing at it, e.g. `127.0.0.1:5000/busybox:latest`. */
  repoTags: string[];
  /** `name@sha256:<manifest digest>` for each repository it was pulled from. */
  repoDigests: string[];
  config: ImageConfig;
  /** Sum of the unpacked layer sizes, bytes (Docker's `Size`). */
  size: number;
  /** When it was stored locally (ms since epoch). */
  storedAt: number;
}

/** What the pod layer needs from the image store. */
export interface ImageLookup {
  /**
   * Find a local image by reference (`busybox`, `busybox:1`, `127.0.0.1:5000/x@sha256:...`),
   * by full or short ID. Rejects NoSuchImageError when absent.
   */
  resolve(ref: string): Promise<ImageRecord>;
  /**
   * Host directories of the image's unpacked layers, lowest first, each ready to be an
   * overlayfs lower directory (whiteouts already in overlay form).
   */
  layerDirs(imageId: string): Promise<string[]>;
  /** Mark an image as used by a container (so `docker rmi` answers 409), or release it. */
  addUser(imageId: string, containerId: string): Promise<void>;
  removeUser(imageId: string, containerId: string): Promise<void>;
}

/** An empty upper disk made ahead of need, moved into place by a create that fits it. */
export interface DiskSource {
  /** Move the disk to `to` when `disk` asks for what it holds (true), else leave it (false). */
  take(to: string, disk: { bytes: number; fsBytes?: number }): Promise<boolean>;
}

/**
 * Container root filesystems: the image's layers (read-only, shared) under the container's
 * own writable layer, which persists across stop/start until the container is removed.
 *
 * Worked example:
 *   await rootfs.prepare('c1', layerDirs)      // creates <root>/c1/{upper,work}, nothing mounted
 *   await rootfs.mount('c1', { root: '/run/.../share', rel: 'containers/c1/rootfs' })   // overlay mounted there
 *   ... container runs, writes land in upper ...
 *   await rootfs.unmount('c1')                 // on stop; upper is kept
 *   await rootfs.mount('c1', target)           // on the next start: same files
 *   await rootfs.remove('c1')                  // on docker rm: unmounted and deleted
 */
export interface RootfsManager {
  /**
   * Make the container's writable layer: upper/ and work/ on the host, or with `disk` an
   * ext4 filesystem in a sparse file of `disk.bytes`, made at the first `mount` (block mode:
   * the layer lives in the guest, and `mount` then mounts only the read-only image layers; see
   * diskOf). With
   * `disk.fsBytes` the filesystem takes only that much of the file (--storage-opt size): the
   * container gets ENOSPC there.
   */
  prepare(
    containerId: string,
    layerDirs: string[],
    disk?: { bytes: number; fsBytes?: number; imageOnDisk?: boolean },
  ): Promise<void>;
  /**
   * The host file of a block-mode container's writable layer, undefined for a container whose
   * layer is on the host. The host never mounts it: the guest has written it. The file is made
   * at the container's first `mount`; until then the layer is on the host (see usesDisk).
   */
  diskOf?(containerId: string): string | undefined;
  /** Whether the container's layer is on a disk of its own, or will be from its first `mount` on. */
  usesDisk?(containerId: string): boolean;
  /**
   * The read-only disk file of the container's image (`--storage-opt image=disk`: its VM's
   * image disk, the lower layer of its guest's overlay), made now when the image has none
   * (./image-disks/image-disks.ts). Optional: a manager without image disks leaves it out.
   */
  imageDisk?(containerId: string): Promise<string>;
  /**
   * The host directory that becomes `volumes/<volume>` of the block-mode container's disk
   * when that disk is made, at its first start (made now, empty: the image's content at the
   * volume's path is copied into it at create). Only while the disk is still to be made.
   */
  diskVolumeSeed?(containerId: string, volume: string): Promise<string>;
  /**
   * Make a copy-on-write overlay over `file` (a checkpoint's copy of a disk, never written
   * again) the block-mode container's disk, in place of its disk or of the one still pending
   * (src/util/disk-chain.ts). Not while the container runs.
   */
  takeDisk?(containerId: string, file: string): Promise<void>;
  /**
   * Mount the container's root at `target`, a path below a VM's share directory that the guest
   * writes: every component is reached without following a symlink (src/util/beneath.ts). A
   * block-mode container's disk still to be made takes `opts.readyDisk`'s file first when it
   * fits (a pool VM's disk mounted ahead: Vm.takeReadyDisk), else the spare, else a new one.
   */
  mount(containerId: string, target: BeneathPath, opts?: { readyDisk?: DiskSource }): Promise<void>;
  unmount(containerId: string): Promise<void>;
  /**
   * After a daemon restart, record that a re-adopted container's overlay is mounted at
   * `target` (the earlier daemon mounted it there, and may have died or been stopped before
   * its own record of the mount was complete). Nothing is recorded when `target` is not a
   * mount point. Later `unmount` and inspect's MergedDir then find it.
   */
  adopt(containerId: string, target: BeneathPath): Promise<void>;
  remove(containerId: string): Promise<void>;
  /** Bytes in the container's writable layer (Docker's SizeRw). */
  sizeRw(containerId: string): Promise<number>;
}
