/**
 * IPv4 addresses and subnets as 32-bit numbers: strict parsing of dotted quads and CIDR
 * notation, containment and overlap. A network's IPv6 addresses, when it has IPv6, are ./ipam6.ts's.
 */
import { InvalidArgumentError } from '../errors';

/** A subnet: its first address and prefix length. */
export interface Cidr {
  /** Network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

/** Parse a dotted quad strictly ("10.0.0.1"); undefined when it is not one. */
export function parseIp(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p, i) => p > 255 || (m[i + 1].length > 1 && m[i + 1].startsWith('0')))) return undefined;
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

/** Format a 32-bit number as a dotted quad. */
export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** The netmask of a prefix length as a number. */
export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * Parse "a.b.c.d/n". `strict` (dockerd's check for --subnet) refuses host bits; otherwise
 * they are cleared. Throws dockerd-like 400s on bad input.
 */
export function parseCidr(s: string, what = 'subnet'): Cidr {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
  const ip = m ? parseIp(m[1]) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (ip === undefined || !(prefix >= 0 && prefix <= 32)) throw new InvalidArgumentError(`invalid CIDR address: ${s}`);
  const base = (ip & maskOf(prefix)) >>> 0;
  if (base !== ip) throw new InvalidArgumentError(`invalid ${what} ${s}: it should be ${formatIp(base)}/${prefix}`);
  return { base, prefix };
}

/** "a.b.c.d/n" */
export function formatCidr(c: Cidr): string {
  return `${formatIp(c.base)}/${c.prefix}`;
}

/** Number of addresses in a subnet. */
export function sizeOf(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

/** True when `ip` lies in `c`. */
export function contains(c: Cidr, ip: number): boolean {
  return (ip & maskOf(c.prefix)) >>> 0 === c.base;
}

/** True when the two subnets share at least one address. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return (a.base & maskOf(p)) >>> 0 === (b.base & maskOf(p)) >>> 0;
}

/** True when `inner` lies wholly inside `outer`. */
export function within(outer: Cidr, inner: Cidr): boolean {
  return inner.prefix >= outer.prefix && contains(outer, inner.base);
}
