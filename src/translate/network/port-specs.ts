/**
 * `-p` strings (`[ip:][hostPort:]containerPort[/proto]`, ranges too) as the neutral request's
 * ports (../request/container-request.ts), as the docker CLI sends them: the native API's
 * single-container spec names its ports so (docs/native-api.md).
 */
import type { PortRequest } from '../request/container-request';
import { parsePortSpec } from './port-requests';

/**
 * The neutral request's ports of `-p` strings: every container port exposed, each bound to
 * its host port (none: any free one). A bad string is refused with dockerd's words.
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
