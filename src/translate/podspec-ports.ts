/**
 * A native pod's ports as the Docker create body states them, so that they are published by
 * the network front end exactly as `docker run -p` would publish them (same checks, same
 * errors, `docker port` and inspect showing them):
 *
 *   - a pod file's ports (Kubernetes `ports[]`, hyper `portmappings`): a port with a hostPort
 *     is published (`-p [hostIP:]hostPort:containerPort/protocol`); every port, published or
 *     not, is exposed (`ExposedPorts`), as Kubernetes treats containerPort: informational;
 *   - the single-container spec's `ports`: `-p` strings as the docker CLI takes them.
 *
 * Two ports of one pod file that ask for the same host port are refused when the file is
 * read (Kubernetes' "Duplicate value"), with the path of the second.
 */
import { parseIp } from '../net/ipv4';
import { parsePortSpec } from '../net/ports';
import type { Problems } from './podspec-read';
import type { ManifestPort } from './podspec-types';

/** The create body's port fields: `Config.ExposedPorts` and `HostConfig.PortBindings`. */
export interface DockerPorts {
  ExposedPorts?: Record<string, Record<string, never>>;
  PortBindings?: Record<string, Array<{ HostIp: string; HostPort: string }>>;
}

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
    const clash = taken.find((t) => t.port.hostPort === hostPort && t.port.protocol === protocol && (ip === '0.0.0.0' || ipOf(t.port) === '0.0.0.0' || ipOf(t.port) === ip));
    if (clash) problems.add(`${p.path}.hostPort`, `${hostPort}/${protocol} is already published by ${clash.path}`);
    else taken.push(p);
  }
}

/** The create body's port fields for a pod file's ports (see the module comment). */
export function dockerPortsOf(ports: ManifestPort[]): DockerPorts {
  const exposed: Record<string, Record<string, never>> = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const p of ports) {
    const key = `${p.containerPort}/${p.protocol}`;
    exposed[key] = {};
    if (p.hostPort) (bindings[key] ??= []).push({ HostIp: p.hostIP ?? '', HostPort: String(p.hostPort) });
  }
  return {
    ...(Object.keys(exposed).length ? { ExposedPorts: exposed } : {}),
    ...(Object.keys(bindings).length ? { PortBindings: bindings } : {}),
  };
}

/**
 * The create body's port fields for `-p` strings (`[ip:][hostPort:]containerPort[/proto]`,
 * ranges too), as the docker CLI sends them: every container port exposed, each bound to its
 * host port (none: any free one). A bad string is refused with dockerd's words.
 */
export function dockerPortsOfSpecs(specs: string[]): DockerPorts {
  const exposed: Record<string, Record<string, never>> = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const spec of specs) {
    // The docker CLI leaves HostIp empty when the string names no address.
    const named = spec.split('/')[0].split(':').length === 3;
    for (const r of parsePortSpec(spec)) {
      const key = `${r.containerPort}/${r.proto}`;
      exposed[key] = {};
      const hostPort = r.hostPortMin === 0 ? '' : r.hostPortMin === r.hostPortMax ? String(r.hostPortMin) : `${r.hostPortMin}-${r.hostPortMax}`;
      (bindings[key] ??= []).push({ HostIp: named ? r.hostIp : '', HostPort: hostPort });
    }
  }
  return {
    ...(Object.keys(exposed).length ? { ExposedPorts: exposed } : {}),
    ...(Object.keys(bindings).length ? { PortBindings: bindings } : {}),
  };
}
