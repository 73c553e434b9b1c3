/**
 * The mounts of a container's spec, as plain types (a leaf: no code, no imports): tmpfs, bind
 * mounts, volumes and the pod's empty directories. ./mounts.ts mounts them on a VM.
 */

/** A tmpfs inside a container. */
export interface PodTmpfsMount {
  type: 'tmpfs';
  /** Absolute path inside the container. */
  target: string;
  /** tmpfs options the agent takes: size=, nr_inodes=, mode=, uid=, gid= (comma-separated). */
  options?: string;
  readOnly: boolean;
  /** Docker mounts --tmpfs noexec,nosuid,nodev; --mount type=tmpfs the same. */
  noexec: boolean;
  nosuid: boolean;
  nodev: boolean;
}

/** A host file or directory bind-mounted into a container. */
export interface PodBindMount {
  type: 'bind';
  /** Absolute host path, as the user gave it (what inspect shows). */
  source: string;
  /**
   * `source` resolved at create, through the user's own symlinks (src/util/host-path.ts): every
   * start opens this path with no symlink followed. Absent in records made before it was kept.
   */
  resolvedSource?: string;
  /** Absolute path inside the container. */
  target: string;
  readOnly: boolean;
  /** Create a missing source directory at start (`-v`); otherwise a missing source fails the start (`--mount`). */
  createSource: boolean;
}

/**
 * A pod's empty directory (Kubernetes emptyDir) mounted into a container: made empty in the
 * VM's memory at the pod's start, shared by every container of the pod that mounts the same
 * name, gone when the pod's VM goes (stop or removal).
 */
export interface PodEmptyDirMount {
  type: 'emptyDir';
  /** The pod volume's name (letters, digits, _ . -, at most 36). */
  name: string;
  /** Absolute path inside the container. */
  target: string;
  readOnly: boolean;
}

/**
 * A volume (a directory the daemon's volume store keeps) mounted into a container. For the
 * VM it is a bind of `source`; the name is kept so that who uses a volume can be answered
 * from the pods' records.
 */
export interface PodVolumeMount {
  type: 'volume';
  /** The volume's name (empty until the create resolves an anonymous one). */
  name: string;
  /** Absolute host path of the volume's data (empty until resolved at create). */
  source: string;
  /** Absolute path inside the container. */
  target: string;
  readOnly: boolean;
  /** Made for this container without a name (an image's VOLUME, `-v /path`). */
  anonymous: boolean;
  /** Do not fill a new volume from the image's content at `target` (`nocopy`). */
  noCopy?: boolean;
  /** Labels, driver and driver options of a volume that `--mount` creates (taken at create). */
  labels?: Record<string, string>;
  driver?: string;
  options?: Record<string, string>;
  /**
   * The volume's data is this directory (`volumes/<name>`) of the container's own upper disk,
   * beside its overlay's upper/ and work/ (an anonymous volume of a container whose image is on
   * a disk: docs/design/storage.md, "Volumes on the container's disk"). It is saved with the
   * VM and copied with a fork; the host never reads it, and `source` stays the volume's empty
   * host directory.
   */
  diskDir?: string;
}

/** One mount of a container. */
export type PodMount = PodTmpfsMount | PodBindMount | PodVolumeMount | PodEmptyDirMount;
