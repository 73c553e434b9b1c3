/**
 * Where a registry domain is reached: the endpoints tried in order, as dockerd orders them.
 * docker.io goes to its --registry-mirror list first, then registry-1.docker.io (pulls only:
 * pushes and logins go to registry-1.docker.io alone). A registry
 * marked insecure (--insecure-registry, or any loopback address, as dockerd does by default)
 * is tried over https without certificate checks first, then over plain http; every other
 * registry is https only.
 */
import * as net from 'node:net';
import { DEFAULT_DOMAIN } from '../reference';

/** One base URL to try. */
export interface Endpoint {
  /** `https://host:port` or `http://host:port`, no trailing slash. */
  base: string;
  /** Skip TLS verification. */
  insecureTls: boolean;
  /** A docker.io mirror: any failure there moves on to the next endpoint. */
  mirror: boolean;
}

/** Registry endpoint policy built from the daemon flags. */
export class RegistryHosts {
  private readonly insecure: string[];
  private readonly mirrors: string[];
  /** Scheme that worked last for an insecure host, so later requests skip the failed probe. */
  private readonly learned = new Map<string, string>();

  constructor(opts: { insecureRegistries?: string[]; registryMirrors?: string[] } = {}) {
    this.insecure = opts.insecureRegistries ?? [];
    this.mirrors = (opts.registryMirrors ?? []).map((m) => m.replace(/\/+$/, ''));
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
   * Endpoints for `domain`, in the order to try them; docker.io's mirrors first unless
   * `mirrors` is false (pushes and logins, which dockerd never sends to a mirror).
   */
  endpoints(domain: string, opts: { mirrors: boolean } = { mirrors: true }): Endpoint[] {
    const out: Endpoint[] = [];
    if (domain === DEFAULT_DOMAIN) {
      if (opts.mirrors) for (const m of this.mirrors) out.push({ base: m, insecureTls: false, mirror: true });
      out.push({ base: 'https://registry-1.docker.io', insecureTls: false, mirror: false });
      return out;
    }
    if (!this.isInsecure(domain)) return [{ base: `https://${domain}`, insecureTls: false, mirror: false }];
    const both: Endpoint[] = [
      { base: `https://${domain}`, insecureTls: true, mirror: false },
      { base: `http://${domain}`, insecureTls: false, mirror: false },
    ];
    if (this.learned.get(domain) === 'http') both.reverse();
    return both;
  }

  /** Remember which scheme answered for an insecure domain. */
  remember(domain: string, endpoint: Endpoint): void {
    if (!endpoint.mirror) this.learned.set(domain, endpoint.base.startsWith('http:') ? 'http' : 'https');
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
