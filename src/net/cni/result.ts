/**
 * Reading a CNI plugin's result (its stdout after ADD) into one checked shape.
 *
 * The spec's versions differ in form: 0.3.x, 0.4.0 and 1.0.0 give `interfaces`, `ips` (0.3.x
 * and 0.4.0 with a `version` per address, which 1.0.0 dropped), `routes` and `dns`; 0.1.0 and
 * 0.2.0 give `ip4` and `ip6` objects with their own routes. A plugin is a program on the host
 * the node's admin installed, but its output still goes through the same checks as any input:
 * every address, prefix, MAC and interface index is validated before a VM is configured with it.
 */
import * as net from 'node:net';
import { UnavailableError } from '../../errors';
import type { CniDns, CniInterface, CniIpConfig, CniResult, CniRoute } from './types';

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

function bad(what: string): never {
  throw new UnavailableError(`the CNI result is unusable: ${what}`);
}

/** "10.0.0.5/24" (or an IPv6 one): a valid address with a prefix length in range. */
export function isCidr(s: unknown): s is string {
  if (typeof s !== 'string') return false;
  const slash = s.indexOf('/');
  if (slash < 0) return false;
  const ip = s.slice(0, slash);
  const prefix = s.slice(slash + 1);
  const family = net.isIP(ip);
  if (!family || !/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

function optionalIp(v: unknown, what: string): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' || !net.isIP(v)) bad(`${what} ${JSON.stringify(v)} is not an IP address`);
  return v;
}

function stringList(v: unknown, what: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) bad(`${what} is not a list of strings`);
  return v as string[];
}

function parseRoutes(v: unknown): CniRoute[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) bad('routes is not a list');
  return v.map((r: Record<string, unknown>) => {
    if (!r || typeof r !== 'object' || !isCidr(r.dst)) bad(`route ${JSON.stringify(r)} has no valid dst`);
    const gw = optionalIp(r.gw, 'route gateway');
    return gw ? { dst: r.dst as string, gw } : { dst: r.dst as string };
  });
}

function parseDns(v: unknown): CniDns {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) bad('dns is not an object');
  const d = v as Record<string, unknown>;
  const out: CniDns = {};
  const nameservers = stringList(d.nameservers, 'dns.nameservers');
  if (nameservers) {
    for (const n of nameservers) if (!net.isIP(n)) bad(`dns nameserver ${JSON.stringify(n)} is not an IP address`);
    out.nameservers = nameservers;
  }
  if (d.domain !== undefined && d.domain !== '') {
    if (typeof d.domain !== 'string') bad('dns.domain is not a string');
    out.domain = d.domain;
  }
  const search = stringList(d.search, 'dns.search');
  if (search) out.search = search;
  const options = stringList(d.options, 'dns.options');
  if (options) out.options = options;
  return out;
}

/** Results of 0.1.0 and 0.2.0: `ip4`/`ip6` objects, no interfaces. */
function parseLegacy(o: Record<string, unknown>, version: string): CniResult {
  const ips: CniIpConfig[] = [];
  const routes: CniRoute[] = [];
  for (const key of ['ip4', 'ip6']) {
    const x = o[key] as Record<string, unknown> | undefined;
    if (x === undefined || x === null) continue;
    if (typeof x !== 'object' || !isCidr(x.ip)) bad(`${key}.ip is not an address with a prefix`);
    const gateway = optionalIp(x.gateway, `${key}.gateway`);
    ips.push({ address: x.ip as string, ...(gateway ? { gateway } : {}) });
    routes.push(...parseRoutes(x.routes));
  }
  return { cniVersion: version, interfaces: [], ips, routes, dns: parseDns(o.dns), raw: o };
}

/** Check and normalise a plugin's result; throws UnavailableError naming what is wrong. */
export function parseResult(doc: unknown): CniResult {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) bad('not a JSON object');
  const o = doc as Record<string, unknown>;
  const version = typeof o.cniVersion === 'string' ? o.cniVersion : '';
  if (!/^\d+\.\d+\.\d+$/.test(version)) bad(`no cniVersion (${JSON.stringify(o.cniVersion)})`);
  if (/^0\.[12]\./.test(version)) return parseLegacy(o, version);

  const rawIfs = o.interfaces ?? [];
  if (!Array.isArray(rawIfs)) bad('interfaces is not a list');
  const interfaces: CniInterface[] = rawIfs.map((i: Record<string, unknown>) => {
    if (!i || typeof i !== 'object' || typeof i.name !== 'string' || i.name === '')
      bad(`interface ${JSON.stringify(i)} has no name`);
    const out: CniInterface = { name: i.name };
    if (i.mac !== undefined && i.mac !== '') {
      const mac = typeof i.mac === 'string' ? i.mac.toLowerCase() : '';
      if (!MAC_RE.test(mac)) bad(`interface ${i.name} has the MAC ${JSON.stringify(i.mac)}`);
      out.mac = mac;
    }
    if (i.sandbox !== undefined && i.sandbox !== '') {
      if (typeof i.sandbox !== 'string') bad(`interface ${i.name} has a sandbox that is not a path`);
      out.sandbox = i.sandbox;
    }
    return out;
  });

  const rawIps = o.ips ?? [];
  if (!Array.isArray(rawIps)) bad('ips is not a list');
  const ips: CniIpConfig[] = rawIps.map((x: Record<string, unknown>) => {
    if (!x || typeof x !== 'object' || !isCidr(x.address)) bad(`ip ${JSON.stringify(x)} has no address with a prefix`);
    const out: CniIpConfig = { address: x.address as string };
    const gateway = optionalIp(x.gateway, 'gateway');
    if (gateway) out.gateway = gateway;
    if (x.interface !== undefined && x.interface !== null) {
      if (!Number.isInteger(x.interface) || (x.interface as number) < 0 || (x.interface as number) >= interfaces.length)
        bad(`ip ${x.address as string} names interface ${JSON.stringify(x.interface)}, which the result does not have`);
      out.interface = x.interface as number;
    }
    return out;
  });

  return { cniVersion: version, interfaces, ips, routes: parseRoutes(o.routes), dns: parseDns(o.dns), raw: o };
}
