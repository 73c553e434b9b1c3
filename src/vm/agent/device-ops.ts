/**
 * Requests and answers of the agent's device operations (CONFIGURE_INTERFACE, ADD_ROUTE,
 * LIST_INTERFACES, MOUNT, UNMOUNT; guest/include/podvisor_agent.h): what the host sends is
 * checked here before it goes (InvalidArgumentError), and what the agent answers is decoded
 * without trusting it (a malformed record is a protocol error, UnavailableError).
 */
import { isIPv4 } from 'node:net';
import { InvalidArgumentError } from '../../errors';
import { ipv6Bytes, ipv6FromBytes } from '../../util/ipv6';
import type { ContainerMount, InterfaceConfig, InterfaceInfo, RouteSpec } from '../types';
import { Limits, MountFlag, Tag } from './protocol';
import { protocolError, TlvReader, TlvWriter } from './tlv';

const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const TAG_RE = /^[A-Za-z0-9_.-]{1,36}$/;
/** A diskdir's subpath: `volumes/<name>`, the name one plain path component (the agent's rule). */
const DISKDIR_RE = /^volumes\/(?!\.\.?$)[A-Za-z0-9_.-]{1,64}$/;
/** The agent's grammar for tmpfs options (mounts.c): the same check, so a refusal is ours. */
const TMPFS_OPTION_RE =
  /^(size=\d{1,20}[kmgKMG%]?|nr_inodes=\d{1,20}[kmgKMG]?|mode=[0-7]{1,4}|uid=\d{1,10}|gid=\d{1,10})$/;

function ifname(name: string): string {
  if (!IFNAME_RE.test(name) || name === '.' || name === '..')
    throw new InvalidArgumentError(`invalid interface name ${JSON.stringify(name)}`);
  return name;
}

function ipv4(s: string, what: string): Buffer {
  if (!isIPv4(s)) throw new InvalidArgumentError(`${what} must be an IPv4 address: ${JSON.stringify(s)}`);
  return Buffer.from(s.split('.').map(Number));
}

function ipv6(s: string, what: string): Buffer {
  const b = ipv6Bytes(s);
  if (!b) throw new InvalidArgumentError(`${what} must be an IPv6 address: ${JSON.stringify(s)}`);
  return b;
}

function prefixLen(n: number, max = 32): number {
  if (!Number.isInteger(n) || n < 0 || n > max) throw new InvalidArgumentError(`invalid prefix length ${n}`);
  return n;
}

/** CONFIGURE_INTERFACE's fields. */
export function encodeInterface(c: InterfaceConfig): TlvWriter {
  const w = new TlvWriter().str(Tag.IFNAME, ifname(c.name));
  if (c.mac !== undefined) {
    if (!MAC_RE.test(c.mac)) throw new InvalidArgumentError(`invalid MAC address ${JSON.stringify(c.mac)}`);
    w.bytes(Tag.MAC, Buffer.from(c.mac.replace(/:/g, ''), 'hex'));
  }
  if (c.setMac !== undefined) {
    if (!MAC_RE.test(c.setMac)) throw new InvalidArgumentError(`invalid MAC address ${JSON.stringify(c.setMac)}`);
    const b = Buffer.from(c.setMac.replace(/:/g, ''), 'hex');
    if ((b[0] & 1) === 1 || b.every((x) => x === 0))
      throw new InvalidArgumentError(`a hardware address must be unicast and not all zero: ${c.setMac}`);
    w.bytes(Tag.SET_MAC, b);
  }
  if ((c.address === undefined) !== (c.prefix === undefined))
    throw new InvalidArgumentError('an address needs its prefix length');
  if (c.address !== undefined) w.bytes(Tag.ADDRESS, ipv4(c.address, 'address')).u32(Tag.PREFIX, prefixLen(c.prefix!));
  if (c.secondary?.length) {
    if (c.address === undefined || c.address === '0.0.0.0')
      throw new InvalidArgumentError('secondary addresses need a primary address');
    if (c.secondary.length > Limits.MAX_SECONDARY)
      throw new InvalidArgumentError(`at most ${Limits.MAX_SECONDARY} secondary addresses`);
    for (const s of c.secondary)
      w.nested(
        Tag.SECONDARY,
        new TlvWriter().bytes(Tag.ADDRESS, ipv4(s.address, 'address')).u32(Tag.PREFIX, prefixLen(s.prefix)),
      );
  }
  if ((c.address6 === undefined) !== (c.prefix6 === undefined))
    throw new InvalidArgumentError('an IPv6 address needs its prefix length');
  if (c.address6 !== undefined) {
    const a = ipv6(c.address6, 'IPv6 address');
    const p = prefixLen(c.prefix6!, 128);
    if ((p === 0) !== a.every((x) => x === 0))
      throw new InvalidArgumentError(`IPv6 address ${c.address6}/${p}: only :: goes with prefix 0`);
    w.bytes(Tag.ADDRESS6, a).u32(Tag.PREFIX6, p);
  }
  if (c.mtu !== undefined) {
    if (!Number.isInteger(c.mtu) || c.mtu < 68 || c.mtu > 65535) throw new InvalidArgumentError(`invalid MTU ${c.mtu}`);
    w.u32(Tag.MTU, c.mtu);
  }
  if (c.up !== undefined) w.u32(Tag.LINK_UP, c.up ? 1 : 0);
  return w;
}

/** ADD_ROUTE's fields. */
export function encodeRoute(r: RouteSpec): TlvWriter {
  if (r.destination.includes(':')) return encodeRoute6(r);
  const dst = ipv4(r.destination, 'route destination');
  const prefix = prefixLen(r.prefix);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  if ((dst.readUInt32BE(0) & ~mask) >>> 0 !== 0)
    throw new InvalidArgumentError(`route destination ${r.destination}/${prefix} has host bits set`);
  if (r.gateway === undefined && r.device === undefined)
    throw new InvalidArgumentError('a route needs a gateway or a device');
  const w = new TlvWriter().bytes(Tag.DESTINATION, dst).u32(Tag.PREFIX, prefix);
  if (r.gateway !== undefined) w.bytes(Tag.GATEWAY, ipv4(r.gateway, 'gateway'));
  if (r.device !== undefined) w.str(Tag.IFNAME, ifname(r.device));
  return w;
}

/** ADD_ROUTE's fields for an IPv6 route. */
function encodeRoute6(r: RouteSpec): TlvWriter {
  const dst = ipv6(r.destination, 'route destination');
  const prefix = prefixLen(r.prefix, 128);
  for (let bit = prefix; bit < 128; bit++) {
    if (dst[bit >> 3] & (0x80 >> (bit & 7)))
      throw new InvalidArgumentError(`route destination ${r.destination}/${prefix} has host bits set`);
  }
  if (r.gateway === undefined && r.device === undefined)
    throw new InvalidArgumentError('a route needs a gateway or a device');
  const w = new TlvWriter().bytes(Tag.DESTINATION6, dst).u32(Tag.PREFIX, prefix);
  if (r.gateway !== undefined) w.bytes(Tag.GATEWAY6, ipv6(r.gateway, 'gateway'));
  if (r.device !== undefined) w.str(Tag.IFNAME, ifname(r.device));
  return w;
}

/** MOUNT's fields. */
export function encodeMount(m: ContainerMount): TlvWriter {
  if (!m.path.startsWith('/') || m.path.split('/').includes('..') || Buffer.byteLength(m.path) > Limits.MAX_PATH) {
    throw new InvalidArgumentError(`mount path must be absolute without "..": ${JSON.stringify(m.path)}`);
  }
  const w = new TlvWriter()
    .str(Tag.CONTAINER_ID, m.containerId)
    .str(Tag.PATH, m.path, Limits.MAX_PATH)
    .str(Tag.FSTYPE, m.fstype);
  if (m.fstype === 'tmpfs') {
    if (m.source !== undefined || m.subpath !== undefined) throw new InvalidArgumentError('a tmpfs has no source');
    if (m.options) {
      if (m.options.length > 256 || !m.options.split(',').every((o) => TMPFS_OPTION_RE.test(o))) {
        throw new InvalidArgumentError(`unsupported tmpfs options ${JSON.stringify(m.options)}`);
      }
      w.str(Tag.FS_OPTIONS, m.options);
    }
  } else if (m.fstype === 'virtiofs') {
    if (!m.source || !TAG_RE.test(m.source))
      throw new InvalidArgumentError(`invalid virtio-fs tag ${JSON.stringify(m.source)}`);
    if (m.options) throw new InvalidArgumentError('virtiofs mounts take no options');
    w.str(Tag.SOURCE, m.source);
    if (m.subpath) {
      if (m.subpath.startsWith('/') || m.subpath.split('/').some((c) => c === '..' || c === '')) {
        throw new InvalidArgumentError(`invalid subpath ${JSON.stringify(m.subpath)}`);
      }
      w.str(Tag.SUBPATH, m.subpath, Limits.MAX_PATH);
    }
  } else if (m.fstype === 'emptydir') {
    if (!m.source || !TAG_RE.test(m.source) || m.source === '.' || m.source === '..')
      throw new InvalidArgumentError(`invalid emptydir name ${JSON.stringify(m.source)}`);
    if (m.options || m.subpath) throw new InvalidArgumentError('emptydir mounts take no options or subpath');
    w.str(Tag.SOURCE, m.source);
  } else if (m.fstype === 'diskdir') {
    if (m.subpath === undefined || !DISKDIR_RE.test(m.subpath))
      throw new InvalidArgumentError(`a diskdir's subpath must be volumes/<name>: ${JSON.stringify(m.subpath)}`);
    if (m.source !== undefined || m.options) throw new InvalidArgumentError('diskdir mounts take no source or options');
    w.str(Tag.SUBPATH, m.subpath, Limits.MAX_PATH);
  } else {
    throw new InvalidArgumentError(`unsupported file system type ${JSON.stringify(m.fstype)}`);
  }
  const flags =
    (m.readOnly ? MountFlag.RDONLY : 0) |
    (m.nosuid ? MountFlag.NOSUID : 0) |
    (m.nodev ? MountFlag.NODEV : 0) |
    (m.noexec ? MountFlag.NOEXEC : 0);
  if (flags) w.u32(Tag.MOUNT_FLAGS, flags);
  return w;
}

/** LIST_INTERFACES's answer: each record checked (names, sizes, ranges). */
export function decodeInterfaces(r: TlvReader): InterfaceInfo[] {
  const records = r.records(Tag.INTERFACE);
  if (records.length > 64) throw protocolError(`LIST_INTERFACES answered ${records.length} interfaces`);
  return records.map((rec) => {
    const name = rec.needStr(Tag.IFNAME, 15);
    if (!IFNAME_RE.test(name)) throw protocolError(`interface name ${JSON.stringify(name)}`);
    const mac = rec.bytes(Tag.MAC);
    if (!mac || mac.length !== 6) throw protocolError('interface record without a 6-byte MAC');
    const mtu = rec.needU32(Tag.MTU);
    const up = rec.needU32(Tag.LINK_UP);
    if (up > 1) throw protocolError('LINK_UP out of range');
    const info: InterfaceInfo = {
      name,
      mac: [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':'),
      mtu,
      up: up === 1,
    };
    const addr = rec.bytes(Tag.ADDRESS);
    if (addr) {
      const prefix = rec.needU32(Tag.PREFIX);
      if (addr.length !== 4 || prefix > 32) throw protocolError('malformed interface address');
      info.address = [...addr].join('.');
      info.prefix = prefix;
    }
    const secondary = rec.records(Tag.SECONDARY).map((s) => {
      const a = s.bytes(Tag.ADDRESS);
      const p = s.needU32(Tag.PREFIX);
      if (!a || a.length !== 4 || p > 32) throw protocolError('malformed secondary address');
      return { address: [...a].join('.'), prefix: p };
    });
    if (secondary.length > 0) info.secondary = secondary;
    const addr6 = rec.bytes(Tag.ADDRESS6);
    if (addr6) {
      const prefix6 = rec.needU32(Tag.PREFIX6);
      if (addr6.length !== 16 || prefix6 > 128) throw protocolError('malformed interface IPv6 address');
      info.address6 = ipv6FromBytes(addr6);
      info.prefix6 = prefix6;
    }
    return info;
  });
}
