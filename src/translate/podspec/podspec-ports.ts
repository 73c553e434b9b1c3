/**
 * A native pod's ports as the neutral creation request states them (../request/container-request.ts),
 * which turns them into the Docker body's fields, so that they are published by the network
 * front end exactly as `docker run -p` would publish them (same checks, same errors, `docker
 * port` and inspect showing them):
 *
 *   - a pod file's ports (Kubernetes `ports[]`, hyper `portmappings`): a port with a hostPort
 *     is published (`-p [hostIP:]hostPort:containerPort/protocol`); every port, published or
 *     not, is exposed (`ExposedPorts`), as Kubernetes treats containerPort: informational;
 *   - the single-container spec's `ports`: `-p` strings as the docker CLI takes them.
 *
 * Two ports of one pod file that ask for the same host port are refused when the file is
 * read (Kubernetes' "Duplicate value"), with the path of the second.
 */
import { parseIp } from '../../net/ipv4';
import { parsePortSpec } from '../network/port-requests';
import type { Problems } from './podspec-read';
import type { ManifestPort } from './podspec-types';
import type { PortRequest } from '../request/container-request';

/** Whether `ip` is an address podvisor can publish on (an IPv4 dotted quad). */
export function isHostIp(ip: string): boolean {
  return parseIp(ip) !== undefined;
}

/**
 * Report every port that asks for a host port an earlier one of the same file already asked
 * for (same protocol and port, on the same or a wildcard address). `ports` are in file
 * order, each with its path (`spec.containers[1].ports[0]`).
 */
export function checkHostPorts(ports: Array<{ path: string; port: ManifestPort }>, problems: Problems): void {
  const taken: Array<{ path: string; port: ManifestPort }> = [];
  const ipOf = (p: ManifestPort) => p.hostIP || '0.0.0.0';
  for (const p of ports) {
    const { hostPort, protocol } = p.port;
    if (!hostPort) continue;
    const ip = ipOf(p.port);
    const clash = taken.find(
      (t) =>
        t.port.hostPort === hostPort &&
        t.port.protocol === protocol &&
        (ip === '0.0.0.0' || ipOf(t.port) === '0.0.0.0' || ipOf(t.port) === ip),
    );
    if (clash) problems.add(`${p.path}.hostPort`, `${hostPort}/${protocol} is already published by ${clash.path}`);
    else taken.push(p);
  }
}

/** A pod file's ports as the neutral request's (see the module comment). */
export function portRequestsOf(ports: ManifestPort[]): PortRequest[] {
  return ports.map((p) => ({
    containerPort: p.containerPort,
    protocol: p.protocol,
    ...(p.hostPort ? { host: { ip: p.hostIP ?? '', port: String(p.hostPort) } } : {}),
  }));
}

/**
 * `-p` strings (`[ip:][hostPort:]containerPort[/proto]`, ranges too) as the neutral request's
 * ports, as the docker CLI sends them: every container port exposed, each bound to its host
 * port (none: any free one). A bad string is refused with dockerd's words.
 */
export function portRequestsOfSpecs(specs: string[]): PortRequest[] {
  const out: PortRequest[] = [];
  for (const spec of specs) {
    // The docker CLI leaves HostIp empty when the string names no address.
    const named = spec.split('/')[0].split(':').length === 3;
    for (const r of parsePortSpec(spec)) {
      const hostPort =
        r.hostPortMin === 0
          ? ''
          : r.hostPortMin === r.hostPortMax
            ? String(r.hostPortMin)
            : `${r.hostPortMin}-${r.hostPortMax}`;
      out.push({
        containerPort: r.containerPort,
        protocol: r.proto,
        host: { ip: named ? r.hostIp : '', port: hostPort },
      });
    }
  }
  return out;
}
