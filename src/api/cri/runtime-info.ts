/**
 * RuntimeService's calls about the runtime itself: Version, Status (the RuntimeReady and
 * NetworkReady conditions the kubelet waits for) and UpdateRuntimeConfig (the node's pod
 * CIDR, recorded for the pod network).
 *
 * NetworkReady comes from a `NetworkReadiness` the daemon passes in: the seam where the CNI
 * runner says whether the node has a CNI configuration. Until that part is wired, the daemon
 * passes `NO_POD_NETWORK`, which answers not ready with containerd's reason.
 */
import { InvalidArgumentError } from '../../errors';
import * as net from 'node:net';

/** The CRI version podvisor speaks (VersionResponse.runtime_api_version). */
export const CRI_API_VERSION = 'v1';
/** The kubelet runtime API version containerd and CRI-O answer with (VersionResponse.version). */
export const KUBE_RUNTIME_API_VERSION = '0.1.0';
/** VersionResponse.runtime_name. */
export const RUNTIME_NAME = 'podvisor';

/** Whether pods can get a network now, in the words of the NetworkReady condition. */
export interface NetworkState {
  ready: boolean;
  /** CamelCase reason when not ready (`NetworkPluginNotReady`). */
  reason: string;
  message: string;
}

/** Says, on each Status call, whether the pod network is ready (the CNI runner's seam). */
export type NetworkReadiness = () => NetworkState;

/** The readiness until the CNI runner is wired in: not ready, with containerd's reason. */
export const NO_POD_NETWORK: NetworkReadiness = () => ({
  ready: false,
  reason: 'NetworkPluginNotReady',
  message: 'Network plugin returns error: podvisor runs no CNI network configuration yet',
});

/** A RuntimeCondition as sent. */
export interface RuntimeCondition {
  type: string;
  status: boolean;
  reason: string;
  message: string;
}

/** The runtime configuration the kubelet pushes (UpdateRuntimeConfig), kept for the pod network. */
export class RuntimeConfigState {
  private cidrs: string[] = [];
  private readonly listeners: Array<(cidrs: string[]) => void> = [];

  /** The node's pod CIDRs (one per IP family), [] until the kubelet has sent them. */
  podCidrs(): string[] {
    return [...this.cidrs];
  }

  /** Be told of each change (the CNI runner fills its configuration template from it). */
  onChange(listener: (cidrs: string[]) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Record `pod_cidr` (comma-separated for dual stack, as the kubelet sends it). An empty value
   * changes nothing (containerd's rule); a value that is not CIDRs is refused.
   */
  setPodCidr(value: string): void {
    if (value === '') return;
    const cidrs = value.split(',').map((s) => s.trim());
    for (const c of cidrs) {
      if (!isCidr(c)) throw new InvalidArgumentError(`invalid pod CIDR ${JSON.stringify(c)}: want ADDRESS/BITS`);
    }
    this.cidrs = cidrs;
    for (const l of this.listeners) l(this.podCidrs());
  }
}

/** `10.88.0.0/16`, `fd00::/64`. */
export function isCidr(s: string): boolean {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m) return false;
  const family = net.isIP(m[1]);
  const bits = Number(m[2]);
  return (family === 4 && bits <= 32) || (family === 6 && bits <= 128);
}

/** What the runtime calls need. */
export interface RuntimeInfoDeps {
  /** podvisor's version (runtime_version). */
  version: string;
  network: NetworkReadiness;
  config: RuntimeConfigState;
}

/** Version, Status and UpdateRuntimeConfig over `deps`. */
export class RuntimeInfo {
  constructor(private readonly deps: RuntimeInfoDeps) {}

  /** VersionResponse. */
  version(): { version: string; runtime_name: string; runtime_version: string; runtime_api_version: string } {
    return {
      version: KUBE_RUNTIME_API_VERSION,
      runtime_name: RUNTIME_NAME,
      runtime_version: this.deps.version,
      runtime_api_version: CRI_API_VERSION,
    };
  }

  /** StatusResponse: RuntimeReady (the daemon answers, so it is) and NetworkReady. */
  status(verbose: boolean): { status: { conditions: RuntimeCondition[] }; info: Record<string, string> } {
    const n = this.deps.network();
    const conditions: RuntimeCondition[] = [
      { type: 'RuntimeReady', status: true, reason: '', message: '' },
      { type: 'NetworkReady', status: n.ready, reason: n.ready ? '' : n.reason, message: n.ready ? '' : n.message },
    ];
    const info: Record<string, string> = verbose
      ? {
          config: JSON.stringify({
            runtimeName: RUNTIME_NAME,
            runtimeVersion: this.deps.version,
            podCIDRs: this.deps.config.podCidrs(),
          }),
        }
      : {};
    return { status: { conditions }, info };
  }

  /** UpdateRuntimeConfigRequest: records the pod CIDR. */
  updateRuntimeConfig(req: { runtime_config?: { network_config?: { pod_cidr?: string } | null } | null }): object {
    this.deps.config.setPodCidr(req.runtime_config?.network_config?.pod_cidr ?? '');
    return {};
  }
}
