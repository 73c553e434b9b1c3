/**
 * The neutral request of a pod of several containers: the pod's shared settings (its name,
 * hostname, labels, restart policy, VM size, ports) and its containers, each a neutral
 * ContainerRequest (./container-request.ts) with what only a pod's container has (its name,
 * whether it is an init container, its probes, what it asks at least). The native front
 * makes it of a pod file (src/api/native/podspec/podspec-request.ts); the creation service
 * checks it and makes it into the pod by one translation (./request-pods.ts checkPodRequest and
 * translatePodRequest, each container through ./request-pod.ts).
 *
 * The containers share the pod's VM: its network (the default bridge, with the pod's ports
 * published as `docker run -p` publishes them), its hostname and its log settings. The first
 * app container is the pod's main container: its id is the pod's, and the Docker API shows
 * the pod as that container.
 */
import type { ContainerProbes, RestartPolicy } from '../../pod/types';
import type { ContainerRequest, PortRequest } from './container-request';

/**
 * What a container asks at least, besides its limits (ContainerRequest.resources): the pod's
 * VM is sized for it where the container sets no limit (./policy/vm-size.ts podVmSizeOf).
 */
export interface ResourceRequests {
  memoryBytes?: number;
  /** CPUs in billionths (1e9 = one CPU). */
  nanoCpus?: number;
}

/**
 * One container of a pod request. Its `network`, `hostname`, `ports`, `log` and
 * `restartPolicy` are the pod's (PodRequest), whatever it says.
 */
export interface PodContainerRequest extends ContainerRequest {
  /** Its name in the pod (unique there). */
  name: string;
  /** Its probes (run by the pod layer, which restarts it alone when one fails); absent: none. */
  probes?: ContainerProbes;
  /** What it asks at least where it sets no limit (absent: nothing). */
  requests?: ResourceRequests;
}

/** A pod of several containers to create, in the words of no front (see the module comment). */
export interface PodRequest {
  /** The pod's name (also its main container's); absent: none. */
  name?: string;
  /** The VM's hostname (at most 63 characters); absent: the first 12 characters of the pod's id. */
  hostname?: string;
  /** The pod's labels. */
  labels: Record<string, string>;
  /** When a container is started again after its process exits. */
  restartPolicy: RestartPolicy;
  /** Each container restarts alone, in place (the kubelet's way), even in a pod of one. */
  restartInPlace?: boolean;
  /** The VM size the pod asks for itself; absent (or a field of it): the containers' sum (./policy/vm-size.ts). */
  vm?: { cpus?: number; memoryMiB?: number };
  /** Ports of the pod's containers, exposed and published on the pod's VM. */
  ports: PortRequest[];
  /** Run to completion, in this order, before `containers` start. */
  initContainers: PodContainerRequest[];
  /** The app containers; the first is the pod's main container. */
  containers: PodContainerRequest[];
}
