/**
 * A pod file as read (a Kubernetes v1 Pod or a HyperContainer podfile): what the user asked
 * for, with images still named as the user wrote them. ./podspec.ts reads the files into
 * this; ./podspec-request.ts turns it into the neutral pod request.
 */
import { InvalidArgumentError } from '../../../errors';

/** A port a container listens on (and, with hostPort, publishes on the host). */
export interface ManifestPort {
  containerPort: number;
  hostPort?: number;
  /** The host address the port is published on (Kubernetes hostIP; absent: every address). */
  hostIP?: string;
  protocol: 'tcp' | 'udp';
  /** Its name in the file (Kubernetes `ports[].name`), by which a probe may name it. */
  name?: string;
}

/** What a probe does (exactly one handler, Kubernetes' ProbeHandler). */
export type ManifestProbeAction =
  /** Run `command` in the container: exit code 0 is a success. */
  | { type: 'exec'; command: string[] }
  /** GET `path` from `host` (absent: the pod's address) and `port`: a status 200-399 is a success. */
  | {
      type: 'httpGet';
      host?: string;
      port: number;
      path: string;
      scheme: 'HTTP' | 'HTTPS';
      headers: Array<{ name: string; value: string }>;
    }
  /** Open a TCP connection to `host` (absent: the pod's address) and `port`: connecting is a success. */
  | { type: 'tcpSocket'; host?: string; port: number };

/** A Kubernetes probe, read and defaulted (every duration in seconds, as in the file). */
export interface ManifestProbe {
  action: ManifestProbeAction;
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  /** Failures in a row that count (default 3). */
  failureThreshold: number;
  /** Successes in a row that count (default 1; always 1 for liveness and startup). */
  successThreshold: number;
  /** The kill's grace when this probe fails (liveness, startup); absent: the pod's. */
  terminationGracePeriodSeconds?: number;
}

/** A container's probes (Kubernetes `livenessProbe`, `readinessProbe`, `startupProbe`). */
export interface ManifestProbes {
  liveness?: ManifestProbe;
  readiness?: ManifestProbe;
  startup?: ManifestProbe;
}

/** A volume of the pod mounted into a container. */
export interface ManifestVolumeMount {
  /** The pod volume's name. */
  name: string;
  /** Absolute path inside the container. */
  mountPath: string;
  readOnly: boolean;
}

/** One container of a pod file. */
export interface ManifestContainer {
  name: string;
  /** The image as written (`busybox`, `registry:5000/app:1`). */
  image: string;
  /** Replaces the image's Entrypoint (Kubernetes `command`, hyper `entrypoint`). */
  command?: string[];
  /** Replaces the image's Cmd (Kubernetes `args`, hyper `command`). */
  args?: string[];
  /** KEY=VALUE, in file order. */
  env: string[];
  workingDir?: string;
  /** Docker's user form: `name`, `uid`, `name:group` (absent: the image's). */
  user?: string;
  tty: boolean;
  stdin: boolean;
  ports: ManifestPort[];
  volumeMounts: ManifestVolumeMount[];
  /** Memory limit in bytes. */
  memoryLimit?: number;
  /** CPU limit in millicores (1000 = one CPU). */
  cpuLimitMillis?: number;
  /** Memory request in bytes (sizes the VM where no limit is given). */
  memoryRequest?: number;
  /** CPU request in millicores (sizes the VM where no limit is given). */
  cpuRequestMillis?: number;
  /** Its probes (absent: none). */
  probes?: ManifestProbes;
  privileged: boolean;
  labels: Record<string, string>;
  /** Signal name or number sent first by a stop (absent: SIGTERM). */
  stopSignal?: string;
}

/** A volume of the pod. */
export type ManifestVolume =
  /** A directory made empty for the pod, shared by its containers, gone with the pod. */
  | { name: string; type: 'emptyDir'; sizeLimit?: number }
  /** A directory of the host. */
  | { name: string; type: 'hostPath'; path: string; create: boolean };

/** Kubernetes' restart policy names (hyper's are mapped onto them). */
export type ManifestRestartPolicy = 'Always' | 'OnFailure' | 'Never';

/** A whole pod file, read (see the module comment). */
export interface PodManifest {
  /** Which kind of file it was read from. */
  format: 'kubernetes' | 'hyper';
  name?: string;
  hostname?: string;
  labels: Record<string, string>;
  restartPolicy: ManifestRestartPolicy;
  terminationGracePeriodSeconds?: number;
  /** Run to completion, in this order, before `containers` start. */
  initContainers: ManifestContainer[];
  containers: ManifestContainer[];
  volumes: ManifestVolume[];
  /** VM size asked by the file (hyper's `resource`); absent: the sum of the containers' limits. */
  vm?: { vcpus?: number; memoryMiB?: number };
}

/**
 * A pod file that cannot be run as written: `problems` names every field that is unknown,
 * unsupported or wrong (a path such as `spec.containers[0].livenessProbe`), each with why.
 */
export class PodFileError extends InvalidArgumentError {
  constructor(readonly problems: string[]) {
    super(`pod file: ${problems.join('; ')}`);
  }
}
