/**
 * How a checkpoint image's saved state travels (issue 66; docs/checkpoint-images.md): beside
 * the image's own manifest (its filesystem, as `docker commit` would make it), an OCI image
 * manifest whose config and layers are the saved state, never a runtime's rootfs. Both are
 * listed in one OCI index under the image's tag: the image's manifest with its platform, the
 * state's with the platform `unknown/unknown` and the annotation CHECKPOINT_FOR naming the
 * image manifest it belongs to, so that dockerd, containerd and every other runtime choose the
 * image's manifest and never the state (as they skip BuildKit's attestations).
 *
 * The state manifest:
 *   mediaType     application/vnd.oci.image.manifest.v1+json
 *   artifactType  CHECKPOINT_ARTIFACT_TYPE
 *   config        CHECKPOINT_CONFIG_TYPE: JSON (at most CHECKPOINT_CONFIG_MAX bytes)
 *                 { format: 1, files: [{ name, bytes, sparse, recipe? }], record: <the caller's JSON> }
 *   layers        one per file, in `files` order, annotated with its name
 *                 (org.opencontainers.image.title): CHECKPOINT_FILE_TYPE (the file's bytes,
 *                 zstd), CHECKPOINT_SPARSE_TYPE (the file's data extents, zstd; ./extents.ts)
 *                 or CHECKPOINT_RECIPE_TYPE (an image disk as a recipe over its base image's
 *                 files, zstd; ./recipe.ts: its entry's `recipe` names the base image's layers
 *                 and the disk's digest)
 */

/** The state manifest's artifactType (OCI 1.1). */
export const CHECKPOINT_ARTIFACT_TYPE = 'application/vnd.podvisor.checkpoint.v1';
/** Its config blob's media type (what registries without artifactType go by). */
export const CHECKPOINT_CONFIG_TYPE = 'application/vnd.podvisor.checkpoint.config.v1+json';
/** A saved file's bytes, zstd-compressed. */
export const CHECKPOINT_FILE_TYPE = 'application/vnd.podvisor.checkpoint.file.v1+zstd';
/** A sparse saved file (a disk): its data extents, zstd-compressed. */
export const CHECKPOINT_SPARSE_TYPE = 'application/vnd.podvisor.checkpoint.sparse.v1+zstd';
/** An image disk told as references to its base image's files and literals, zstd-compressed. */
export const CHECKPOINT_RECIPE_TYPE = 'application/vnd.podvisor.checkpoint.recipe.v1+zstd';
/** The annotation, on the state manifest's entry in the index, naming the image manifest it saves. */
export const CHECKPOINT_FOR = 'org.podvisor.checkpoint.for';
/** Most bytes of a state manifest, and of its config. */
export const CHECKPOINT_MANIFEST_MAX = 64 * 1024;
export const CHECKPOINT_CONFIG_MAX = 1024 * 1024;
