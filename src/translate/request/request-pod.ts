/**
 * The neutral creation request (./container-request.ts) + its image -> the pod layer's
 * PodSpec, directly: the one translation of the CRI's, the native API's and the builder's
 * creates. No front's syntax is built on the way (no Docker body, no HostConfig); the checks
 * that need no image ran before (./request-check.ts).
 *
 * Merging with the image is dockerd's, as a create of the same container gets it: env by
 * key (the request wins), labels by key, user and working directory when the request sets
 * none, the image's stop signal and healthcheck; the image's command only when the request
 * gives neither entrypoint nor args, its entrypoint when the request gives none.
 *
 *   network     the default bridge or a network by name, with the ports published; none;
 *               the VM of another pod (`join`, whose network it shares: no hostname, hosts
 *               or ports of its own); the host's is refused as Docker's host mode is;
 *               a CRI sandbox goes on the node's CNI network (`cni`)
 *   security    the exact capability set, or the default one; the default masked and
 *               read-only paths unless given (none when privileged); the runtime's sysctls
 *               (unprivileged ports and ping) in a VM with its own network, unless
 *               `defaultSysctls` is false; the runtime's seccomp profile unless unconfined,
 *               a profile, privileged or `noSeccompFilter`
 *   mounts      binds, structured (either path may hold ':'), parents before children; a
 *               /dev/shm of `shmBytes`
 *   log         the daemon's default driver; json-file for `json-file`; json-file plus the
 *               CRI log file for `cri`
 *
 * Such a pod keeps no Docker record: `docker ps` and `inspect` render its view from the
 * PodSpec (../docker/pod-view.ts).
 */
import * as path from 'node:path';
import { InvalidArgumentError } from '../../errors';
import type { ContainerNetworkPlan } from '../../net/container-config';
import { CRI_LOG_PATH_OPT, DEFAULT_NETWORK_SYSCTLS } from '../../pod/service';
import type { ContainerSecurity, PodLogConfig, PodMount, PodSeccomp, PodSpec } from '../../pod/types';
import type { ImageRecord } from '../../storage/types';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, capabilityName } from '../../util/capabilities';
import { mergeEnv } from '../../util/env';
import { parseCgroupParent } from '../docker/cgroup-parent';
import type { ContainerRequest, SecurityRequest } from './container-request';
import { DEFAULT_STOP_TIMEOUT, type TranslateOptions, type Translated } from '../translation';
import { checkEtcOptions } from '../etc-options';
import { healthSpecOf, mergeHealthConfig, type DockerHealthConfig } from '../docker/health';
import { verifyLogConfig } from '../docker/log-config';
import { GUEST_SHM_BYTES, mountTarget, withShmSize } from '../docker/mounts';
import { planOnHost, planOneNetwork } from '../network/network-plan';
import { publishedPortsOf } from '../network/port-requests';
import { cgroupLimitsOf, vmSizeOf } from '../docker/resources';
import { parseSeccompProfile } from '../seccomp-json';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from '../docker/security';
import { parseSignal, SIGTERM } from '../signals';

/** The pod of a checked neutral request (see the module comment). */
export function translateContainerRequest(
  req: ContainerRequest,
  image: ImageRecord,
  id: string,
  opts: TranslateOptions,
): Translated {
  const m = mergedContainer(req, image, id);
  const entrypoint = (m.entrypoint ?? []).filter((a, i, all) => !(all.length === 1 && i === 0 && a === ''));
  const args = [...entrypoint, ...(m.cmd ?? [])];
  if (args.length === 0) throw new InvalidArgumentError('No command specified');
  const log = logOf(req, opts);
  const network = networkPlanOf(req, m, opts);
  const cgroupParent = parseCgroupParent(req.cgroupParent ?? '');
  const limits = cgroupLimitsOf(req.resources ?? {});
  const mounts = mountsOf(req);
  const health = healthSpecOf(m.health, image.config.config?.Shell);
  const seccomp = seccompOf(req.security ?? {});
  const spec: PodSpec = {
    id,
    hostname: m.hostname,
    domainname: '',
    labels: { ...m.labels },
    vm: vmSizeOf(req.resources ?? {}, opts.defaults, opts.hostCpus),
    restartPolicy: { name: 'no', maximumRetryCount: 0 },
    autoRemove: false,
    log,
    network,
    ...(req.cni ? { cni: req.cni } : {}),
    ...(cgroupParent !== undefined ? { hostCgroupParent: cgroupParent } : {}),
    containers: [
      {
        id,
        image: image.id,
        imageRef: req.image,
        args,
        env: m.env ?? [],
        workingDir: m.workingDir || '/',
        user: m.user,
        tty: req.tty === true,
        openStdin: req.openStdin === true,
        stdinOnce: req.stdinOnce === true,
        stopSignal: m.stopSignal ? parseSignal(m.stopSignal) : SIGTERM,
        // A negative stop timeout means: wait for ever.
        stopTimeout: req.stopTimeout ?? DEFAULT_STOP_TIMEOUT,
        ...(limits ? { limits } : {}),
        ...(req.groups?.length ? { groupAdd: [...req.groups] } : {}),
        ...(mounts.length ? { mounts } : {}),
        ...(health ? { health } : {}),
        security: securityOf(req),
        ...(seccomp ? { seccomp } : {}),
      },
    ],
  };
  return { spec, ...(m.volumes.length ? { anonymousVolumes: [...m.volumes] } : {}) };
}

/** The container as a request and its image say it together (see the module comment). */
interface MergedContainer {
  hostname: string;
  user: string;
  /** null: neither the image nor the request has any. */
  env: string[] | null;
  labels: Record<string, string>;
  /** '' for none (the container's is then `/`). */
  workingDir: string;
  /** The image's. */
  stopSignal?: string;
  /** Ports exposed (`80/tcp`), the image's and the request's; absent: none from either. */
  exposedPorts?: string[];
  /** The image's healthcheck. */
  health?: DockerHealthConfig;
  /** The image's volume paths. */
  volumes: string[];
  entrypoint: string[] | null;
  cmd: string[] | null;
}

/** The container as the request and its image say it together (see the module comment). */
function mergedContainer(req: ContainerRequest, image: ImageRecord, id: string): MergedContainer {
  const ic = image.config.config ?? {};
  const entrypointSet = req.entrypoint !== undefined;
  const given = (req.ports ?? []).map((p) => `${p.containerPort}/${p.protocol}`);
  const exposed = ic.ExposedPorts || given.length ? [...Object.keys(ic.ExposedPorts ?? {}), ...given] : undefined;
  return {
    hostname: req.hostname || id.slice(0, 12),
    user: req.user || ic.User || '',
    env: ic.Env?.length || req.env ? mergeEnv(ic.Env ?? [], req.env ?? []) : null,
    labels: { ...(ic.Labels ?? {}), ...(req.labels ?? {}) },
    workingDir: req.workingDir || ic.WorkingDir || '',
    ...(ic.StopSignal ? { stopSignal: ic.StopSignal } : {}),
    ...(exposed ? { exposedPorts: [...new Set(exposed)] } : {}),
    health: mergeHealthConfig(undefined, ic.Healthcheck) as DockerHealthConfig | undefined,
    volumes: ic.Volumes ? Object.keys(ic.Volumes) : [],
    entrypoint: entrypointSet ? (req.entrypoint ?? null) : (ic.Entrypoint ?? null),
    cmd: entrypointSet || req.args?.length ? (req.args ?? null) : (ic.Cmd ?? null),
  };
}

/** The pod's log (see the module comment). */
function logOf(req: ContainerRequest, opts: TranslateOptions): PodLogConfig {
  if (req.log?.kind === 'json-file') return { driver: 'json-file', opts: {} };
  if (req.log?.kind === 'cri') return { driver: 'json-file', opts: { [CRI_LOG_PATH_OPT]: req.log.path } };
  const lc = verifyLogConfig({ Type: '', Config: {} }, opts.logDefaults ?? { Type: 'json-file', Config: {} });
  return { driver: lc.Type, opts: lc.Config };
}

/** The pod's network plan (see the module comment). */
function networkPlanOf(req: ContainerRequest, m: MergedContainer, opts: TranslateOptions): ContainerNetworkPlan {
  const n = req.network ?? { mode: 'default' };
  const etc = checkEtcOptions({ dns: [], dnsSearch: [], dnsOptions: [], extraHosts: req.extraHosts ?? [] });
  const withEtc = (p: ContainerNetworkPlan): ContainerNetworkPlan => (etc ? { ...p, etc } : p);
  const none: ContainerNetworkPlan = { mode: 'none', networks: [], ports: [] };
  if (n.mode === 'join') {
    const conflict = (what: string) =>
      new InvalidArgumentError(`conflicting options: ${what} and joining the VM of ${n.pod}`);
    if (req.hostname) throw conflict('a hostname');
    if (req.extraHosts?.length) throw conflict('extra hosts');
    if (req.ports?.length) throw conflict('ports');
    return none;
  }
  const published = publishedPortsOf(req.ports ?? []);
  if (n.mode === 'none') return withEtc(none);
  const ref = n.mode === 'named' ? n.name : n.mode;
  const exposed = (m.exposedPorts ?? []).map((k) => (k.includes('/') ? k : `${k}/tcp`));
  return withEtc(planOnHost(opts.networks, (lookup) => planOneNetwork(ref, published, exposed, lookup)));
}

/** The container's binds (see the module comment), and its /dev/shm. */
function mountsOf(req: ContainerRequest): PodMount[] {
  const binds: PodMount[] = (req.mounts ?? []).map((m) => ({
    type: 'bind',
    source: path.posix.normalize(m.source),
    target: mountTarget(m.target),
    readOnly: m.readOnly === true,
    createSource: m.createSource === true,
  }));
  // Parents before children: a mount at /a/b goes on top of one at /a.
  const depth = (t: string) => (t === '/' ? 0 : t.split('/').length);
  binds.sort((a, b) => depth(a.target) - depth(b.target));
  return withShmSize(binds, req.resources?.shmBytes ?? GUEST_SHM_BYTES);
}

/** The container's security settings (see the module comment). */
function securityOf(req: ContainerRequest): ContainerSecurity {
  const s = req.security ?? {};
  const n = req.network?.mode;
  const ownNetwork = s.defaultSysctls !== false && n !== 'host' && n !== 'join';
  const sysctls = { ...(ownNetwork ? DEFAULT_NETWORK_SYSCTLS : {}), ...(s.sysctls ?? {}) };
  if (s.privileged)
    return {
      capabilities: [...ALL_CAPABILITIES],
      privileged: true,
      noNewPrivs: s.noNewPrivileges === true,
      readonlyRootfs: s.readonlyRoot === true,
      maskedPaths: [],
      readonlyPaths: [],
      sysctls,
    };
  return {
    capabilities: s.capabilities ? [...new Set(s.capabilities.map(capabilityName))] : [...DEFAULT_CAPABILITIES],
    privileged: false,
    noNewPrivs: s.noNewPrivileges === true,
    readonlyRootfs: s.readonlyRoot === true,
    maskedPaths: s.maskedPaths?.length ? [...s.maskedPaths] : [...DEFAULT_MASKED_PATHS],
    readonlyPaths: s.readonlyPaths?.length ? [...s.readonlyPaths] : [...DEFAULT_READONLY_PATHS],
    sysctls,
  };
}

/** The container's seccomp filter (see the module comment); undefined for none. Throws 400 for a bad profile. */
function seccompOf(s: SecurityRequest): PodSeccomp | undefined {
  if (s.privileged || s.noSeccompFilter || s.seccomp?.mode === 'unconfined') return undefined;
  if (s.seccomp?.mode !== 'profile') return { profile: 'default' };
  const spec = parseSeccompProfile(s.seccomp.json);
  return spec ? { profile: 'custom', spec } : undefined;
}
