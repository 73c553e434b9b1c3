/**
 * A create of a checkpoint image (docs/checkpoint-images.md) or of a warm start's kind: the
 * translated pod made a fork of the saved state. What the request sets for the container's
 * place (its name, labels, published ports, network, restart policy, `--rm`) is kept; what
 * would change the saved processes (another command or entrypoint, environment, user, working
 * directory, a terminal, mounts, less memory than the saved VM holds) is refused naming the
 * option in the front's words (its CreateFront.refusedBySavedState, ./front.ts), unless the
 * request asks for a cold start from the image's filesystem (COLD_START_LABEL).
 */
import { InvalidArgumentError } from '../errors';
import type { Translated } from '../translate/translation';
import type { PodMount, PodSpec } from '../pod/types';
import { COLD_LABEL, type UnpackedState } from './checkpoint-images';

/** The label (value `cold`) that starts a checkpoint image from its filesystem, as any image. */
export const COLD_START_LABEL: string = COLD_LABEL;

/** Whether a create with labels `labels` asks for a cold start of a checkpoint image. */
export function wantsColdStart(labels: Record<string, string> | undefined): boolean {
  return labels?.[COLD_START_LABEL] === 'cold';
}

/**
 * The saved mount (a volume on the saved disk, known by its directory there: `volumes/<name>`)
 * of named volume mount `m` of a request, when the saved container had that volume there, at
 * that target, as read-only or not as `m`.
 */
export function savedMountOf(m: PodMount, saved: readonly PodMount[]): PodMount | undefined {
  if (m.type !== 'volume' || m.anonymous || !m.name) return undefined;
  return saved.find(
    (o) =>
      o.type === 'volume' && o.diskDir === `volumes/${m.name}` && o.target === m.target && o.readOnly === m.readOnly,
  );
}

/**
 * Whether the volumes and binds a request mounts (`mounts`, translated) are the saved
 * container's named volumes (savedMountOf; a warm start's kind has them: ./warm-starts.ts):
 * no bind, no other volume.
 */
export function namedVolumesAsSaved(mounts: readonly PodMount[], saved: readonly PodMount[]): boolean {
  return mounts.every(
    (m) => m.type === 'tmpfs' || (m.type === 'volume' && (m.anonymous || savedMountOf(m, saved) !== undefined)),
  );
}

/**
 * Make translation `t` (image `image`) a start from saved state `s`, or refuse it
 * (InvalidArgumentError) naming `refused`, the first option of the create the saved processes
 * cannot take, as its front words it (undefined: none).
 */
export function planFromSavedState(
  t: Translated,
  s: UnpackedState,
  image: { id: string; ref: string },
  refused: string | undefined,
): void {
  if (refused)
    throw new InvalidArgumentError(
      `image ${image.ref} starts from its saved state, whose processes go on as they were saved: ${refused} cannot apply to them (label ${COLD_START_LABEL}=cold starts the image's filesystem afresh instead)`,
    );
  const main = t.spec.containers[0];
  // A named volume the request mounts as saved is on the saved disk (`volumes/<name>`): the
  // volume step finds or makes it by name and keeps it on this container's disk
  // (savedNamedVolumes), filling nothing. Any other saved volume is the disk's directory alone.
  const named = (main.mounts ?? []).filter((m) => m.type === 'volume' && !m.anonymous && m.name);
  main.mounts = s.container.mounts.map((o) => {
    const m = named.find((n) => savedMountOf(n, [o]) !== undefined);
    if (m?.type !== 'volume') return { ...o };
    const { diskDir: _dir, ...volume } = m;
    return { ...volume, source: '', noCopy: true };
  });
  main.imageOnDisk = true;
  delete t.anonymousVolumes;
  t.spec.vm = { ...t.spec.vm, memoryMiB: s.container.vm.memoryMiB, cpus: s.container.vm.cpus };
  t.spec.savedState = { dir: s.dir, image: image.id };
}

/**
 * Whether the container of `spec` (started from a saved state) has named volumes: they are on
 * the saved disk, so they go on the container's disk (the volume step's `disk` placement), each
 * new or empty, or the create fails (createWithVolumes).
 */
export function savedNamedVolumes(spec: PodSpec): boolean {
  return (spec.containers[0]?.mounts ?? []).some((m) => m.type === 'volume' && !m.anonymous);
}
