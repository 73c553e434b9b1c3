/**
 * containers-registries.conf(5), version 2: the ecosystem's file of per-registry mirrors, as
 * podman, CRI-O and skopeo read it (TOML, parsed with smol-toml). What podvisor takes from it:
 *
 *   [[registry]]
 *   prefix = "registry.k8s.io"           # what references it applies to (default: location)
 *   location = "registry.k8s.io"         # where the registry itself is (may rewrite the prefix)
 *   insecure = false                     # http and unverified TLS allowed
 *   blocked = false                      # pulls of matching references are refused
 *   mirror-by-digest-only = false        # mirrors serve digest pulls only (pull-from-mirror = "digest-only")
 *   [[registry.mirror]]
 *   location = "127.0.0.1:5003/k8s"      # tried before the registry, in order
 *   insecure = true
 *   pull-from-mirror = "all"             # all | digest-only | tag-only
 *
 * Matching and rewriting follow containers/image: the entry with the longest prefix that
 * matches the fully qualified reference (`docker.io/library/busybox`) at a component boundary
 * wins; a `*.example.com` prefix matches any subdomain (and then the location must be empty).
 * A source's repository is the reference with the prefix replaced by the source's location.
 * Pulls try the mirrors in order, then the registry itself; a blocked registry refuses them.
 *
 * Not read (the keys are accepted and ignored, see docs/cri.md): unqualified-search-registries,
 * short-name aliases, credential-helpers, and the registries.conf.d drop-in directory. The
 * deprecated version 1 tables ([registries.search] ...) are refused with a clear error.
 */
import * as fs from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { ForbiddenError, InvalidArgumentError } from '../../errors';

/** When a mirror may serve a pull. */
export type PullFromMirror = 'all' | 'digest-only' | 'tag-only';

/** One `[[registry.mirror]]`. */
export interface MirrorEntry {
  /** `host[:port][/namespace...]`. */
  location: string;
  insecure: boolean;
  pullFromMirror: PullFromMirror;
}

/** One `[[registry]]`. */
export interface RegistryEntry {
  prefix: string;
  /** Empty only for a wildcard prefix (the reference is then not rewritten). */
  location: string;
  insecure: boolean;
  blocked: boolean;
  mirrors: MirrorEntry[];
}

/** A parsed registries.conf (an empty one when the file does not exist). */
export interface RegistriesConf {
  /** The file it came from (for messages), or '' for none. */
  file: string;
  registries: RegistryEntry[];
}

/** One place to pull a repository from, in the order to try them. */
export interface PullSource {
  /** Registry host[:port]. */
  domain: string;
  /** Repository path at that host. */
  repository: string;
  /** A mirror (any failure there moves on to the next source) rather than the registry. */
  mirror: boolean;
  /** registries.conf says insecure (http and unverified TLS allowed). */
  insecure: boolean;
}

/** No registries.conf: no entries. */
export const EMPTY_REGISTRIES_CONF: RegistriesConf = { file: '', registries: [] };

/** Read and parse a registries.conf; a missing file means no entries. Malformed: InvalidArgumentError. */
export function loadRegistriesConf(file: string): RegistriesConf {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { file, registries: [] };
    throw new InvalidArgumentError(`registries.conf: cannot read ${file}: ${(e as Error).message}`);
  }
  return parseRegistriesConf(text, file);
}

function bad(file: string, what: string): InvalidArgumentError {
  return new InvalidArgumentError(`registries.conf ${file || '(text)'}: ${what}`);
}

function str(v: unknown, file: string, key: string): string {
  if (v === undefined) return '';
  if (typeof v !== 'string') throw bad(file, `${key} must be a string`);
  return v;
}

function bool(v: unknown, file: string, key: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw bad(file, `${key} must be true or false`);
  return v;
}

function pullFrom(v: unknown, file: string, key: string): PullFromMirror {
  if (v === undefined || v === '') return 'all';
  if (v === 'all' || v === 'digest-only' || v === 'tag-only') return v;
  throw bad(file, `${key} must be "all", "digest-only" or "tag-only", not ${JSON.stringify(v)}`);
}

/** A location or prefix as containers/image checks it: no scheme, no trailing slash. */
function checkLocation(loc: string, file: string, key: string): string {
  if (/^[a-z]+:\/\//i.test(loc)) throw bad(file, `${key} ${JSON.stringify(loc)} must not have a scheme`);
  if (/\s/.test(loc)) throw bad(file, `${key} ${JSON.stringify(loc)} must not contain spaces`);
  return loc.replace(/\/+$/, '');
}

/** Parse registries.conf text (version 2). */
export function parseRegistriesConf(text: string, file = ''): RegistriesConf {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    throw bad(file, `not valid TOML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (doc.registries !== undefined) {
    throw bad(
      file,
      'the version 1 format ([registries.search], [registries.insecure]...) is not supported: use [[registry]] tables',
    );
  }
  const raw = doc.registry ?? [];
  if (!Array.isArray(raw)) throw bad(file, '[[registry]] must be an array of tables');
  const registries: RegistryEntry[] = [];
  const seen = new Set<string>();
  for (const [i, r] of raw.entries()) {
    if (typeof r !== 'object' || r === null) throw bad(file, `registry ${i + 1} is not a table`);
    const t = r as Record<string, unknown>;
    const at = `registry ${i + 1}`;
    const location = checkLocation(str(t.location, file, `${at}: location`), file, `${at}: location`);
    const prefix = checkLocation(str(t.prefix, file, `${at}: prefix`) || location, file, `${at}: prefix`);
    if (!prefix) throw bad(file, `${at}: needs a location or a prefix`);
    const wildcard = prefix.startsWith('*.');
    if (wildcard && location) throw bad(file, `${at}: a wildcarded prefix ${prefix} cannot have a location`);
    if (prefix.includes('*') && !(wildcard && !prefix.slice(2).includes('*') && !prefix.includes('/'))) {
      throw bad(file, `${at}: invalid prefix ${prefix}: a wildcard is only allowed as *.domain`);
    }
    if (seen.has(prefix)) throw bad(file, `${at}: prefix ${prefix} is defined more than once`);
    seen.add(prefix);
    const digestOnly = bool(t['mirror-by-digest-only'], file, `${at}: mirror-by-digest-only`);
    const mirrorsRaw = t.mirror ?? [];
    if (!Array.isArray(mirrorsRaw)) throw bad(file, `${at}: [[registry.mirror]] must be an array of tables`);
    const mirrors: MirrorEntry[] = mirrorsRaw.map((m, j) => {
      if (typeof m !== 'object' || m === null) throw bad(file, `${at}: mirror ${j + 1} is not a table`);
      const mt = m as Record<string, unknown>;
      const mat = `${at}, mirror ${j + 1}`;
      const loc = checkLocation(str(mt.location, file, `${mat}: location`), file, `${mat}: location`);
      if (!loc) throw bad(file, `${mat}: needs a location`);
      const own = pullFrom(mt['pull-from-mirror'], file, `${mat}: pull-from-mirror`);
      if (digestOnly && own !== 'all') {
        throw bad(file, `${mat}: pull-from-mirror cannot be set with mirror-by-digest-only on its registry`);
      }
      return {
        location: loc,
        insecure: bool(mt.insecure, file, `${mat}: insecure`),
        pullFromMirror: digestOnly ? 'digest-only' : own,
      };
    });
    registries.push({
      prefix,
      location,
      insecure: bool(t.insecure, file, `${at}: insecure`),
      blocked: bool(t.blocked, file, `${at}: blocked`),
      mirrors,
    });
  }
  return { file, registries };
}

/** Whether `prefix` matches the reference `name` (`domain/path[:tag|@digest]`) at a boundary. */
function prefixMatches(prefix: string, name: string): boolean {
  if (prefix.startsWith('*.')) {
    const domain = name.split('/')[0].replace(/:\d+$/, '');
    return domain.endsWith(prefix.slice(1));
  }
  if (!name.startsWith(prefix)) return false;
  const next = name.charAt(prefix.length);
  return next === '' || next === '/' || next === ':' || next === '@';
}

/** The entry that applies to a fully qualified repository name (`docker.io/library/busybox`), if any. */
export function findRegistry(conf: RegistriesConf, name: string): RegistryEntry | undefined {
  let best: RegistryEntry | undefined;
  let bestLen = -1;
  for (const r of conf.registries) {
    if (!prefixMatches(r.prefix, name)) continue;
    // A wildcard ranks by the length of what it names, as containers/image does.
    const len = r.prefix.length;
    if (len > bestLen) {
      best = r;
      bestLen = len;
    }
  }
  return best;
}

/** `loc` + what follows `prefix` in `name`, split into domain and repository. */
function rewrite(name: string, prefix: string, loc: string): { domain: string; repository: string } {
  const rest = name.slice(prefix.length);
  const full = `${loc}${rest}`;
  const slash = full.indexOf('/');
  return slash === -1
    ? { domain: full, repository: '' }
    : { domain: full.slice(0, slash), repository: full.slice(slash + 1) };
}

/**
 * Where to pull `domain/repository` from, in order: the matching entry's mirrors (those whose
 * pull-from-mirror allows a pull by tag or by digest, as `byDigest` says), then the registry
 * (its location, rewritten). Without a matching entry: the registry alone. A blocked registry:
 * BlockedRegistryError naming it (containers/image refuses such pulls outright).
 */
export function pullSources(conf: RegistriesConf, domain: string, repository: string, byDigest: boolean): PullSource[] {
  const name = `${domain}/${repository}`;
  const entry = findRegistry(conf, name);
  if (!entry) return [{ domain, repository, mirror: false, insecure: false }];
  if (entry.blocked) {
    throw new BlockedRegistryError(`registry ${entry.prefix} is blocked in ${conf.file || 'registries.conf'}`);
  }
  const out: PullSource[] = [];
  // A wildcard entry has no location: the reference is kept as it is for the registry, and its
  // mirrors get what follows the matched host.
  const matched = entry.prefix.startsWith('*.') ? domain : entry.prefix;
  for (const m of entry.mirrors) {
    if (m.pullFromMirror === 'digest-only' && !byDigest) continue;
    if (m.pullFromMirror === 'tag-only' && byDigest) continue;
    out.push({ ...rewrite(name, matched, m.location), mirror: true, insecure: m.insecure });
  }
  const primary = entry.location ? rewrite(name, matched, entry.location) : { domain, repository };
  out.push({ ...primary, mirror: false, insecure: entry.insecure });
  return out;
}

/** A pull refused because registries.conf blocks its registry. */
export class BlockedRegistryError extends ForbiddenError {}
