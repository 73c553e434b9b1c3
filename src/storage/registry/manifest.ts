/**
 * Image manifests: the media types we accept (Docker schema2 and OCI, single manifests and
 * manifest lists / OCI indexes), strict parsing of untrusted registry JSON into typed
 * descriptors, and the choice of one manifest from a list for a platform (linux/amd64 unless
 * the pull asks for another), as dockerd chooses.
 */
import { InvalidArgumentError, NotFoundError } from '../../errors';
import { isDigest } from '../digest';

/** Media types. */
export const MediaType = {
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  DockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  /** Not in Docker's spec: what containers/image (podman, skopeo) writes for zstd in schema 2. */
  DockerLayerZstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
  DockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  OciLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  OciLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
} as const;

/** Accept header for manifest requests: everything we can parse. */
export const MANIFEST_ACCEPT = [
  MediaType.DockerManifest,
  MediaType.DockerManifestList,
  MediaType.OciManifest,
  MediaType.OciIndex,
].join(', ');

/** A content descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  urls?: string[];
  annotations?: Record<string, string>;
}

/** An OCI platform. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
}

/** A single-platform image manifest. */
export interface ImageManifest {
  kind: 'manifest';
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

/** A manifest list / OCI index. */
export interface ManifestIndex {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
}

/** How a layer blob is compressed. */
export type LayerCompression = 'gzip' | 'none' | 'zstd';

/** Compression of a layer by media type; InvalidArgumentError for types that are not layers. */
export function layerCompression(mediaType: string): LayerCompression {
  switch (mediaType) {
    case MediaType.DockerLayerGzip:
    case MediaType.DockerForeignLayerGzip:
    case MediaType.OciLayerGzip:
    case MediaType.OciLayerNondistributableGzip:
      return 'gzip';
    case MediaType.OciLayer:
    case MediaType.OciLayerNondistributable:
      return 'none';
    case MediaType.OciLayerZstd:
    case MediaType.DockerLayerZstd:
      return 'zstd';
    default:
      throw new InvalidArgumentError(`unsupported layer media type ${JSON.stringify(mediaType)}`);
  }
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (!v || typeof v !== 'object' || Array.isArray(v))
    throw new InvalidArgumentError(`invalid manifest: ${what} is not an object`);
  return v as Record<string, unknown>;
}

function parseDescriptor(v: unknown, what: string): Descriptor {
  const o = obj(v, what);
  if (typeof o.mediaType !== 'string') throw new InvalidArgumentError(`invalid manifest: ${what} has no mediaType`);
  if (!isDigest(o.digest))
    throw new InvalidArgumentError(`invalid manifest: ${what} has an invalid digest ${JSON.stringify(o.digest)}`);
  if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) {
    throw new InvalidArgumentError(`invalid manifest: ${what} has an invalid size`);
  }
  const d: Descriptor = { mediaType: o.mediaType, digest: o.digest, size: o.size };
  if (o.platform !== undefined) {
    const p = obj(o.platform, `${what}.platform`);
    if (typeof p.os !== 'string' || typeof p.architecture !== 'string')
      throw new InvalidArgumentError(`invalid manifest: ${what}.platform needs os and architecture`);
    d.platform = { os: p.os, architecture: p.architecture };
    if (typeof p.variant === 'string') d.platform.variant = p.variant;
    if (typeof p['os.version'] === 'string') d.platform['os.version'] = p['os.version'];
  }
  if (Array.isArray(o.urls)) d.urls = o.urls.filter((u): u is string => typeof u === 'string');
  if (o.annotations && typeof o.annotations === 'object' && !Array.isArray(o.annotations)) {
    // Only string values are annotations (OCI); anything else is left out.
    const a = Object.entries(o.annotations as Record<string, unknown>).filter(
      (e): e is [string, string] => typeof e[1] === 'string',
    );
    if (a.length) d.annotations = Object.fromEntries(a);
  }
  return d;
}

/**
 * Parse a manifest body. `contentType` is the registry's Content-Type; the body's own
 * mediaType wins when present. Schema1 manifests are refused with a clear message.
 */
export function parseManifest(body: Buffer, contentType: string | undefined): ImageManifest | ManifestIndex {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    throw new InvalidArgumentError('invalid manifest: not JSON');
  }
  const o = obj(v, 'manifest');
  const ct = (contentType ?? '').split(';')[0].trim();
  let mediaType = typeof o.mediaType === 'string' ? o.mediaType : ct;
  if (!mediaType || mediaType === 'application/json') {
    // OCI allows mediaType to be absent: tell the two shapes apart by their fields.
    mediaType = Array.isArray(o.manifests) ? MediaType.OciIndex : MediaType.OciManifest;
  }
  if (mediaType === MediaType.DockerSchema1 || mediaType === MediaType.DockerSchema1Signed || o.schemaVersion === 1) {
    throw new InvalidArgumentError(
      'Docker Image manifest schema version 1 is not supported by podvisor: push the image again with a current docker',
    );
  }
  if (mediaType === MediaType.DockerManifestList || mediaType === MediaType.OciIndex) {
    if (!Array.isArray(o.manifests)) throw new InvalidArgumentError('invalid manifest list: no manifests');
    return { kind: 'index', mediaType, manifests: o.manifests.map((m, i) => parseDescriptor(m, `manifests[${i}]`)) };
  }
  if (mediaType === MediaType.DockerManifest || mediaType === MediaType.OciManifest) {
    if (!Array.isArray(o.layers)) throw new InvalidArgumentError('invalid manifest: no layers');
    return {
      kind: 'manifest',
      mediaType,
      config: parseDescriptor(o.config, 'config'),
      layers: o.layers.map((l, i) => parseDescriptor(l, `layers[${i}]`)),
    };
  }
  throw new InvalidArgumentError(`unsupported manifest media type ${JSON.stringify(mediaType)}`);
}

const ARCH_ALIASES: Record<string, string> = {
  x86_64: 'amd64',
  'x86-64': 'amd64',
  aarch64: 'arm64',
  armhf: 'arm',
  armel: 'arm',
  i386: '386',
};
/** The operating systems and architectures containerd's platform parser knows (Go's GOOS and GOARCH values). */
const KNOWN_OS = new Set([
  'aix',
  'android',
  'darwin',
  'dragonfly',
  'freebsd',
  'hurd',
  'illumos',
  'ios',
  'js',
  'linux',
  'nacl',
  'netbsd',
  'openbsd',
  'plan9',
  'solaris',
  'windows',
  'zos',
]);
const KNOWN_ARCH = new Set([
  '386',
  'amd64',
  'amd64p32',
  'arm',
  'armbe',
  'arm64',
  'arm64be',
  'ppc64',
  'ppc64le',
  'mips',
  'mipsle',
  'mips64',
  'mips64le',
  'mips64p32',
  'mips64p32le',
  'ppc',
  'riscv',
  'riscv64',
  's390',
  's390x',
  'sparc',
  'sparc64',
  'wasm',
]);
const COMPONENT = /^[A-Za-z0-9_-]+$/;

/**
 * Parse a `platform` parameter (`linux/arm64/v8`, `arm64`, `linux`) into a normalised platform,
 * with containerd's rules and words (dockerd's): a lone word must be a known OS or architecture.
 */
export function parsePlatform(s: string): Platform {
  if (s.includes('*')) throw new InvalidArgumentError(`"${s}": wildcards not yet supported: invalid argument`);
  const raw = s.split('/');
  const bad = raw.find((p) => !COMPONENT.test(p));
  if (bad !== undefined) {
    throw new InvalidArgumentError(
      `"${bad}" is an invalid component of "${s}": ` +
        `platform specifier component must match "${COMPONENT.source}": invalid argument`,
    );
  }
  const parts = raw.map((p) => p.toLowerCase());
  if (parts.length > 3) throw new InvalidArgumentError(`"${s}": cannot parse platform specifier: invalid argument`);
  let os = 'linux';
  let architecture = 'amd64';
  let variant: string | undefined;
  if (parts.length === 1) {
    if (KNOWN_OS.has(parts[0])) os = parts[0];
    else if (KNOWN_ARCH.has(ARCH_ALIASES[parts[0]] ?? parts[0])) architecture = parts[0];
    else throw new InvalidArgumentError(`"${s}": unknown operating system or architecture: invalid argument`);
  } else {
    [os, architecture, variant] = parts;
  }
  architecture = ARCH_ALIASES[architecture] ?? architecture;
  if (architecture === 'arm64' && variant === undefined) variant = 'v8';
  const p: Platform = { os, architecture };
  if (variant !== undefined) p.variant = variant;
  return p;
}

/** `linux/arm64/v8` form of a platform. */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** The platform this daemon runs containers for. */
export function hostPlatform(): Platform {
  return { os: 'linux', architecture: 'amd64' };
}

function variantMatches(want: Platform, got: Platform): boolean {
  if (!want.variant) return true;
  if (!got.variant) return want.architecture === 'arm64' && want.variant === 'v8';
  return want.variant === got.variant;
}

/**
 * Choose the manifest for `want` from an index (first match in list order, as dockerd does).
 * Entries for the platform `unknown/unknown` (BuildKit's attestations, a checkpoint image's
 * saved state) are never chosen. NotFoundError with dockerd's message when there is none.
 */
export function selectManifest(index: ManifestIndex, want: Platform): Descriptor {
  const found = index.manifests.find((m) => {
    if (m.mediaType !== MediaType.DockerManifest && m.mediaType !== MediaType.OciManifest) return false;
    const p = m.platform;
    if (!p || p.os === 'unknown' || p.architecture === 'unknown') return false;
    return (
      p.os === want.os &&
      (ARCH_ALIASES[p.architecture] ?? p.architecture) === want.architecture &&
      variantMatches(want, p)
    );
  });
  if (!found) {
    const shown = want.architecture === 'arm64' && want.variant === 'v8' ? { ...want, variant: undefined } : want;
    throw new NotFoundError(`no matching manifest for ${formatPlatform(shown)} in the manifest list entries`);
  }
  return found;
}
