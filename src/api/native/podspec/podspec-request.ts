/**
 * A read pod file (PodManifest, ./podspec.ts) -> the neutral pod request
 * (src/translate/request/pod-request.ts), which the creation service makes into the pod by one
 * translation (src/engine/native.ts). Only the pod file's words are turned into the request's
 * here; what a container gets of its image, the VM's size and the pod's network are the
 * translation's.
 *
 *   command, args   Kubernetes' rules: `command` replaces the image's Entrypoint and drops its
 *                   Cmd (the request's `entrypoint`, with `args` or none); `args` alone replaces
 *                   the Cmd (the request's `args`)
 *   stop            the termination grace period as every container's stop timeout (30 s by
 *                   default); the file's stop signal, else the image's
 *   resources       limits as the container's (memory, CPUs), requests beside them: the VM is
 *                   sized for the pod's containers together
 *   volumes         an emptyDir as the pod's empty directory (named as the guest takes it), a
 *                   hostPath as a bind mount (made when missing if the file asks so)
 *   probes          in milliseconds, lower-case schemes, as the pod layer runs them
 *   ports           every app container's, the pod's: a port with a hostPort published, every
 *                   port exposed (./podspec-ports.ts)
 *   restarts        the file's policy; every container restarts in place, alone (the
 *                   kubelet's way), even in a pod of one
 */
import type { ContainerProbes, ProbeAction, ProbeSpec, RestartPolicy } from '../../../pod/types';
import type { MountRequest } from '../../../translate/request/container-request';
import type { PodContainerRequest, PodRequest } from '../../../translate/request/pod-request';
import { portRequestsOf } from './podspec-ports';
import type {
  ManifestContainer,
  ManifestProbe,
  ManifestProbes,
  ManifestRestartPolicy,
  PodManifest,
} from './podspec-types';

/** Kubernetes' default terminationGracePeriodSeconds. */
export const DEFAULT_GRACE_SECONDS = 30;

const RESTART: Record<ManifestRestartPolicy, RestartPolicy> = {
  Always: { name: 'always', maximumRetryCount: 0 },
  OnFailure: { name: 'on-failure', maximumRetryCount: 0 },
  Never: { name: 'no', maximumRetryCount: 0 },
};

/** Valid as an emptydir name in the guest (the agent's rule). */
const EMPTYDIR_NAME = /^[A-Za-z0-9_.-]{1,36}$/;

/** A container's volume mounts as the request's mounts (the reader checked that each volume exists). */
function mountsOf(m: PodManifest, c: ManifestContainer): MountRequest[] {
  return c.volumeMounts.flatMap((vm): MountRequest[] => {
    const v = m.volumes.find((x) => x.name === vm.name);
    if (!v) return [];
    if (v.type === 'hostPath')
      return [{ source: v.path, target: vm.mountPath, readOnly: vm.readOnly, createSource: v.create }];
    const name =
      EMPTYDIR_NAME.test(v.name) && v.name !== '.' && v.name !== '..' ? v.name : `volume${m.volumes.indexOf(v)}`;
    return [{ kind: 'emptyDir', name, target: vm.mountPath, readOnly: vm.readOnly }];
  });
}

/** One container of the file as the pod request's (see the module comment). */
function containerRequestOf(m: PodManifest, c: ManifestContainer): PodContainerRequest {
  const resources = {
    ...(c.memoryLimit ? { memoryBytes: c.memoryLimit } : {}),
    ...(c.cpuLimitMillis ? { nanoCpus: c.cpuLimitMillis * 1e6 } : {}),
  };
  const requests = {
    ...(c.memoryRequest ? { memoryBytes: c.memoryRequest } : {}),
    ...(c.cpuRequestMillis ? { nanoCpus: c.cpuRequestMillis * 1e6 } : {}),
  };
  const mounts = mountsOf(m, c);
  const command = c.command ? { entrypoint: c.command, args: c.args ?? [] } : c.args ? { args: c.args } : {};
  return {
    name: c.name,
    image: c.image,
    ...command,
    env: c.env,
    ...(c.workingDir ? { workingDir: c.workingDir } : {}),
    ...(c.user !== undefined ? { user: c.user } : {}),
    tty: c.tty,
    openStdin: c.stdin,
    ...(c.stopSignal ? { stopSignal: c.stopSignal } : {}),
    stopTimeout: m.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS,
    ...(Object.keys(resources).length ? { resources } : {}),
    ...(Object.keys(requests).length ? { requests } : {}),
    ...(mounts.length ? { mounts } : {}),
    ...(c.probes ? { probes: probesOf(c.probes) } : {}),
    security: { privileged: c.privileged },
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

/** A read pod file as the neutral pod request (see the module comment). */
export function podRequestOf(m: PodManifest): PodRequest {
  const hostname = m.hostname ?? m.name;
  return {
    ...(m.name ? { name: m.name } : {}),
    ...(hostname ? { hostname: hostname.slice(0, 63) } : {}),
    labels: { ...m.labels },
    restartPolicy: { ...RESTART[m.restartPolicy] },
    restartInPlace: true,
    ...(m.vm
      ? {
          vm: { ...(m.vm.vcpus ? { cpus: m.vm.vcpus } : {}), ...(m.vm.memoryMiB ? { memoryMiB: m.vm.memoryMiB } : {}) },
        }
      : {}),
    ports: portRequestsOf(m.containers.flatMap((c) => c.ports)),
    initContainers: m.initContainers.map((c) => containerRequestOf(m, c)),
    containers: m.containers.map((c) => containerRequestOf(m, c)),
  };
}
