/**
 * Published ports as asked: the API's HostConfig.PortBindings / PublishAllPorts (what the
 * docker CLI sends for -p and -P) and the -p syntax itself, into one list of requests with
 * dockerd's checks and messages.
 */
import { InvalidArgumentError } from '../errors';
import { parseIp } from './ipv4';

/** One port to publish: a host port of 0 means "any free one", a range "the first free in it". */
export interface PortRequest {
  proto: 'tcp' | 'udp';
  containerPort: number;
  hostIp: string;
  hostPortMin: number;
  hostPortMax: number;
}

function portNumber(s: string, what: string): number {
  const n = /^\d{1,5}$/.test(s) ? Number(s) : NaN;
  if (!(n >= 1 && n <= 65535)) throw new InvalidArgumentError(`invalid ${what}: ${s}`);
  return n;
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

function hostIpOf(s: string): string {
  if (s === '') return '0.0.0.0';
  if (parseIp(s) === undefined) throw new InvalidArgumentError(`invalid IP address: ${s}`);
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
  const [hMin, hMax] = hostPart === '' ? [0, 0] : portRange(hostPart, 'hostPort');
  const n = cMax - cMin + 1;
  if (n > 1 && hostPart !== '' && hMax - hMin + 1 !== n) {
    throw new InvalidArgumentError(`invalid ranges specified for container and host Ports: ${containerPart} and ${hostPart}`);
  }
  const out: PortRequest[] = [];
  for (let i = 0; i < n; i++) {
    const pair = n > 1 && hostPart !== '';
    out.push({ proto, containerPort: cMin + i, hostIp, hostPortMin: pair ? hMin + i : hMin, hostPortMax: pair ? hMin + i : hMax });
  }
  return out;
}

/** The API form: {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]} plus -P over ExposedPorts. */
export function fromApi(
  bindings: Record<string, Array<{ HostIp?: string; HostPort?: string }> | null> | undefined,
  publishAll: boolean,
  exposed: Record<string, unknown> | undefined,
): PortRequest[] {
  const out: PortRequest[] = [];
  const seen = new Set<string>();
  for (const [key, list] of Object.entries(bindings ?? {})) {
    const [port, proto] = key.split('/');
    const containerPort = portNumber(port, 'containerPort');
    const p = protoOf(proto);
    seen.add(`${containerPort}/${p}`);
    for (const b of list ?? [{}]) {
      const [hMin, hMax] = b.HostPort ? portRange(b.HostPort, 'hostPort') : [0, 0];
      out.push({ proto: p, containerPort, hostIp: hostIpOf(b.HostIp ?? ''), hostPortMin: hMin, hostPortMax: hMax });
    }
  }
  if (publishAll) {
    for (const key of Object.keys(exposed ?? {})) {
      const [port, proto] = key.split('/');
      const containerPort = portNumber(port, 'containerPort');
      const p = protoOf(proto);
      if (seen.has(`${containerPort}/${p}`)) continue;
      out.push({ proto: p, containerPort, hostIp: '0.0.0.0', hostPortMin: 0, hostPortMax: 0 });
    }
  }
  return out;
}
