/**
 * A read pod file (PodManifest, ./podspec.ts) with its images -> the pod layer's PodSpec.
 * Kubernetes' rules for the command (`command` replaces the image's Entrypoint and drops its
 * Cmd; `args` replaces the Cmd), the image's env, working directory, user and stop signal under
 * the file's, the termination grace period as every container's stop timeout (30 s by
 * default), limits as each container's cgroup, probes in milliseconds, and the VM sized for
 * the sum of the app containers' limits, or requests where no limit is given (an init
 * container runs alone, so it counts only when it is larger). Every container restarts in
 * place, alone (the kubelet's way), even in a pod of one.
 * Ports are returned beside the spec: publishing them is the network front end's work.
 */
import { defaultSecurity } from '../request/policy/default-security';
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from '../../errors';
import type { PodMount } from '../../pod/types';
import type { PodContainerSpec, PodSpec, PodVmSize, RestartPolicy } from '../../pod/types';
import type { ImageRecord } from '../../storage/types';
import { mergeEnv } from '../../util/env';
import { CPU_PERIOD_US } from '../request/policy/cgroup-limits';
import { GUEST_OVERHEAD_MIB, MIN_VM_MEMORY_MIB } from '../request/policy/vm-size';
import { parseSignal, SIGTERM } from '../signals';
import type { ContainerProbes, ProbeAction, ProbeSpec } from '../../pod/types';
import type {
  ManifestContainer,
  ManifestPort,
  ManifestProbe,
  ManifestProbes,
  ManifestRestartPolicy,
  PodManifest,
} from './podspec-types';

/** Kubernetes' default terminationGracePeriodSeconds. */
export const DEFAULT_GRACE_SECONDS = 30;

const MIB = 1024 * 1024;

/** What buildPodSpec needs besides the manifest. */
export interface BuildOptions {
  /** The pod's id (64 hex); its first app container gets it too (the pod's main container). */
  id: string;
  /** Find a local image by the reference the file names (pulling is the caller's business). */
  resolveImage(ref: string): Promise<ImageRecord>;
  /** VM size of a pod that sets no limits (the daemon's defaults). */
  defaults: PodVmSize;
  hostCpus: number;
}

/** A port of a container of the built pod. */
export interface BuiltPort extends ManifestPort {
  /** Which container (its name in the file) listens. */
  container: string;
}

/** buildPodSpec's result. */
export interface BuiltPod {
  spec: PodSpec;
  /** The pod's name from the file, if it has one. */
  name?: string;
  ports: BuiltPort[];
}

const RESTART: Record<ManifestRestartPolicy, RestartPolicy> = {
  Always: { name: 'always', maximumRetryCount: 0 },
  OnFailure: { name: 'on-failure', maximumRetryCount: 0 },
  Never: { name: 'no', maximumRetryCount: 0 },
};

/** Valid as an emptydir name in the guest (the agent's rule). */
const EMPTYDIR_NAME = /^[A-Za-z0-9_.-]{1,36}$/;

function mountsOf(m: PodManifest, c: ManifestContainer): PodMount[] {
  return c.volumeMounts.map((vm): PodMount => {
    const v = m.volumes.find((x) => x.name === vm.name);
    if (!v)
      throw new InvalidArgumentError(`container ${c.name} mounts volume ${vm.name}, which the pod does not define`);
    if (v.type === 'hostPath')
      return { type: 'bind', source: v.path, target: vm.mountPath, readOnly: vm.readOnly, createSource: v.create };
    const name =
      EMPTYDIR_NAME.test(v.name) && v.name !== '.' && v.name !== '..' ? v.name : `volume${m.volumes.indexOf(v)}`;
    return { type: 'emptyDir', name, target: vm.mountPath, readOnly: vm.readOnly };
  });
}

function containerSpec(
  m: PodManifest,
  c: ManifestContainer,
  id: string,
  image: ImageRecord,
  init: boolean,
): PodContainerSpec {
  const ic = image.config.config ?? {};
  // Kubernetes: `command` replaces the Entrypoint and the image's Cmd is not used; `args`
  // replaces the Cmd.
  const entrypoint = c.command ?? ic.Entrypoint ?? [];
  const cmd = c.args ?? (c.command ? [] : (ic.Cmd ?? []));
  const args = [...entrypoint, ...cmd];
  if (args.length === 0)
    throw new InvalidArgumentError(`container ${c.name}: no command (neither the file nor image ${c.image} gives one)`);
  const stop = c.stopSignal ?? ic.StopSignal;
  const limits: NonNullable<PodContainerSpec['limits']> = {};
  if (c.memoryLimit) limits.memoryMax = c.memoryLimit;
  if (c.cpuLimitMillis) {
    limits.cpuQuota = Math.max(1000, Math.round((c.cpuLimitMillis * CPU_PERIOD_US) / 1000));
    limits.cpuPeriod = CPU_PERIOD_US;
  }
  const mounts = mountsOf(m, c);
  const probes = c.probes ? probesOf(c.probes) : undefined;
  return {
    id,
    name: c.name,
    ...(init ? { init: true } : {}),
    image: image.id,
    imageRef: c.image,
    args,
    env: mergeEnv(ic.Env ?? [], c.env),
    workingDir: c.workingDir || ic.WorkingDir || '/',
    user: c.user ?? ic.User ?? '',
    tty: c.tty,
    openStdin: c.stdin,
    stdinOnce: false,
    stopSignal: stop ? parseSignal(stop) : SIGTERM,
    stopTimeout: m.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS,
    ...(Object.keys(limits).length ? { limits } : {}),
    ...(mounts.length ? { mounts } : {}),
    ...(probes ? { probes } : {}),
    security: defaultSecurity(c.privileged),
  };
}

/** A file's probe as the pod layer runs it (milliseconds, lower-case schemes). */
function probeOf(p: ManifestProbe): ProbeSpec {
  const a = p.action;
  const action: ProbeAction =
    a.type === 'exec'
      ? { type: 'exec', args: a.command }
      : a.type === 'httpGet'
        ? {
            type: 'http',
            ...(a.host ? { host: a.host } : {}),
            port: a.port,
            path: a.path,
            scheme: a.scheme === 'HTTPS' ? 'https' : 'http',
            headers: a.headers,
          }
        : { type: 'tcp', ...(a.host ? { host: a.host } : {}), port: a.port };
  return {
    action,
    initialDelayMs: p.initialDelaySeconds * 1000,
    periodMs: p.periodSeconds * 1000,
    timeoutMs: p.timeoutSeconds * 1000,
    failureThreshold: p.failureThreshold,
    successThreshold: p.successThreshold,
    ...(p.terminationGracePeriodSeconds !== undefined ? { killGraceSeconds: p.terminationGracePeriodSeconds } : {}),
  };
}

function probesOf(ps: ManifestProbes): ContainerProbes {
  const out: ContainerProbes = {};
  if (ps.startup) out.startup = probeOf(ps.startup);
  if (ps.liveness) out.liveness = probeOf(ps.liveness);
  if (ps.readiness) out.readiness = probeOf(ps.readiness);
  return out;
}

/**
 * The VM for the pod: the file's own size (hyper `resource`) if it gives one; else, when any
 * container has limits or requests, the sum of the app containers' (or the largest init
 * container's, if larger), each container counted by its limit where it has one and else by
 * its request, memory with the guest's overhead and never below MIN_VM_MEMORY_MIB (smaller
 * requests are raised to it); else the daemon's default. A container with neither a memory
 * limit nor a memory request may use the default's worth: the VM keeps at least that.
 */
export function podVmSize(m: PodManifest, defaults: PodVmSize, hostCpus: number): PodVmSize {
  const sum = (cs: ManifestContainer[], f: (c: ManifestContainer) => number) => cs.reduce((n, c) => n + f(c), 0);
  const mem = (c: ManifestContainer) => c.memoryLimit ?? c.memoryRequest ?? 0;
  const cpu = (c: ManifestContainer) => (c.cpuLimitMillis ?? c.cpuRequestMillis ?? 0) / 1000;
  const apps = m.containers;
  const inits = m.initContainers;
  const memBytes = Math.max(sum(apps, mem), ...inits.map(mem), 0);
  const cpus = Math.max(sum(apps, cpu), ...inits.map(cpu), 0);
  const unsized = apps.some((c) => !mem(c));
  let memoryMiB =
    memBytes > 0 ? Math.max(MIN_VM_MEMORY_MIB, Math.ceil(memBytes / MIB) + GUEST_OVERHEAD_MIB) : defaults.memoryMiB;
  if (unsized) memoryMiB = Math.max(memoryMiB, defaults.memoryMiB);
  let vcpus = cpus > 0 ? Math.ceil(cpus - 1e-9) : defaults.cpus;
  if (m.vm?.memoryMiB) memoryMiB = Math.max(MIN_VM_MEMORY_MIB, m.vm.memoryMiB);
  if (m.vm?.vcpus) vcpus = m.vm.vcpus;
  return { memoryMiB, cpus: Math.max(1, Math.min(vcpus, Math.max(1, hostCpus))) };
}

/** A fresh container id (64 hex, as Docker's). */
function newId(): string {
  return randomBytes(32).toString('hex');
}

/** Turn a pod file into a PodSpec (see the module comment). Images must be local. */
export async function buildPodSpec(m: PodManifest, opts: BuildOptions): Promise<BuiltPod> {
  const images = new Map<string, ImageRecord>();
  for (const c of [...m.initContainers, ...m.containers]) {
    if (!images.has(c.image)) images.set(c.image, await opts.resolveImage(c.image));
  }
  const containers: PodContainerSpec[] = [
    ...m.initContainers.map((c) => containerSpec(m, c, newId(), images.get(c.image) as ImageRecord, true)),
    ...m.containers.map((c, i) =>
      containerSpec(m, c, i === 0 ? opts.id : newId(), images.get(c.image) as ImageRecord, false),
    ),
  ];
  const hostname = (m.hostname ?? m.name ?? opts.id.slice(0, 12)).slice(0, 63);
  const spec: PodSpec = {
    id: opts.id,
    hostname,
    domainname: '',
    labels: { ...m.labels },
    vm: podVmSize(m, opts.defaults, opts.hostCpus),
    restartPolicy: RESTART[m.restartPolicy],
    // The kubelet's restarts: each container alone, in place, even in a pod of one.
    restartInPlace: true,
    autoRemove: false,
    containers,
  };
  const ports = m.containers.flatMap((c) => c.ports.map((p) => ({ ...p, container: c.name })));
  return { spec, ...(m.name ? { name: m.name } : {}), ports };
}
