/**
 * IPv6 addresses as 128-bit integers: parsed from any textual form Node accepts (with `::`
 * and embedded IPv4 tails) and written in the canonical form of RFC 5952 (lower case, the
 * longest run of two or more zero groups as `::`), which is how dockerd shows them.
 *
 *   parseIpv6('2001:389::1')            // 0x20010389000000000000000000000001n
 *   formatIpv6(0x20010389n << 96n)      // '2001:389::'
 *   ipv6Bytes('::1')                    // a 16-byte Buffer, network order
 */
import { isIPv6 } from 'node:net';

/** The largest IPv6 address as an integer. */
export const IPV6_MAX = (1n << 128n) - 1n;

/** An IPv6 address as an integer, or undefined when `s` is no IPv6 address (no zone). */
export function parseIpv6(s: string): bigint | undefined {
  if (!isIPv6(s) || s.includes('%')) return undefined;
  let text = s;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) return undefined;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** The canonical text of an address (RFC 5952). */
export function formatIpv6(n: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  // The longest run of zero groups (the first of equal ones), if it spans two or more.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** The 16 bytes of an address in network order; undefined when `s` is no IPv6 address. */
export function ipv6Bytes(s: string): Buffer | undefined {
  const n = parseIpv6(s);
  if (n === undefined) return undefined;
  const b = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) b[i] = Number((n >> BigInt((15 - i) * 8)) & 0xffn);
  return b;
}

/** The canonical text of 16 bytes in network order. */
export function ipv6FromBytes(b: Uint8Array): string {
  let n = 0n;
  for (const x of b) n = (n << 8n) | BigInt(x);
  return formatIpv6(n);
}
