/**
 * The annotations of a pulled image's manifest (OCI `annotations`: what `buildah config
 * --annotation` and `podman build --annotation` set, which the image's config does not carry),
 * read back from the content store, where a pull keeps each manifest it fetched under its
 * digest (./pull.ts). An index's (a manifest list's) entry for this host's platform is followed.
 */
import type { ContentStore } from './content';

/** Largest manifest read back (a registry's are a few KiB). */
const MANIFEST_MAX_BYTES = 4 * 1024 * 1024;

type ManifestReader = Pick<ContentStore, 'has' | 'size' | 'read'>;

/** The parsed manifest stored under `digest`, or undefined when it is not there or not JSON. */
async function readManifest(content: ManifestReader, digest: string): Promise<Record<string, unknown> | undefined> {
  if (!/^sha256:[a-f0-9]{64}$/.test(digest) || !(await content.has(digest))) return undefined;
  if ((await content.size(digest)) > MANIFEST_MAX_BYTES) return undefined;
  try {
    const m = JSON.parse((await content.read(digest)).toString('utf8')) as unknown;
    return m && typeof m === 'object' && !Array.isArray(m) ? (m as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The digest of index `m`'s manifest for linux/amd64 (or its only one); undefined if none. */
function platformEntry(m: Record<string, unknown>): string | undefined {
  const entries = (Array.isArray(m.manifests) ? m.manifests : []) as Array<Record<string, unknown>>;
  const ours = entries.find((e) => {
    const p = e?.platform as { os?: string; architecture?: string } | undefined;
    return p?.os === 'linux' && p?.architecture === 'amd64';
  });
  const entry = ours ?? (entries.length === 1 ? entries[0] : undefined);
  return typeof entry?.digest === 'string' ? entry.digest : undefined;
}

/**
 * The string annotations of the manifest an image was pulled by (`repoDigests`, `name@digest`:
 * the first one whose manifest is stored), following an index to this platform's manifest;
 * empty when none is stored (a build, an import, a load).
 */
export async function manifestAnnotations(
  content: ManifestReader,
  repoDigests: readonly string[],
): Promise<Record<string, string>> {
  for (const rd of repoDigests) {
    let m = await readManifest(content, rd.slice(rd.lastIndexOf('@') + 1));
    if (m && Array.isArray(m.manifests)) {
      const inner = platformEntry(m);
      m = inner ? await readManifest(content, inner) : undefined;
    }
    if (!m) continue;
    const out: Record<string, string> = {};
    const a = m.annotations;
    if (a && typeof a === 'object' && !Array.isArray(a))
      for (const [k, v] of Object.entries(a as Record<string, unknown>)) if (typeof v === 'string') out[k] = v;
    return out;
  }
  return {};
}
