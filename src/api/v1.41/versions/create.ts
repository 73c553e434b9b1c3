/**
 * The create body as the request's API version means it, before the v1.41 decoding and
 * translation see it: fields a version does not know are dropped, fields it brought in are
 * checked (or refused where podvisor cannot honour them), and the container-wide MacAddress is
 * moved to its endpoint as dockerd 26 does. A request at 1.41 or below is passed through as
 * dockerd 20.10 reads it: only the fields it does not know are dropped.
 */
import { InvalidArgumentError } from '../../../errors';
import { asV141, atLeast, V } from '.';

type Json = Record<string, unknown>;

/** A create body adjusted for its version, with what the version layer has to say about it. */
export interface VersionedCreate<B> {
  body: B;
  /** Warnings dockerd adds for this version (after the create's own). */
  warnings: string[];
  /** Whether NetworkingConfig.EndpointsConfig may name several networks. */
  multipleEndpoints: boolean;
  /** Whether the create is checked and made as dockerd 26 does at every version (from 1.42). */
  asDockerd26: boolean;
}

function obj(v: unknown): Json | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
}

/** Mount options that belong to one mount type, as dockerd 26 checks them from API 1.42. */
const OPTIONS_OF_TYPE = [
  ['VolumeOptions', 'volume'],
  ['BindOptions', 'bind'],
  ['TmpfsOptions', 'tmpfs'],
] as const;

function checkMounts(mounts: Json[], v: string): void {
  for (const m of mounts) {
    const bind = obj(m.BindOptions);
    const vol = obj(m.VolumeOptions);
    for (const [key, type] of OPTIONS_OF_TYPE)
      if (obj(m[key]) && m.Type !== type)
        throw new InvalidArgumentError(`${key} must not be specified on mount type ${JSON.stringify(m.Type ?? '')}`);
    if (!atLeast(v, V.V1_44) && m.Type === 'bind' && bind?.ReadOnlyForceRecursive === true)
      throw new InvalidArgumentError('BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer');
    if (typeof vol?.Subpath === 'string' && vol.Subpath !== '') {
      if (!atLeast(v, V.V1_45)) throw new InvalidArgumentError('VolumeOptions.Subpath needs API v1.45 or newer');
      throw new InvalidArgumentError(
        'VolumeOptions.Subpath is not supported by podvisor yet: mount the volume whole, or a bind of the directory',
      );
    }
    if (bind?.CreateMountpoint === true)
      throw new InvalidArgumentError(
        'BindOptions.CreateMountpoint is not supported by podvisor yet: create the bind source before the container',
      );
    // A read-only bind is recursively read-only at every version: the host's copy of it in the
    // VM's share is made read-only with every submount under it (mount_setattr AT_RECURSIVE),
    // and the guest mounts it read-only. ReadOnlyForceRecursive asks for just that; the
    // non-recursive form, whose submounts stay writable, podvisor cannot give.
    if (bind?.ReadOnlyNonRecursive === true && m.ReadOnly === true && atLeast(v, V.V1_44))
      throw new InvalidArgumentError(
        'BindOptions.ReadOnlyNonRecursive is not supported by podvisor: a read-only bind is read-only with every mount under it',
      );
  }
}

/** The network NetworkMode names, as dockerd's NetworkMode.NetworkName() (bridge for the default). */
function modeNetwork(mode: unknown): string | undefined {
  const m = typeof mode === 'string' ? mode : '';
  if (m === '' || m === 'default' || m === 'bridge') return 'bridge';
  if (m === 'host' || m === 'none' || m.startsWith('container:')) return undefined;
  return m;
}

/**
 * The container-wide MacAddress, as dockerd 26 treats it: below 1.44 the only place for it
 * (an endpoint's own is dropped), from 1.44 deprecated, moved to the main network's endpoint
 * with a warning, and refused where that endpoint asks for another address.
 */
function moveMacAddress(body: Json, eps: Json, v: string): string | undefined {
  const mac = typeof body.MacAddress === 'string' ? body.MacAddress : '';
  const hc = obj(body.HostConfig) ?? {};
  if (!atLeast(v, V.V1_44)) {
    if (mac === '') for (const ep of Object.values(eps)) if (obj(ep)) delete (ep as Json).MacAddress;
    return undefined;
  }
  if (mac === '') return undefined;
  const nw = modeNetwork(hc.NetworkMode);
  if (nw !== undefined) {
    if (Object.keys(eps).length === 0) eps[nw] = { MacAddress: mac };
    else {
      const ep = obj(eps[nw]);
      if (!(nw in eps))
        throw new InvalidArgumentError(
          'if a container-wide MAC address is supplied, HostConfig.NetworkMode must match the identity of a network in NetworkSettings.Networks',
        );
      const own = typeof ep?.MacAddress === 'string' ? ep.MacAddress : '';
      if (own === '') eps[nw] = { ...(ep ?? {}), MacAddress: mac };
      else if (own !== mac)
        throw new InvalidArgumentError(
          'the container-wide MAC address must match the endpoint-specific MAC address for the main network, or be left empty',
        );
    }
    delete body.MacAddress;
  }
  return 'The container-wide MacAddress field is now deprecated. It should be specified in EndpointsConfig instead.';
}

/**
 * dockerd 26's first step on a create body (moby's postContainersCreate, at every version it
 * serves): a NetworkMode of `default` or none at all is the default network's own name,
 * `bridge`, which is what inspect shows, and an endpoint given under `default` moves to it.
 * dockerd 20.10 keeps `default` (so 1.41 does).
 */
function defaultNetworkToBridge(body: Json): void {
  const hc = obj(body.HostConfig) ?? {};
  if (hc.NetworkMode !== undefined && hc.NetworkMode !== null && hc.NetworkMode !== '' && hc.NetworkMode !== 'default')
    return;
  body.HostConfig = { ...hc, NetworkMode: 'bridge' };
  const eps = obj(obj(body.NetworkingConfig)?.EndpointsConfig);
  if (eps && 'default' in eps) {
    eps.bridge = eps.default;
    delete eps.default;
  }
}

/**
 * dockerd 26 stores a restart policy with no name as `no` (what the docker CLI sends); dockerd
 * 20.10 keeps `""`. A name it does not know gets dockerd 26's words.
 */
function noRestartPolicyIsNo(body: Json): void {
  const hc = obj(body.HostConfig) ?? {};
  const rp = obj(hc.RestartPolicy) ?? {};
  if (typeof rp.Name === 'string' && !['', 'no', 'always', 'on-failure', 'unless-stopped'].includes(rp.Name))
    throw new InvalidArgumentError(
      `invalid restart policy: unknown policy '${rp.Name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`,
    );
  if (typeof rp.Name === 'string' && rp.Name !== '') return;
  body.HostConfig = { ...hc, RestartPolicy: { ...rp, Name: 'no' } };
}

/**
 * A body at 1.41 or below without the fields dockerd 20.10 does not know and so drops: the
 * health check's StartInterval (API 1.44). A copy where one is dropped.
 */
function unknownTo2010Dropped<B>(given: B): B {
  const health = obj(obj(given)?.Healthcheck);
  if (!health || !('StartInterval' in health)) return given;
  const body = structuredClone(given) as Json;
  delete (body.Healthcheck as Json).StartInterval;
  return body as B;
}

/** The create body for the request's version `v` (a copy where it changes; the one given is not changed). */
export function createBodyFor<B>(given: B, v: string): VersionedCreate<B> {
  if (asV141(v))
    return { body: unknownTo2010Dropped(given), warnings: [], multipleEndpoints: false, asDockerd26: false };
  const body = structuredClone(given) as Json;
  defaultNetworkToBridge(body);
  noRestartPolicyIsNo(body);
  const hc = obj(body.HostConfig);
  if (hc) {
    // dockerd 26's words for a runtime it does not have (20.10's "Unknown runtime specified").
    if (typeof hc.Runtime === 'string' && hc.Runtime !== '' && hc.Runtime !== 'runc')
      throw new InvalidArgumentError(`unknown or invalid runtime name: ${hc.Runtime}`);
    // Removed in 1.42: any value is ignored.
    delete hc.KernelMemory;
    checkMounts(Array.isArray(hc.Mounts) ? (hc.Mounts.filter(obj) as Json[]) : [], v);
    if (!atLeast(v, V.V1_43)) delete hc.Annotations;
    else if (Object.keys(obj(hc.Annotations) ?? {}).length > 0)
      throw new InvalidArgumentError(
        'HostConfig.Annotations is not supported by podvisor: a container runs in its own VM, with no OCI runtime to pass them to',
      );
  }
  const health = obj(body.Healthcheck);
  if (health && !atLeast(v, V.V1_44)) delete health.StartInterval;
  const nc = obj(body.NetworkingConfig);
  const eps = obj(nc?.EndpointsConfig) ?? {};
  const names = Object.keys(eps);
  if (names.length > 1 && !atLeast(v, V.V1_44))
    throw new InvalidArgumentError(`Container cannot be created with multiple network endpoints: ${names.join(', ')}`);
  const warning = moveMacAddress(body, eps, v);
  if (Object.keys(eps).length > 0) body.NetworkingConfig = { ...(nc ?? {}), EndpointsConfig: eps };
  return {
    body: body as B,
    warnings: warning ? [warning] : [],
    multipleEndpoints: atLeast(v, V.V1_44),
    asDockerd26: true,
  };
}
