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
import { parsePortSpec } from './port-requests';
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

/** Collects exposed ports and bindings, then gives the create body's fields (absent when empty). */
class PortFields {
  private readonly exposed: Record<string, Record<string, never>> = {};
  private readonly bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};

  /** Expose `key` (`port/proto`), and bind it when `binding` is given. */
  add(key: string, binding?: { HostIp: string; HostPort: string }): void {
    this.exposed[key] = {};
    if (binding) (this.bindings[key] ??= []).push(binding);
  }

  fields(): DockerPorts {
    return {
      ...(Object.keys(this.exposed).length ? { ExposedPorts: this.exposed } : {}),
      ...(Object.keys(this.bindings).length ? { PortBindings: this.bindings } : {}),
    };
  }
}

/** The create body's port fields for a pod file's ports (see the module comment). */
export function dockerPortsOf(ports: ManifestPort[]): DockerPorts {
  const f = new PortFields();
  for (const p of ports)
    f.add(
      `${p.containerPort}/${p.protocol}`,
      p.hostPort ? { HostIp: p.hostIP ?? '', HostPort: String(p.hostPort) } : undefined,
    );
  return f.fields();
}

/**
 * The create body's port fields for `-p` strings (`[ip:][hostPort:]containerPort[/proto]`,
 * ranges too), as the docker CLI sends them: every container port exposed, each bound to its
 * host port (none: any free one). A bad string is refused with dockerd's words.
 */
export function dockerPortsOfSpecs(specs: string[]): DockerPorts {
  const f = new PortFields();
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
      f.add(`${r.containerPort}/${r.proto}`, { HostIp: named ? r.hostIp : '', HostPort: hostPort });
    }
  }
  return f.fields();
}
