/**
 * The storage layer's own failures, as error classes with the facts in fields and a plain
 * message. A front end words them its own way (the Docker API renders dockerd's exact text
 * in src/translate/errors.ts); storage never speaks in one front end's words.
 */
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  NotImplementedError,
  UnauthorizedError,
  UnavailableError,
} from '../errors';

/** No stored image matches a reference or ID. `ref` is the name as the caller wrote it (familiar form). */
export class NoSuchImageError extends NotFoundError {
  constructor(readonly ref: string) {
    super(`image ${ref} not found`);
  }
}

/** Why an image cannot be deleted. */
export type ImageDeleteBlocker =
  | { kind: 'running-container'; containerId: string }
  | { kind: 'stopped-container'; containerId: string }
  | { kind: 'other-references' }
  | { kind: 'child-images' };

/**
 * An image cannot be deleted. `forcible` is false when even force would not do (a running
 * container uses it).
 */
export class ImageDeleteConflictError extends ConflictError {
  constructor(
    readonly imageId: string,
    readonly forcible: boolean,
    readonly blocker: ImageDeleteBlocker,
  ) {
    super(
      `image ${imageId} cannot be deleted: ${blocker.kind}${'containerId' in blocker ? ` ${blocker.containerId}` : ''}`,
    );
  }
}

/** A reference cannot be removed without force: it is the image's last and a container uses the image. */
export class ReferenceInUseError extends ConflictError {
  constructor(
    readonly ref: string,
    readonly imageId: string,
    readonly containerId: string,
  ) {
    super(`reference ${ref} of image ${imageId} is in use by container ${containerId}`);
  }
}

/** A registry answered a login check with a status other than success (`status` 0 when none). */
export class LoginRefusedError extends UnavailableError {
  constructor(
    readonly url: string,
    readonly status: number,
  ) {
    super(`registry login check at ${url} answered ${status}`);
  }
}

/**
 * A registry refused a pull of `repository` (familiar name) for want of credentials or
 * rights (401, or its DENIED / UNAUTHORIZED codes). `registryDetail`: the registry's own error
 * text, when it sent one.
 */
export class PullUnauthorizedError extends UnauthorizedError {
  constructor(
    readonly repository: string,
    readonly registryDetail: string | undefined,
  ) {
    super(`registry refused the pull of ${repository}${registryDetail ? `: ${registryDetail}` : ''}`);
  }
}

/** As PullUnauthorizedError, for a registry that answered 403. */
export class PullForbiddenError extends ForbiddenError {
  constructor(
    readonly repository: string,
    readonly registryDetail: string | undefined,
  ) {
    super(`registry forbade the pull of ${repository}${registryDetail ? `: ${registryDetail}` : ''}`);
  }
}

/** The registry has no manifest for `ref` (familiar form). `registryDetail` as above. */
export class ManifestNotFoundError extends NotFoundError {
  constructor(
    readonly ref: string,
    readonly registryDetail: string | undefined,
  ) {
    super(`no manifest for ${ref}${registryDetail ? `: ${registryDetail}` : ''}`);
  }
}

/** A registry answered with an error that is none of the above; `detail` is what it said. */
export class RegistryFailureError extends UnavailableError {
  constructor(readonly detail: string) {
    super(`registry failure: ${detail}`);
  }
}

/**
 * A host operation that reads or writes a block-mode container's writable layer (docker cp,
 * diff, export, commit) where no guest can do it (the layer is a filesystem only a guest
 * mounts; the daemon serves these through src/storage/archive/guest.ts).
 */
export class BlockModeError extends NotImplementedError {
  constructor(readonly containerId: string) {
    super(
      `container ${containerId.slice(0, 12)} keeps its writable layer on a block device (--rootfs-disk): ` +
        'copying, diffing, exporting and committing its files needs its guest, which is not available here',
    );
  }
}
