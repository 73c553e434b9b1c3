/**
 * A new image from a parent image plus at most one new layer (docker commit, and every step
 * of a build): the config is the parent's with the given container config, one history entry
 * added (`empty_layer` when no layer was added, as dockerd marks it), rootfs.diff_ids grown by
 * the layer's diff ID; the image ID is the sha256 of the config bytes. The config's keys are
 * written in dockerd's order (alphabetical, as it marshals an image).
 */
import type { ContentStore } from './content';
import type { ImageStore } from './images';
import type { ImageConfig } from './types';
import type { ImageReference } from './reference';
import { sha256Digest } from './digest';

type ContainerConfig = NonNullable<ImageConfig['config']>;

/** What a commit records. */
export interface CommitImageInput {
  /** The parent image's config; undefined for an image built FROM scratch. */
  parent?: ImageConfig;
  /** Diff ID of the new layer; undefined when the step added none. */
  diffId?: string;
  /** The new image's runtime config. */
  config: ContainerConfig;
  /** The history entry's created_by (dockerd: the container's Cmd, joined by spaces). */
  createdBy: string;
  author?: string;
  comment?: string;
  /** The container the layer came from, and its config (dockerd's `container`, `container_config`). */
  container?: { id: string; config: Record<string, unknown> };
  /** Daemon version to record (`docker_version`). */
  dockerVersion?: string;
  /** Creation time (RFC 3339); now when absent. */
  created?: string;
}

/** The new image's config bytes and parsed form (not stored yet). */
export function childImageConfig(input: CommitImageInput): { bytes: Buffer; config: ImageConfig } {
  const created = input.created ?? new Date().toISOString();
  const p = input.parent;
  const diffIds = [...(p?.rootfs.diff_ids ?? [])];
  if (input.diffId) diffIds.push(input.diffId);
  const entry: NonNullable<ImageConfig['history']>[number] = { created };
  if (input.author) entry.author = input.author;
  entry.created_by = input.createdBy;
  if (input.comment) entry.comment = input.comment;
  if (!input.diffId) entry.empty_layer = true;
  const raw: Record<string, unknown> = {
    architecture: p?.architecture ?? (process.arch === 'x64' ? 'amd64' : process.arch),
  };
  if (input.author) raw.author = input.author;
  if (input.comment) raw.comment = input.comment;
  raw.config = input.config;
  if (input.container) {
    raw.container = input.container.id;
    raw.container_config = input.container.config;
  }
  raw.created = created;
  if (input.dockerVersion) raw.docker_version = input.dockerVersion;
  raw.history = [...(p?.history ?? []), entry];
  raw.os = p?.os ?? 'linux';
  raw.rootfs = { type: 'layers', diff_ids: diffIds };
  const bytes = Buffer.from(JSON.stringify(raw));
  return { bytes, config: raw as unknown as ImageConfig };
}

/**
 * Store the config and record the image (tagged `refs`; `parent`: the image a build step
 * made it on, recorded as its parent). Resolves with the image ID.
 */
export async function recordImage(
  content: ContentStore,
  images: ImageStore,
  built: { bytes: Buffer; config: ImageConfig },
  refs: ImageReference[] = [],
  parent?: string,
): Promise<string> {
  const id = sha256Digest(built.bytes);
  await content.put(built.bytes, { digest: id }, 'image config');
  await images.commit({
    id,
    config: built.config,
    layers: built.config.rootfs.diff_ids,
    refs,
    ...(parent ? { parent } : {}),
  });
  return id;
}
