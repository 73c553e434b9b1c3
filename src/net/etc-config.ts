/**
 * The name-service settings of a container (`--dns`, `--dns-search`, `--dns-option`,
 * `--add-host`; read from a create body in src/translate/etc-options.ts), applied at start to the
 * /etc/hosts and /etc/resolv.conf the container gets, in dockerd's layout: extra hosts after the
 * fixed lines and before the container's own name; resolv.conf as search, nameserver, options
 * lines, each kind replaced by what was given and kept from the base otherwise.
 */

/** What a container asked for its /etc files. */
export interface EtcOptions {
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  /** `name:ip` entries as given; ip may be `host-gateway`. */
  extraHosts: string[];
}

/** The host-gateway keyword of --add-host: the host's address as the container sees it. */
export const HOST_GATEWAY = 'host-gateway';

/**
 * The extra lines of /etc/hosts (`ip\tname`), `host-gateway` as `gateway`; entries naming it
 * are left out when there is no gateway (a container on no network).
 */
export function extraHostLines(extraHosts: string[], gateway: string | undefined): string[] {
  const out: string[] = [];
  for (const h of extraHosts) {
    const i = h.indexOf(':');
    const name = h.slice(0, i);
    const ip = h.slice(i + 1);
    const addr = ip === HOST_GATEWAY ? gateway : ip;
    if (addr) out.push(`${addr}\t${name}`);
  }
  return out;
}

/**
 * A hosts file with extra lines put before its last entry (the container's own name, as dockerd
 * orders them). `hosts` ends with a newline.
 */
export function withExtraHosts(hosts: string, extra: string[]): string {
  if (extra.length === 0) return hosts;
  const lines = hosts.split('\n').filter((l) => l !== '');
  const own = lines.pop();
  return [...lines, ...extra, ...(own !== undefined ? [own] : []), ''].join('\n');
}

/**
 * resolv.conf from `base` (the host's, filtered, or the network's) with what was asked:
 * given nameservers after the first nameserver of `base` when `keepFirst` (our DNS server on a
 * user network, which must stay first), or instead of them; given search domains (`.`: none)
 * and options instead of the base's.
 */
export function resolvWith(base: string, o: EtcOptions | undefined, keepFirst: boolean): string {
  if (!o || o.dns.length + o.dnsSearch.length + o.dnsOptions.length === 0) return base;
  const lines = base
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const of = (kind: string) => lines.filter((l) => l.split(/\s+/)[0] === kind);
  const baseNs = of('nameserver').map((l) => l.split(/\s+/)[1]);
  const ns = o.dns.length === 0 ? baseNs : keepFirst && baseNs.length > 0 ? [baseNs[0], ...o.dns] : o.dns;
  const search =
    o.dnsSearch.length > 0
      ? o.dnsSearch.includes('.')
        ? []
        : o.dnsSearch
      : of('search').flatMap((l) => l.split(/\s+/).slice(1));
  const options = o.dnsOptions.length > 0 ? o.dnsOptions : of('options').flatMap((l) => l.split(/\s+/).slice(1));
  return [
    ...(search.length > 0 ? [`search ${search.join(' ')}`] : []),
    ...ns.map((s) => `nameserver ${s}`),
    ...(options.length > 0 ? [`options ${options.join(' ')}`] : []),
    '',
  ].join('\n');
}
