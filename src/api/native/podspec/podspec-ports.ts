/**
 * A pod file's ports (Kubernetes `ports[]`, hyper `portmappings`) as the neutral creation
 * request states them (src/translate/request/container-request.ts), so that they are published
 * exactly as `docker run -p` would publish them (same checks, same errors, `docker port` and
 * inspect showing them): a port with a hostPort is published (`-p
 * [hostIP:]hostPort:containerPort/protocol`); every port, published or not, is exposed, as
 * Kubernetes treats containerPort: informational. (The single-container spec's `-p` strings:
 * src/translate/network/port-specs.ts.)
 *
 * Two ports of one pod file that ask for the same host port are refused when the file is
 * read (Kubernetes' "Duplicate value"), with the path of the second.
 */
import { isIPv4 } from 'node:net';
import type { Problems } from './podspec-read';
import type { ManifestPort } from './podspec-types';
import type { PortRequest } from '../../../translate/request/container-request';

/** Whether `ip` is an address podvisor can publish on (an IPv4 dotted quad). */
export function isHostIp(ip: string): boolean {
  return isIPv4(ip);
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
