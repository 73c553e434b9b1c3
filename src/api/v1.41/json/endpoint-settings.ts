/**
 * What inspect echoes of a container's endpoint settings as they were asked: dockerd keeps the
 * request's EndpointSettings and shows its IPAMConfig (the static addresses, `--ip`, `--ip6`) and
 * DriverOpts beside what the network gave. The static address comes from the container's
 * network plan, which a connect updates too; the driver options from the create's
 * NetworkingConfig (the bridge driver has no endpoint option of its own, as dockerd's, so they
 * are only shown).
 */
import type { ContainerNetworkPlan } from '../../../net/container-config';
import { askedIpamConfig } from './network-json';

/** Driver options of the create's EndpointsConfig, by the key it used (a network name or ID). */
export type EndpointDriverOpts = Record<string, Record<string, string>>;

/** The DriverOpts of a create body's EndpointsConfig entries that have any (undefined: none). */
export function driverOptsOf(endpointsConfig: Record<string, unknown> | undefined): EndpointDriverOpts | undefined {
  const out: EndpointDriverOpts = {};
  for (const [key, ep] of Object.entries(endpointsConfig ?? {})) {
    const opts = (ep as { DriverOpts?: unknown } | null)?.DriverOpts;
    if (!opts || typeof opts !== 'object') continue;
    const strs = Object.entries(opts as Record<string, unknown>).filter(([, v]) => typeof v === 'string') as Array<
      [string, string]
    >;
    if (strs.length) out[key] = Object.fromEntries(strs);
  }
  return Object.keys(out).length ? out : undefined;
}

/** Whether entry `name` of NetworkSettings.Networks is the network a request named `ref`. */
function names(name: string, entry: Record<string, unknown>, ref: string): boolean {
  const id = typeof entry.NetworkID === 'string' ? entry.NetworkID : '';
  return name === ref || (ref.length >= 1 && id !== '' && id.startsWith(ref));
}

/**
 * Fill `networks` (NetworkSettings.Networks of inspect, changed in place) with the asked
 * settings: IPAMConfig {IPv4Address, IPv6Address} for a network joined with static addresses, DriverOpts
 * for one created with driver options, and the MacAddress a connect asked for on an entry that
 * has no address yet (the container has not joined that network).
 */
export function withAskedEndpointSettings(
  networks: Record<string, Record<string, unknown>>,
  plan: ContainerNetworkPlan | undefined,
  driverOpts: EndpointDriverOpts | undefined,
  macs?: Record<string, string>,
): void {
  for (const [name, entry] of Object.entries(networks)) {
    const asked = plan?.networks.find((a) => names(name, entry, a.ref));
    if (asked && !entry.IPAMConfig) entry.IPAMConfig = askedIpamConfig(asked);
    const opts = Object.entries(driverOpts ?? {}).find(([ref]) => names(name, entry, ref));
    if (opts) entry.DriverOpts = { ...opts[1] };
    const mac = macs?.[name];
    if (mac && entry.MacAddress === '') entry.MacAddress = mac;
  }
}

/**
 * NetworkSettings.Networks of a container that has not joined its networks, as dockerd keeps
 * them until the start: under the names its create's EndpointsConfig gave (`names`). Where
 * they leave out `main` (the network of its NetworkMode, the plan's first), that one is shown
 * under the only name given (an endpoint named other than the network it configures), or not
 * at all when several were given; the others (a connect's too) under their own names. No
 * names, or `main` among them: `planned` as it is.
 */
export function underCreateNames(
  planned: Record<string, Record<string, unknown>>,
  names: readonly string[] | undefined,
  main: string | undefined,
): Record<string, Record<string, unknown>> {
  if (!names?.length || main === undefined || names.includes(main)) return planned;
  const out: Record<string, Record<string, unknown>> = {};
  for (const [name, entry] of Object.entries(planned)) {
    if (name !== main) out[name] = entry;
    else if (names.length === 1 && !(names[0] in planned)) out[names[0]] = entry;
  }
  return out;
}
