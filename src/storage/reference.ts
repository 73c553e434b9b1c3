/**
 * Docker image references, parsed and normalised the way the docker CLI and dockerd do it
 * (the grammar of distribution/reference):
 *
 *   busybox                      -> docker.io/library/busybox:latest
 *   user/app:1.2                 -> docker.io/user/app:1.2
 *   127.0.0.1:5000/x/y@sha256:.. -> domain 127.0.0.1:5000, path x/y, digest
 *
 * and shown back in their "familiar" form (docker.io/library/ dropped) as docker prints them.
 * Errors carry dockerd's words (`invalid reference format`, `... must be lowercase`).
 */
import { InvalidArgumentError } from '../errors';

/** Registry host used for names without a domain. */
export const DEFAULT_DOMAIN = 'docker.io';
/** Namespace of official images on docker.io. */
export const OFFICIAL_NAMESPACE = 'library';
/** Tag used when a reference names neither a tag nor a digest. */
export const DEFAULT_TAG = 'latest';

const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]*)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|${IPV6})(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}';
const NAME = `(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const REFERENCE_RE = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const TAG_RE = new RegExp(`^${TAG}$`);
const HEX64_RE = /^[a-f0-9]{64}$/;
const NAME_MAX = 255;

/** The message dockerd uses for any reference that does not match the grammar. */
export const INVALID_FORMAT = 'invalid reference format';

/** A parsed, normalised reference. */
export interface ImageReference {
  /** Registry host (with port), `docker.io` for Docker Hub. */
  domain: string;
  /** Repository path inside the registry, `library/busybox` for official images. */
  path: string;
  /** Tag, when one was given (or defaulted). */
  tag?: string;
  /** `sha256:<hex>`, when the reference pins a manifest digest. */
  digest?: string;
}

/** Parse a reference as dockerd's ParseNormalizedNamed does; no tag is added. */
export function parseReference(input: string): ImageReference {
  if (HEX64_RE.test(input)) {
    throw new InvalidArgumentError(`invalid repository name (${input}), cannot specify 64-byte hexadecimal strings`);
  }
  // Split the domain off the way dockerd 20.10 does before validating the rest: an upper-case
  // first component is a path component there (`UPPER/x`: "must be lowercase", 400), not a host.
  let domain = DEFAULT_DOMAIN;
  let remainder = input;
  const slash = input.indexOf('/');
  if (slash !== -1) {
    const first = input.slice(0, slash);
    if (/[.:]/.test(first) || first === 'localhost') {
      domain = first;
      remainder = input.slice(slash + 1);
    }
  }
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = `${OFFICIAL_NAMESPACE}/${remainder}`;
  // The part before the first ':' must be lowercase (dockerd's check, digest included).
  const nameEnd = remainder.indexOf(':');
  const repoPart = nameEnd === -1 ? remainder : remainder.slice(0, nameEnd);
  if (repoPart.toLowerCase() !== repoPart) {
    throw new InvalidArgumentError(`${INVALID_FORMAT}: repository name must be lowercase`);
  }
  const full = `${domain}/${remainder}`;
  const m = REFERENCE_RE.exec(full);
  if (!m) {
    if (input === '')
      throw new InvalidArgumentError(`${INVALID_FORMAT}: repository name must have at least one component`);
    if (REFERENCE_RE.test(full.toLowerCase())) {
      throw new InvalidArgumentError(`${INVALID_FORMAT}: repository name must be lowercase`);
    }
    throw new InvalidArgumentError(INVALID_FORMAT);
  }
  if (m[1].length > NAME_MAX) {
    throw new InvalidArgumentError(`${INVALID_FORMAT}: repository name must not be more than ${NAME_MAX} characters`);
  }
  const ref: ImageReference = { domain, path: m[1].slice(domain.length + 1) };
  if (m[2] !== undefined) ref.tag = m[2];
  if (m[3] !== undefined) {
    if (!/^sha256:[a-f0-9]{64}$/.test(m[3]))
      throw new InvalidArgumentError(`${INVALID_FORMAT}: invalid checksum digest format`);
    ref.digest = m[3];
  }
  return ref;
}

/** Like parseReference, then adds `:latest` when neither tag nor digest is present. */
export function parseTagged(input: string): ImageReference {
  const ref = parseReference(input);
  if (ref.tag === undefined && ref.digest === undefined) ref.tag = DEFAULT_TAG;
  return ref;
}

/** True when `tag` is a valid tag (`[\w][\w.-]{0,127}`). */
export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/** Fully qualified repository name: `docker.io/library/busybox`. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** Repository name as docker shows it: `busybox`, `user/app`, `127.0.0.1:5000/x`. */
export function familiarName(ref: Pick<ImageReference, 'domain' | 'path'>): string {
  if (ref.domain !== DEFAULT_DOMAIN) return `${ref.domain}/${ref.path}`;
  const prefix = `${OFFICIAL_NAMESPACE}/`;
  if (ref.path.startsWith(prefix) && !ref.path.slice(prefix.length).includes('/')) return ref.path.slice(prefix.length);
  return ref.path;
}

function suffix(ref: ImageReference): string {
  return (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest !== undefined ? `@${ref.digest}` : '');
}

/** Fully qualified string: `docker.io/library/busybox:latest`. */
export function formatReference(ref: ImageReference): string {
  return repositoryName(ref) + suffix(ref);
}

/** Familiar string: `busybox:latest`, `127.0.0.1:5000/x@sha256:...`. */
export function familiarString(ref: ImageReference): string {
  return familiarName(ref) + suffix(ref);
}

/** True when `s` looks like a full or truncated image ID (`sha256:`-prefixed or bare hex). */
export function looksLikeImageId(s: string): boolean {
  return /^(sha256:)?[a-f0-9]{1,64}$/.test(s);
}
