/**
 * The volume store's failures, with the facts as fields (the operation that failed, the
 * volume, what was wrong); src/translate/errors.ts words them as dockerd does.
 */
import { ConflictError, InvalidArgumentError, NotFoundError } from '../errors';

/** The volume operation a failure belongs to (dockerd prefixes its messages with it). */
export type VolumeOp = 'create' | 'get' | 'remove';

/** No volume of that name. */
export class NoSuchVolumeError extends NotFoundError {
  constructor(
    readonly op: VolumeOp,
    readonly volume: string,
  ) {
    super(`${op} ${volume}: volume not found`);
  }
}

/** A driver other than the local one. */
export class NoSuchVolumeDriverError extends NotFoundError {
  constructor(
    readonly volume: string,
    readonly driver: string,
  ) {
    super(`create ${volume}: no volume driver ${driver}`);
  }
}

/** A volume name or option the local driver refuses. */
export class InvalidVolumeError extends InvalidArgumentError {
  constructor(
    readonly volume: string,
    /**
     * name-chars, name-short: the name; option: an option the local driver does not know
     * (`option`); missing-option: an option another one needs (`option`); size: a `size` that
     * is no size (`option` holds it); no-quota: a size limit, which needs quota support.
     */
    readonly reason: 'name-chars' | 'name-short' | 'option' | 'missing-option' | 'size' | 'no-quota',
    readonly option = '',
  ) {
    super(`create ${volume}: invalid volume (${reason}${option ? ` ${option}` : ''})`);
  }
}

/** A volume that containers still use. */
export class VolumeInUseError extends ConflictError {
  constructor(
    readonly volume: string,
    readonly users: string[],
  ) {
    super(`remove ${volume}: volume is in use by ${users.join(', ')}`);
  }
}

/**
 * A container that mounts volume `volume` (by name, or with --volumes-from) was started while
 * the volume's data is on the own disk of running container `owner` (named `ownerName`; a
 * volume of a container that reads its image from the image's disk, the default): only a guest that mounts that
 * disk can reach it, and two VMs never mount one filesystem. Once `owner` has stopped, the
 * data moves to the volume's host directory at this start, and the volume is an ordinary one
 * from then on.
 */
export class VolumeOnContainerDiskError extends ConflictError {
  constructor(
    readonly volume: string,
    readonly owner: string,
    readonly ownerName: string,
  ) {
    super(
      `volume ${volume} keeps its data on the disk of container ${ownerName} (${owner.slice(0, 12)}), which is ` +
        'running: another container can mount it once that container has stopped, or while it runs if that ' +
        'one is run with --storage-opt volumes=share (docs/limitations.md)',
    );
  }
}
