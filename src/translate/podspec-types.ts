/**
 * A pod file as read (a Kubernetes v1 Pod or a HyperContainer podfile): what the user asked
 * for, with images still named as the user wrote them. ./podspec.ts reads the files into
 * this; ./podspec-build.ts turns it into the pod layer's PodSpec once the images are known.
 */
import { InvalidArgumentError } from '../errors';

/** A port a container listens on (and, with hostPort, publishes on the host). */
export interface ManifestPort {
  containerPort: number;
  hostPort?: number;
  /** The host address the port is published on (Kubernetes hostIP; absent: every address). */
  hostIP?: string;
  protocol: 'tcp' | 'udp';
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
