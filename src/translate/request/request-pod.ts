/**
 * The neutral creation request (./container-request.ts) + its image -> the pod layer's
 * PodSpec, directly: the one translation of every front's create (Docker's, the CRI's, the
 * native API's and the builder's). No front's syntax is built on the way (no Docker body, no
 * HostConfig); the checks that need no image ran before (./request-check.ts, or the Docker
 * front's own, with dockerd's messages).
 *
 * Merging with the image is dockerd's (./image-merge.ts). The rest, in the order a fault is
 * named (dockerd's): the command, the log driver, the name-service options, the network, the
 * seccomp profile, the container's disk.
 *
 *   network     the default bridge or a network by name, with the endpoint settings, MAC
 *               address, links and ports asked, other networks besides (`endpoints`); none;
 *               the VM of another pod (`join`, whose network it shares: no hostname, hosts
 *               or ports of its own); the host's is refused as Docker's host mode is;
 *               a CRI sandbox goes on the node's CNI network (`cni`)
 *   security    the exact capability set, or the default one; the default masked and
 *               read-only paths unless given (none when privileged); the runtime's sysctls
 *               (unprivileged ports and ping) in a VM with its own network, unless
 *               `defaultSysctls` is false, and the domain name's; the runtime's seccomp
 *               profile unless unconfined, a profile, privileged or `noSeccompFilter`;
 *               rlimits, OOM score, devices and device rules as given
 *   mounts      binds (structured: either path may hold ':'), volumes, tmpfs and a pod's
 *               empty directories, parents before children; a /dev/shm of `shmBytes`
 *   log         the daemon's default driver; json-file for `json-file`; json-file plus the
 *               CRI log file for `cri`; a driver by name with its options for `driver`
 *
 * Only a Docker create keeps a Docker record, made by its front from its body
 * (src/api/v1.41/docker/docker-request.ts); `docker ps` and `inspect` render any other pod's view from the
 * PodSpec (src/api/v1.41/docker/pod-view.ts).
 */
import * as path from 'node:path';
import { InvalidArgumentError } from '../../errors';
import type { ContainerNetworkPlan } from '../../net/container-config';
import { CRI_LOG_PATH_OPT, DEFAULT_NETWORK_SYSCTLS } from '../../pod/service';
import type { ContainerSecurity, PodLogConfig, PodMount, PodSeccomp, PodSpec } from '../../pod/types';
import type { ImageRecord } from '../../storage/types';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, capabilityName } from '../../util/capabilities';
import { parseCgroupParent } from './policy/cgroup-parent';
import type { ContainerRequest, MountRequest, SecurityRequest } from './container-request';
import { DEFAULT_STOP_TIMEOUT, type TranslateOptions, type Translated } from '../translation';
import { checkEtcOptions } from '../etc-options';
import { healthSpecOf } from './policy/health';
import { DEFAULT_LOG_CONFIG, resolveLogConfig } from './policy/log-config';
import { mountTarget, sortParentsFirst } from './policy/mount-order';
import { GUEST_SHM_BYTES, withShmSize } from './policy/shm';
import { planNetworks, planOnHost } from '../network/network-plan';
import { publishedPortsOf } from '../network/port-requests';
import { cgroupLimitsOf } from './policy/cgroup-limits';
import { vmSizeOf } from './policy/vm-size';
import { parseSeccompProfile } from '../seccomp-json';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from './policy/masked-paths';
import { parseStorageOpt } from './policy/storage-opts';
import { parseSignal, SIGTERM } from '../signals';
import { commandLineOf, mergeWithImage, type MergedContainer } from './image-merge';

/**
 * The pod of a checked neutral request (see the module comment); `merged` the request merged
 * with its image for pod `id`, when the caller merged it already (the creation door, whose
 * front completes the request from that merge).
 */
export function translateContainerRequest(
  req: ContainerRequest,
  image: ImageRecord,
  id: string,
  opts: TranslateOptions,
  merged?: MergedContainer,
): Translated {
  const m = merged ?? mergeWithImage(req, image, id);
  const args = commandLineOf(m);
  const log = logOf(req, opts);
  const network = networkPlanOf(req, m, opts);
  // The disk's options before the seccomp profile, as dockerd names them (it reads the profile at start).
  const disk = parseStorageOpt(req.diskOptions);
  const seccomp = seccompOf(req.security ?? {});
  const cgroupParent = parseCgroupParent(req.cgroupParent ?? '');
  const resources = req.resources ?? {};
  const limits = cgroupLimitsOf(resources);
  const mounts = mountsOf(req);
  const health = healthSpecOf(m.health, m.shell);
  const [rows, columns] = req.consoleSize ?? [0, 0];
  const terminal = (n: number) => n >= 1 && n <= 65535;
  const spec: PodSpec = {
    id,
    hostname: m.hostname,
    domainname: req.domainname ?? '',
    labels: { ...m.labels },
    vm: vmSizeOf(resources, opts.defaults, opts.hostCpus),
    restartPolicy: req.restartPolicy ? { ...req.restartPolicy } : { name: 'no', maximumRetryCount: 0 },
    autoRemove: req.autoRemove === true,
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
        // The client's terminal size, as the init's first TTY size.
        ...(req.tty && terminal(rows) && terminal(columns) ? { consoleSize: [rows, columns] as [number, number] } : {}),
        openStdin: req.openStdin === true,
        stdinOnce: req.stdinOnce === true,
        stopSignal: m.stopSignal ? parseSignal(m.stopSignal) : SIGTERM,
        // A negative stop timeout means: wait for ever.
        stopTimeout: req.stopTimeout ?? DEFAULT_STOP_TIMEOUT,
        ...(limits ? { limits } : {}),
        ...(resources.diskThrottle ? { diskThrottle: { ...resources.diskThrottle } } : {}),
        ...(req.groups?.length ? { groupAdd: [...req.groups] } : {}),
        ...(disk.size !== undefined ? { diskSize: disk.size } : {}),
        ...(disk.imageOnDisk ? { imageOnDisk: true } : {}),
        ...(mounts.length ? { mounts } : {}),
        ...(health ? { health } : {}),
        security: securityOf(req),
        ...(seccomp ? { seccomp } : {}),
        ...(req.init ? { dockerInit: true } : {}),
      },
    ],
  };
  return { spec, ...(m.volumes ? { anonymousVolumes: [...m.volumes] } : {}) };
}

/** The pod's log (see the module comment). */
function logOf(req: ContainerRequest, opts: TranslateOptions): PodLogConfig {
  if (req.log?.kind === 'json-file') return { driver: 'json-file', opts: {} };
  if (req.log?.kind === 'cri') return { driver: 'json-file', opts: { [CRI_LOG_PATH_OPT]: req.log.path } };
  const asked =
    req.log?.kind === 'driver' ? { driver: req.log.driver, opts: req.log.options } : { driver: '', opts: {} };
  return resolveLogConfig(asked, opts.logDefaults ?? DEFAULT_LOG_CONFIG);
}

/** The pod's network plan (see the module comment). */
function networkPlanOf(req: ContainerRequest, m: MergedContainer, opts: TranslateOptions): ContainerNetworkPlan {
  const n = req.network ?? { mode: 'default' };
  const etc = checkEtcOptions({
    dns: req.dns?.servers ?? [],
    dnsSearch: req.dns?.search ?? [],
    dnsOptions: req.dns?.options ?? [],
    extraHosts: req.extraHosts ?? [],
  });
  const withEtc = (p: ContainerNetworkPlan): ContainerNetworkPlan => ({
    ...p,
    ...(etc ? { etc } : {}),
    ...(req.resolvComments ? { resolvComments: true as const } : {}),
  });
  const none: ContainerNetworkPlan = { mode: 'none', networks: [], ports: [] };
  if (n.mode === 'join') {
    const conflict = (what: string) =>
      new InvalidArgumentError(`conflicting options: ${what} and joining the VM of ${n.pod}`);
    if (req.hostname) throw conflict('a hostname');
    if (req.extraHosts?.length) throw conflict('extra hosts');
    if (req.ports?.length) throw conflict('ports');
    return withEtc(none);
  }
  const ports = publishedPortsOf(req.ports ?? []);
  if (n.mode === 'none') return withEtc(none);
  const exposed = (m.exposedPorts ?? []).map((k) => (k.includes('/') ? k : `${k}/tcp`));
  const input = {
    network: n.mode === 'named' ? n.name : n.mode,
    ports,
    exposed,
    ...(req.endpoints ? { endpoints: req.endpoints } : {}),
    ...(req.macAddress ? { macAddress: req.macAddress } : {}),
    ...(req.links ? { links: req.links } : {}),
    ...(req.endpointChecks === 'every-problem' ? { everyProblem: true } : {}),
  };
  return withEtc(planOnHost(opts.networks, (lookup) => planNetworks(input, lookup)));
}

/** The container's mounts (see the module comment), and its /dev/shm. */
function mountsOf(req: ContainerRequest): PodMount[] {
  // Parents before children: a mount at /a/b goes on top of one at /a.
  const mounts = sortParentsFirst((req.mounts ?? []).map(podMountOf));
  return withShmSize(mounts, req.resources?.shmBytes ?? GUEST_SHM_BYTES);
}

/** One mount of the request as the pod layer takes it. */
function podMountOf(m: MountRequest): PodMount {
  const target = mountTarget(m.target);
  if (m.kind === 'volume')
    return {
      type: 'volume',
      name: m.name,
      source: '',
      target,
      readOnly: m.readOnly === true,
      anonymous: m.name === '',
      ...(m.noCopy ? { noCopy: true } : {}),
      ...(m.labels ? { labels: { ...m.labels } } : {}),
      ...(m.driver ? { driver: m.driver } : {}),
      ...(m.driverOptions ? { options: { ...m.driverOptions } } : {}),
    };
  if (m.kind === 'emptyDir') return { type: 'emptyDir', name: m.name, target, readOnly: m.readOnly === true };
  if (m.kind === 'tmpfs')
    return {
      type: 'tmpfs',
      target,
      ...(m.options ? { options: m.options } : {}),
      readOnly: m.readOnly === true,
      noexec: m.exec !== true,
      nosuid: m.suid !== true,
      nodev: m.dev !== true,
    };
  return {
    type: 'bind',
    source: path.posix.normalize(m.source),
    target,
    readOnly: m.readOnly === true,
    createSource: m.createSource === true,
  };
}

/** The container's security settings (see the module comment). */
function securityOf(req: ContainerRequest): ContainerSecurity {
  const s = req.security ?? {};
  const n = req.network?.mode;
  const ownNetwork = s.defaultSysctls !== false && n !== 'host' && n !== 'join';
  const sysctls = {
    ...(ownNetwork ? DEFAULT_NETWORK_SYSCTLS : {}),
    ...(req.domainname ? { 'kernel.domainname': req.domainname } : {}),
    ...(s.sysctls ?? {}),
  };
  const more = {
    ...(s.rlimits?.length ? { rlimits: s.rlimits.map((r) => ({ ...r })) } : {}),
    // 0 is the guest's own default: nothing to write.
    ...(s.oomScoreAdj ? { oomScoreAdj: s.oomScoreAdj } : {}),
    ...(s.devices?.length ? { devices: s.devices.map((d) => ({ ...d })) } : {}),
    ...(s.deviceRules?.length ? { deviceCgroupRules: s.deviceRules.map((r) => ({ ...r })) } : {}),
  };
  if (s.privileged)
    return {
      capabilities: [...ALL_CAPABILITIES],
      privileged: true,
      noNewPrivs: s.noNewPrivileges === true,
      readonlyRootfs: s.readonlyRoot === true,
      maskedPaths: [],
      readonlyPaths: [],
      sysctls,
      ...more,
    };
  return {
    capabilities: s.capabilities ? [...new Set(s.capabilities.map(capabilityName))] : [...DEFAULT_CAPABILITIES],
    privileged: false,
    noNewPrivs: s.noNewPrivileges === true,
    readonlyRootfs: s.readonlyRoot === true,
    maskedPaths: [...(s.maskedPaths ?? DEFAULT_MASKED_PATHS)],
    readonlyPaths: [...(s.readonlyPaths ?? DEFAULT_READONLY_PATHS)],
    sysctls,
    ...more,
  };
}

/** The container's seccomp filter (see the module comment); undefined for none. Throws 400 for a bad profile. */
function seccompOf(s: SecurityRequest): PodSeccomp | undefined {
  if (s.privileged || s.noSeccompFilter || s.seccomp?.mode === 'unconfined') return undefined;
  if (s.seccomp?.mode !== 'profile') return { profile: 'default' };
  const spec = parseSeccompProfile(s.seccomp.json);
  return spec ? { profile: 'custom', spec } : undefined;
}
