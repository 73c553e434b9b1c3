/**
 * A create body's name-service settings (HostConfig.Dns, DnsSearch, DnsOptions, ExtraHosts),
 * or the neutral request's extra hosts, checked as dockerd checks them (its messages), into
 * the typed options of src/net/etc-config.ts.
 */
import * as net from 'node:net';
import { InvalidArgumentError } from '../errors';
import { HOST_GATEWAY, type EtcOptions } from '../net/etc-config';

/** Check create's values (dockerd's messages); returns undefined when nothing was asked. */
export function parseEtcOptions(hc: {
  Dns?: string[] | null;
  DnsSearch?: string[] | null;
  DnsOptions?: string[] | null;
  ExtraHosts?: string[] | null;
}): EtcOptions | undefined {
  return checkEtcOptions({
    dns: hc.Dns ?? [],
    dnsSearch: hc.DnsSearch ?? [],
    dnsOptions: hc.DnsOptions ?? [],
    extraHosts: hc.ExtraHosts ?? [],
  });
}

/** Check name-service options, whichever front asked (dockerd's messages); undefined when they are all empty. */
export function checkEtcOptions(o: EtcOptions): EtcOptions | undefined {
  for (const d of o.dns) if (!net.isIP(d)) throw new InvalidArgumentError(`${d} is not an ip address`);
  for (const s of o.dnsSearch)
    if (s !== '.' && !/^[A-Za-z0-9_.-]{1,253}$/.test(s)) throw new InvalidArgumentError(`${s} is not a valid domain`);
  for (const opt of o.dnsOptions)
    if (!/^\S+$/.test(opt)) throw new InvalidArgumentError(`invalid DNS option: ${JSON.stringify(opt)}`);
  for (const h of o.extraHosts) {
    const i = h.indexOf(':');
    const name = i > 0 ? h.slice(0, i) : '';
    const ip = i > 0 ? h.slice(i + 1) : '';
    if (!name) throw new InvalidArgumentError(`bad format for add-host: ${JSON.stringify(h)}`);
    if (/\s/.test(name) || (ip !== HOST_GATEWAY && !net.isIP(ip)))
      throw new InvalidArgumentError(`invalid IP address in add-host: "${ip || h}"`);
  }
  const any = o.dns.length + o.dnsSearch.length + o.dnsOptions.length + o.extraHosts.length > 0;
  return any ? o : undefined;
}
