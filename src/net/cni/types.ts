/**
 * The shapes of CNI (the Container Network Interface, https://www.cni.dev/docs/spec/) as this
 * runtime uses them: a node's network configuration list, what one sandbox brings to a plugin
 * run, and a plugin's result, checked and normalised from the spec's versions 0.3.x, 0.4.0 and
 * 1.0.0.
 */

/** A network configuration list (a `.conflist`, or a `.conf` taken as a list of one plugin). */
export interface CniConfigList {
  /** The network's name (`name`): plugins key their state by it (host-local's leases, chains). */
  name: string;
  /** The list's `cniVersion`; every plugin is run with it. */
  cniVersion: string;
  /** `disableCheck`: CHECK is skipped for this network. */
  disableCheck: boolean;
  /** Each plugin's own configuration object as the file has it (`type` names its binary). */
  plugins: Array<Record<string, unknown>>;
  /** The file it came from (empty for a list given inline). */
  source: string;
}

/** A port the pod asks the node to publish (CRI PortMapping; the portmap plugin's capability). */
export interface CniPortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  /** Host address to bind; empty or absent: every address. */
  hostIP?: string;
}

/** Traffic shaping for the pod (the bandwidth plugin's capability), bits per second and bits. */
export interface CniBandwidth {
  ingressRate?: number;
  ingressBurst?: number;
  egressRate?: number;
  egressBurst?: number;
}

/** Who a plugin run is for: one sandbox of one pod. */
export interface CniSandbox {
  /** CNI_CONTAINERID: the sandbox id (letters, digits, `_.-`, as the spec asks). */
  id: string;
  /** CNI_NETNS: the path of the sandbox's network namespace (empty for a DEL of one that is gone). */
  netns: string;
  /** CNI_IFNAME: the interface the plugins make in it (eth0 unless said). */
  ifName?: string;
  /** The pod, for CNI_ARGS (K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID); absent: no K8S_ args. */
  pod?: { namespace: string; name: string; uid: string };
  /** runtimeConfig.portMappings (given to plugins whose capabilities ask for them). */
  portMappings?: CniPortMapping[];
  /** runtimeConfig.bandwidth (likewise). */
  bandwidth?: CniBandwidth;
}

/** One interface of a result. */
export interface CniInterface {
  name: string;
  /** Lower-case aa:bb:cc:dd:ee:ff, or absent when the plugin gave none. */
  mac?: string;
  /** The namespace path it lives in; absent (or empty) for an interface on the host. */
  sandbox?: string;
}

/** One address of a result. */
export interface CniIpConfig {
  /** The address with its prefix length ("10.99.0.5/24"). */
  address: string;
  /** The gateway of that subnet, if the plugin gave one. */
  gateway?: string;
  /** Index into `interfaces` of the interface holding it. */
  interface?: number;
}

/** One route of a result (`gw` absent: the plugin's default gateway for its family). */
export interface CniRoute {
  dst: string;
  gw?: string;
}

/** DNS settings a plugin suggests. */
export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** A plugin's result, checked and brought to one shape whatever its cniVersion. */
export interface CniResult {
  /** The version the result was written in. */
  cniVersion: string;
  interfaces: CniInterface[];
  ips: CniIpConfig[];
  routes: CniRoute[];
  dns: CniDns;
  /** The result as the plugin wrote it: what the next plugin of a list gets as prevResult. */
  raw: Record<string, unknown>;
}
