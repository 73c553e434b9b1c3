/**
 * The first step of `POST /containers/create`: check a create body (already JSON-parsed) and
 * normalise it, before the image is looked up (dockerd's 400s and messages), with the checks
 * that container update shares (restart policy, resources) and Docker's container name rule.
 * The second step, merging with the image, is ./create.ts.
 */
import { InvalidArgumentError } from '../../../errors';
import { HostConfigSchema, type CreateBody } from './docker-schema';
import { normaliseHostConfig, type DockerConfig, type DockerHostConfig } from './docker-types';
import { parseSignal } from '../../../translate/signals';
import { parseHealthConfig } from './health';
import type { RestartPolicy, RestartPolicyName } from '../../../pod/types';
import { parseMounts } from './mounts';
import { checkCapabilities } from './security';
import { refuseUnhonoured } from './unhonoured';
import { parseCgroupParent } from '../../../translate/request/policy/cgroup-parent';
import { parseDeviceCgroupRules, parseDevices } from './devices';
import { checkResources } from '../../../translate/request/policy/resource-checks';
import { amountsOf } from './resources';

/** NetworkingConfig.EndpointsConfig as a create body sends it: each network's endpoint settings. */
export type EndpointsConfig = Record<
  string,
  {
    Aliases?: string[] | null;
    IPAMConfig?: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] | null } | null;
    MacAddress?: string;
    Links?: string[] | null;
  } | null
>;

/** A create request that passed every check that does not need the image. */
export interface CreateRequest {
  /** Config as sent (StrSlices normalised to lists), not yet merged with the image. */
  config: DockerConfig;
  hostConfig: DockerHostConfig;
  /** Whether the caller set Entrypoint (even to empty), which stops Cmd inheritance. */
  entrypointSet: boolean;
  /** Whether the body had a HostConfig (not null): dockerd 20.10 names no Runtime without one. */
  hostConfigSent?: boolean;
  /** NetworkingConfig.EndpointsConfig as sent (aliases, --ip, per network). */
  endpointsConfig?: EndpointsConfig;
  /** Whether endpointsConfig may name several networks (the API version allows it). */
  multipleEndpoints?: boolean;
  /**
   * Whether the request is served as dockerd 26 serves every API version (the version is 1.42
   * or later): every problem of an endpoint's settings at once, and a container's anonymous
   * volumes labelled com.docker.volume.anonymous. Unset: as dockerd 20.10.
   */
  asDockerd26?: boolean;
}

type Json = Record<string, unknown>;

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
function num(v: unknown): number {
  return typeof v === 'number' ? v : 0;
}
function bool(v: unknown): boolean {
  return v === true;
}
function list<T>(v: unknown): T[] | null {
  return Array.isArray(v) ? (v as T[]) : null;
}
function map<T>(v: unknown): Record<string, T> | null {
  return v && typeof v === 'object' && !Array.isArray(v) ? { ...(v as Record<string, T>) } : null;
}

/** Restart policy checks shared by create and update (dockerd's messages). */
export function parseRestartPolicy(
  rp: { Name?: unknown; MaximumRetryCount?: unknown } | null | undefined,
): RestartPolicy {
  const name = str(rp?.Name);
  const max = num(rp?.MaximumRetryCount);
  switch (name) {
    case '':
    case 'no':
    case 'always':
    case 'unless-stopped':
      if (max !== 0) throw new InvalidArgumentError(`maximum retry count cannot be used with restart policy '${name}'`);
      return { name: (name || 'no') as RestartPolicyName, maximumRetryCount: 0 };
    case 'on-failure':
      if (max < 0) throw new InvalidArgumentError('maximum retry count cannot be negative');
      return { name: 'on-failure', maximumRetryCount: max };
    default:
      throw new InvalidArgumentError(`invalid restart policy '${name}'`);
  }
}

/**
 * The resource checks of a create's or an update's HostConfig (the neutral request's, in
 * dockerd's order and words: ../request/policy/resource-checks.ts), `hostCpus` for the CPU range.
 */
export function validateResources(hc: Partial<DockerHostConfig>, hostCpus: number): void {
  checkResources(
    { ...amountsOf(hc), memorySwap: hc.MemorySwap, oomScoreAdj: hc.OomScoreAdj, shmBytes: hc.ShmSize },
    hostCpus,
  );
}

/**
 * Check a create body (already JSON-parsed) and normalise it. Throws InvalidArgumentError
 * with dockerd's message for anything dockerd refuses, NotImplementedError for Docker
 * features podvisor does not have yet.
 */
/**
 * Whether body `b` gives dockerd a HostConfig: a HostConfig that is not null, or a field of
 * one at the body's top level (dockerd's create body embeds a deprecated HostConfig there, which
 * any of its fields brings into being: docker-py sends `runtime=` as a top-level `Runtime`).
 */
function hostConfigSent(b: Json): boolean {
  if (b.HostConfig !== undefined && b.HostConfig !== null) return true;
  return Object.keys(b).some((k) => k !== 'HostConfig' && k in HostConfigSchema.properties);
}

export function parseCreateBody(body: CreateBody, hostCpus: number): CreateRequest {
  const b = body as Json;
  if (!str(b.Image)) throw new InvalidArgumentError('Config cannot be empty in order to create a container');
  const hostConfig = normaliseHostConfig(b.HostConfig as Json | null);
  const policy = parseRestartPolicy(hostConfig.RestartPolicy);
  if (hostConfig.AutoRemove && policy.name !== 'no')
    throw new InvalidArgumentError("can't create 'AutoRemove' container with restart policy");
  checkCapabilities(hostConfig);
  if (!['host', 'private'].includes(hostConfig.CgroupnsMode))
    throw new InvalidArgumentError(`invalid cgroup namespace mode: ${hostConfig.CgroupnsMode}`);
  validateResources(hostConfig, hostCpus);
  refuseUnhonoured(hostConfig);
  parseCgroupParent(hostConfig.CgroupParent);
  parseDevices(hostConfig.Devices);
  parseDeviceCgroupRules(hostConfig.DeviceCgroupRules);
  if (hostConfig.Runtime !== 'runc') throw new InvalidArgumentError(`Unknown runtime specified ${hostConfig.Runtime}`);
  if (hostConfig.Isolation !== '' && hostConfig.Isolation.toLowerCase() !== 'default') {
    throw new InvalidArgumentError(`Invalid isolation: "${hostConfig.Isolation}" - linux only supports 'default'`);
  }
  const workingDir = str(b.WorkingDir);
  if (workingDir && !workingDir.startsWith('/')) {
    throw new InvalidArgumentError(`the working directory '${workingDir}' is invalid, it needs to be an absolute path`);
  }
  for (const e of list<string>(b.Env) ?? []) {
    if (e === '' || e.startsWith('=')) throw new InvalidArgumentError(`invalid environment variable: ${e}`);
  }
  if (str(b.StopSignal)) parseSignal(str(b.StopSignal));
  parseMounts(hostConfig);
  const entrypointSet = b.Entrypoint !== undefined && b.Entrypoint !== null;
  const health = parseHealthConfig(b.Healthcheck);
  const config: DockerConfig = {
    Hostname: str(b.Hostname),
    Domainname: str(b.Domainname),
    User: str(b.User),
    AttachStdin: bool(b.AttachStdin),
    AttachStdout: bool(b.AttachStdout),
    AttachStderr: bool(b.AttachStderr),
    ...(map<object>(b.ExposedPorts) ? { ExposedPorts: map<object>(b.ExposedPorts) as Record<string, object> } : {}),
    Tty: bool(b.Tty),
    OpenStdin: bool(b.OpenStdin),
    StdinOnce: bool(b.StdinOnce),
    Env: list<string>(b.Env),
    Cmd: list<string>(b.Cmd),
    ...(health ? { Healthcheck: health } : {}),
    ...(b.ArgsEscaped ? { ArgsEscaped: true } : {}),
    Image: str(b.Image),
    Volumes: map<object>(b.Volumes),
    WorkingDir: workingDir,
    Entrypoint: list<string>(b.Entrypoint),
    ...(b.NetworkDisabled ? { NetworkDisabled: true } : {}),
    ...(str(b.MacAddress) ? { MacAddress: str(b.MacAddress) } : {}),
    OnBuild: list<string>(b.OnBuild),
    Labels: map<string>(b.Labels),
    ...(str(b.StopSignal) ? { StopSignal: str(b.StopSignal) } : {}),
    ...(typeof b.StopTimeout === 'number' ? { StopTimeout: b.StopTimeout } : {}),
    ...(b.Shell ? { Shell: list<string>(b.Shell) ?? [] } : {}),
  };
  const nc = map<object>(b.NetworkingConfig) as { EndpointsConfig?: EndpointsConfig } | undefined;
  return {
    config,
    hostConfig,
    entrypointSet,
    ...(hostConfigSent(b) ? { hostConfigSent: true } : {}),
    ...(nc?.EndpointsConfig ? { endpointsConfig: nc.EndpointsConfig } : {}),
  };
}

/**
 * The warnings dockerd 20.10 gives at create for what a cgroup v2 host (the guest's kernel)
 * does not have, each with the field it discards (normaliseHostConfig drops them): memory
 * swappiness.
 */
export function createWarnings(body: CreateBody): string[] {
  const hc = (body as Json).HostConfig as Json | null | undefined;
  const out: string[] = [];
  // -1 is the CLI's "not set", which dockerd takes as none (fixMemorySwappiness).
  if (typeof hc?.MemorySwappiness === 'number' && hc.MemorySwappiness !== -1) {
    out.push(
      'Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.',
    );
  }
  return out;
}
