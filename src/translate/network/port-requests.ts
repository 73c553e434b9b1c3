/**
 * Published ports as asked: the API's HostConfig.PortBindings / PublishAllPorts (what the
 * docker CLI sends for -p and -P) and the -p syntax itself (pod files use it too), into one
 * list of the network layer's requests (src/net/types.ts PortRequest) with dockerd's checks and
 * messages; and the neutral request's ports (publishedPortsOf), with the same checks.
 */
import { InvalidArgumentError } from '../../errors';
import { isIPv6 } from 'node:net';
import { parseIp } from '../../net/ipv4';
import type { PortRequest } from '../../net/types';

function portNumber(s: string, what: string): number {
  const n = /^\d{1,5}$/.test(s) ? Number(s) : NaN;
  if (!(n >= 1 && n <= 65535)) throw new InvalidArgumentError(`invalid ${what}: ${s}`);
  return n;
}

/** Go's strconv.ParseUint(s, 10, 16): digits only (leading zeros allowed), at most 65535. */
function uint16Of(s: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 65535 ? n : undefined;
}

/**
 * A host port as dockerd reads it (nat.NewPort over nat.SplitProtoPort): "" or "0" (or
 * "0-0") is any free port, "8080" that port, "8080-8090" the first free one of the range; a
 * "/proto" after it is ignored, leading zeros are allowed. Anything else, and a range that
 * ends below its start, is dockerd's 400 `invalid port specification: "x"`. A range from 0 to
 * a port, which dockerd accepts at create and then fails to start ("invalid port range"), is
 * refused at once with that message.
 */
export function hostPortRange(s: string): [number, number] {
  const port = s.split('/')[0];
  if (port === '') return [0, 0];
  const bad = () => new InvalidArgumentError(`invalid port specification: ${JSON.stringify(s)}`);
  const parts = port.split('-');
  const lo = uint16Of(parts[0]);
  const hi = parts.length === 1 ? lo : uint16Of(parts[1]);
  if (lo === undefined || hi === undefined || hi < lo || parts.length > 2) throw bad();
  if (lo === 0 && hi !== 0) throw new InvalidArgumentError(`invalid port range: ${port}`);
  return [lo, hi];
}

function portRange(s: string, what: string): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(s);
  if (!m) {
    const n = portNumber(s, what);
    return [n, n];
  }
  const a = portNumber(m[1], what);
  const b = portNumber(m[2], what);
  if (b < a) throw new InvalidArgumentError(`invalid range specified for ${what}: ${s}`);
  return [a, b];
}

/**
 * A host address to bind: "" is every IPv4 address ("0.0.0.0"); an IPv4 or IPv6 literal is
 * bound as given ("::" every IPv6 address). dockerd 20.10 binds every address for a HostIp it
 * cannot parse; podvisor refuses it (docs/limitations.md), as the docker CLI does for -p.
 */
function hostIpOf(s: string): string {
  if (s === '') return '0.0.0.0';
  if (parseIp(s) === undefined && !isIPv6(s)) throw new InvalidArgumentError(`invalid IP address: ${s}`);
  return s;
}

function protoOf(s: string | undefined): 'tcp' | 'udp' {
  const p = (s ?? 'tcp').toLowerCase();
  if (p !== 'tcp' && p !== 'udp') throw new InvalidArgumentError(`invalid proto: ${s}`);
  return p;
}

/**
 * `-p [ip:][hostPort:]containerPort[/proto]` with ranges (8000-8001:80-81 maps pairwise;
 * 8000-8010:80 takes the first free host port of the range). No host port: any free one.
 */
export function parsePortSpec(spec: string): PortRequest[] {
  const [addrPart, protoPart, extra] = spec.split('/');
  if (extra !== undefined) throw new InvalidArgumentError(`invalid port format: ${spec}`);
  const proto = protoOf(protoPart);
  const parts = addrPart.split(':');
  if (parts.length > 3) throw new InvalidArgumentError(`invalid port format: ${spec}`);
  const containerPart = parts[parts.length - 1];
  const hostPart = parts.length >= 2 ? parts[parts.length - 2] : '';
  const hostIp = hostIpOf(parts.length === 3 ? parts[0] : '');
  const [cMin, cMax] = portRange(containerPart, 'containerPort');
  let hMin = 0;
  let hMax = 0;
  try {
    [hMin, hMax] = hostPortRange(hostPart);
  } catch {
    // The docker CLI's word for a -p host port it cannot read.
    throw new InvalidArgumentError(`invalid hostPort: ${hostPart}`);
  }
  const n = cMax - cMin + 1;
  if (n > 1 && hostPart !== '' && hMax - hMin + 1 !== n) {
    throw new InvalidArgumentError(
      `invalid ranges specified for container and host Ports: ${containerPart} and ${hostPart}`,
    );
  }
  const out: PortRequest[] = [];
  for (let i = 0; i < n; i++) {
    const pair = n > 1 && hostPart !== '';
    out.push({
      proto,
      containerPort: cMin + i,
      hostIp,
      hostPortMin: pair ? hMin + i : hMin,
      hostPortMax: pair ? hMin + i : hMax,
    });
  }
  return out;
}

/**
 * The neutral request's ports (../request/container-request.ts PortRequest) published as the API form
 * of the same bindings would be (fromApi): grouped by container port, in the order first seen;
 * a port without a host address bound on IPv4's and IPv6's every address.
 */
export function publishedPortsOf(
  ports: ReadonlyArray<{ containerPort: number; protocol: string; host?: { ip: string; port: string } }>,
): PortRequest[] {
  const byPort = new Map<string, PortRequest[]>();
  for (const p of ports) {
    const proto = protoOf(p.protocol);
    const containerPort = portNumber(String(p.containerPort), 'containerPort');
    const list = byPort.get(`${containerPort}/${proto}`) ?? [];
    byPort.set(`${containerPort}/${proto}`, list);
    if (!p.host) continue;
    const [hMin, hMax] = hostPortRange(p.host.port);
    const req: PortRequest = {
      proto,
      containerPort,
      hostIp: hostIpOf(p.host.ip),
      hostPortMin: hMin,
      hostPortMax: hMax,
    };
    list.push(p.host.ip ? req : { ...req, alsoIpv6: true });
  }
  return [...byPort.values()].flat();
}

/**
 * The container port of a PortBindings key, refused with dockerd's words where nat.ParsePort
 * refuses it (`invalid port specification: "abc"`: not digits, or above 65535); a port it
 * takes that podvisor cannot publish (0, a range) gets podvisor's own message.
 */
function bindingKeyPort(port: string): number {
  const parts = port.split('-');
  if (parts.length > 2 || parts.some((x) => uint16Of(x) === undefined))
    throw new InvalidArgumentError(`invalid port specification: ${JSON.stringify(port)}`);
  return portNumber(port, 'containerPort');
}

/**
 * The API form: {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]} plus -P over ExposedPorts. A
 * binding without HostIp, and each of -P's, is IPv4's and IPv6's every address (`alsoIpv6`).
 */
export function fromApi(
  bindings: Record<string, Array<{ HostIp?: string; HostPort?: string }> | null> | undefined,
  publishAll: boolean,
  exposed: Record<string, unknown> | undefined,
): PortRequest[] {
  const out: PortRequest[] = [];
  const seen = new Set<string>();
  for (const [key, list] of Object.entries(bindings ?? {})) {
    const [port, proto] = key.split('/');
    const containerPort = bindingKeyPort(port);
    const p = protoOf(proto);
    seen.add(`${containerPort}/${p}`);
    for (const b of list ?? [{}]) {
      const [hMin, hMax] = hostPortRange(b.HostPort ?? '');
      const hostIp = hostIpOf(b.HostIp ?? '');
      const req: PortRequest = { proto: p, containerPort, hostIp, hostPortMin: hMin, hostPortMax: hMax };
      out.push(b.HostIp ? req : { ...req, alsoIpv6: true });
    }
  }
  if (publishAll) {
    for (const key of Object.keys(exposed ?? {})) {
      const [port, proto] = key.split('/');
      const containerPort = portNumber(port, 'containerPort');
      const p = protoOf(proto);
      if (seen.has(`${containerPort}/${p}`)) continue;
      out.push({ proto: p, containerPort, hostIp: '0.0.0.0', hostPortMin: 0, hostPortMax: 0, alsoIpv6: true });
    }
  }
  return out;
}
