/**
 * Where a registry domain is reached: the endpoints tried in order. For a pull, the mirrors
 * registries.conf gives the repository (./registries-conf.ts: any registry, in the file's
 * order, the repository rewritten per source), then for docker.io the --registry-mirror list
 * (dockerd's), then the registry itself (registries.conf may relocate it; docker.io is
 * registry-1.docker.io). Pushes and logins go to the registry alone, as dockerd's do. A registry
 * marked insecure (--insecure-registry, or any loopback address, as dockerd does by default)
 * is tried over https without certificate checks first, then over plain http; every other
 * registry is https only.
 */
import * as net from 'node:net';
import { DEFAULT_DOMAIN } from '../reference';
import { EMPTY_REGISTRIES_CONF, pullSources, type RegistriesConf } from './registries-conf';

/** One base URL to try. */
export interface Endpoint {
  /** `https://host:port` or `http://host:port`, no trailing slash. */
  base: string;
  /** Skip TLS verification. */
  insecureTls: boolean;
  /** A mirror: any failure there moves on to the next endpoint. */
  mirror: boolean;
  /** The repository's path at this endpoint when a registries.conf source rewrites it. */
  repository?: string;
}

/** The registry options of the daemon that decide endpoints. */
export interface RegistryHostsOptions {
  /** --insecure-registry: hosts or IPv4 CIDRs reached over plain http too. */
  insecureRegistries?: string[];
  /** --registry-mirror: docker.io mirrors (URLs). */
  registryMirrors?: string[];
  /** Per-registry mirrors and locations (--registries-conf). */
  registriesConf?: RegistriesConf;
}

/** Registry endpoint policy built from the daemon flags. */
export class RegistryHosts {
  private readonly insecure: string[];
  private readonly mirrors: string[];
  /** The registries.conf in force. */
  readonly registriesConf: RegistriesConf;
  /** Scheme that worked last for an insecure host, so later requests skip the failed probe. */
  private readonly learned = new Map<string, string>();

  constructor(opts: RegistryHostsOptions = {}) {
    this.insecure = opts.insecureRegistries ?? [];
    this.mirrors = (opts.registryMirrors ?? []).map((m) => m.replace(/\/+$/, ''));
    this.registriesConf = opts.registriesConf ?? EMPTY_REGISTRIES_CONF;
  }

  /** True when `domain` may be reached over plain http. */
  isInsecure(domain: string): boolean {
    const host = hostOf(domain);
    if (host === 'localhost' || isLoopback(host)) return true;
    for (const entry of this.insecure) {
      if (entry === domain || entry === host) return true;
      if (entry.includes('/') && net.isIP(host) === 4 && inCidr(host, entry)) return true;
    }
    return false;
  }

  /**
   * Endpoints for `domain`, in the order to try them. With `mirrors` (pulls of a repository):
   * registries.conf's sources for `repository` (mirrors first; BlockedRegistryError for a
   * blocked registry), docker.io's --registry-mirror list before the registry. Without
   * (pushes and logins, which dockerd never sends to a mirror): the registry alone.
   */
  endpoints(
    domain: string,
    opts: { mirrors: boolean; repository?: string; byDigest?: boolean } = { mirrors: true },
  ): Endpoint[] {
    if (!opts.mirrors || opts.repository === undefined) return this.hostEndpoints(domain, false, false);
    const out: Endpoint[] = [];
    for (const src of pullSources(this.registriesConf, domain, opts.repository, !!opts.byDigest)) {
      const repository = src.repository === opts.repository ? undefined : src.repository;
      if (!src.mirror && domain === DEFAULT_DOMAIN && src.domain === DEFAULT_DOMAIN) {
        for (const m of this.mirrors) out.push({ base: m, insecureTls: false, mirror: true, repository });
      }
      for (const ep of this.hostEndpoints(src.domain, src.insecure, src.mirror)) out.push({ ...ep, repository });
    }
    return out;
  }

  /** The base URLs of one host: https, or https without checks then http for an insecure one. */
  private hostEndpoints(domain: string, insecure: boolean, mirror: boolean): Endpoint[] {
    if (domain === DEFAULT_DOMAIN) return [{ base: 'https://registry-1.docker.io', insecureTls: false, mirror }];
    if (!insecure && !this.isInsecure(domain)) return [{ base: `https://${domain}`, insecureTls: false, mirror }];
    const both: Endpoint[] = [
      { base: `https://${domain}`, insecureTls: true, mirror },
      { base: `http://${domain}`, insecureTls: false, mirror },
    ];
    if (this.learned.get(domain) === 'http') both.reverse();
    return both;
  }

  /** Remember which scheme answered for an insecure host. */
  remember(endpoint: Endpoint): void {
    const u = new URL(endpoint.base);
    this.learned.set(u.host, u.protocol === 'http:' ? 'http' : 'https');
  }
}

function hostOf(domain: string): string {
  if (domain.startsWith('[')) return domain.slice(1, domain.indexOf(']'));
  const i = domain.lastIndexOf(':');
  return i === -1 ? domain : domain.slice(0, i);
}

function isLoopback(host: string): boolean {
  if (net.isIP(host) === 4) return host.startsWith('127.');
  if (net.isIP(host) === 6) return host === '::1';
  return false;
}

function inCidr(ip: string, cidr: string): boolean {
  const [base, bitsStr] = cidr.split('/');
  const bits = Number(bitsStr);
  if (net.isIP(base) !== 4 || !Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  const toInt = (a: string) => a.split('.').reduce((n, o) => (n << 8) + Number(o), 0) >>> 0;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (toInt(ip) & mask) === (toInt(base) & mask);
}
