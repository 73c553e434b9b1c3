/**
 * The creation service: the one place where a request of any front end becomes a pod. Each
 * front end decodes its wire format into the neutral request, calls the service's one door,
 * and encodes the record it gets back; none of them builds another front's body.
 *
 *   Docker API      POST /containers/create      -> create(its container's settings, { name, front })
 *   Kubernetes CRI  RunPodSandbox, CreateContainer -> create(ContainerRequest, { name })
 *   native API      POST /v1/pods (and replace)   -> createNative({ kind: 'podfile' | 'spec', ... })
 *   builder         RUN, COPY, ADD, config steps  -> createBuildStep(step)
 *
 * The hub is the neutral ContainerRequest (../translate/request/container-request.ts, re-exported
 * here): the CRI front makes it of its messages (src/api/cri/create-request.ts), the Docker
 * front of its parsed body (src/api/v1.41/create/docker-front.ts, with its part of the create:
 * ./front.ts CreateFront, which the door calls for dockerd's faults and Docker's record), the
 * native front a pod request of a pod file's containers (../translate/request/pod-request.ts),
 * the native entry one of the single-container spec (./native.ts), the
 * builder entry of a step (./build-step.ts). The door (./door.ts) checks it once, merges it
 * with its image once and translates it once (translate's request-check.ts, image-merge.ts,
 * request-pod.ts). A pod made without the Docker front keeps no Docker record: `docker ps` and
 * `inspect` render its view from the PodSpec (src/api/v1.41/docker/pod-view.ts).
 *
 * Every entry point first makes a plan (./plan.ts: the pod layer's PodSpec, the front end's
 * data kept beside it, the name, whether Docker volumes are resolved), with all the checks
 * that need no storage: the name's form and whether it is taken, the image, links, the
 * container a pod joins, the translation. Then one sequence carries out every plan
 * (./engine.ts): volumes made (and removed again if the create fails), bind sources checked,
 * the pod layer's create, new volumes filled from the image. A refused request changes
 * nothing.
 *
 * The same shape as podman's: its compat (Docker) and libpod handlers both turn their
 * request into one SpecGenerator and call the one ContainerEngine.ContainerCreate.
 *
 * The CRI's sandbox is a pod with an infra container on the node's CNI network; each CRI
 * container is a pod of its own that joins the sandbox's VM (src/api/cri/create-request.ts).
 */
import type { PodRecord } from '../pod/types';
import type { ContainerRequest } from '../translate/request/container-request';
import type { CreateOptions } from './front';
import type { PodRequest } from '../translate/request/pod-request';

export type { CreateFront, CreateOptions, FrontCompletion, FrontVolumeOptions } from './front';
export { namedVolumesAsSaved } from './saved-state-plan';

export type {
  BindMountRequest,
  ContainerRequest,
  EndpointRequest,
  HealthRequest,
  LogRequest,
  MountRequest,
  NetworkRequest,
  PortRequest,
  ResourcesRequest,
  SeccompRequest,
  SecurityRequest,
  TmpfsMountRequest,
  VolumeMountRequest,
} from '../translate/request/container-request';

/** The native API's own single-container spec (docs/native-api.md), as its front end checked it. */
export interface NativeSpec {
  name?: string;
  image: string;
  command?: string[];
  env?: string[];
  workdir?: string;
  tty?: boolean;
  labels?: Record<string, string>;
  /** The network to join (a name or id; default: the default bridge; "none": loopback only). */
  network?: string;
  /** Ports to publish, as `docker run -p` takes them. */
  ports?: string[];
  /** The host cgroup its VM goes under, as `docker run --cgroup-parent` takes it; '' or absent: none. */
  cgroupParent?: string;
}

/**
 * A native API create: a pod file, as the neutral pod request the native front made of it
 * (src/api/native/podspec/podspec-request.ts), or the single-container spec.
 */
export type NativeCreateRequest = { kind: 'podfile'; pod: PodRequest } | { kind: 'spec'; spec: NativeSpec };

/**
 * What POST /build sets for the containers of RUN steps (networkmode, extrahosts,
 * cpusetcpus, memory, shmsize), in the neutral request's words.
 */
export type StepSettings = Pick<ContainerRequest, 'network' | 'extraHosts' | 'resources'>;

/** A builder step's container: `cmd` run (or kept) in a new container of `image`. */
export interface BuildStepRequest {
  /** The image the step starts from (an ID). */
  image: string;
  /** The command, with no entrypoint (the builder has made it whole). */
  cmd: string[];
  env: string[];
  user?: string;
  workingDir?: string;
  /** The build's settings for RUN containers (none for COPY/ADD and config steps). */
  settings?: StepSettings;
  /**
   * A RUN step: its writable layer may be a disk of its own, as any container's in block mode
   * (the daemon's --rootfs-disk), and is then committed through a guest. COPY/ADD and config
   * steps keep theirs on the host, where the builder writes into it.
   */
  run?: boolean;
}

/** The creation service (see the module comment); implemented by ./engine.ts's PodEngine. */
export interface CreationService {
  /**
   * A native API pod: a read pod file or the single-container spec. The pod is also a
   * Docker container (its main container), on the default bridge or the spec's network.
   * Fails like create, and with InvalidArgumentError for a hostPath that does not
   * exist (unless the file asks for it to be made).
   */
  createNative(request: NativeCreateRequest): Promise<PodRecord>;
  /**
   * A builder step's container, created and never started by the service. Its log is
   * json-file whatever the daemon's default: the builder reads RUN output from it.
   */
  createBuildStep(step: BuildStepRequest): Promise<PodRecord>;
  /**
   * The one door (./door.ts): a neutral request's pod (../translate/request/container-request.ts),
   * named `options.name`, with the front's part `options.front` (./front.ts). Checked with
   * dockerd's checks of the same settings, in dockerd's order: InvalidArgumentError for a bad
   * name or request (or, from the Docker front's part, a container to join or a link that is
   * not there); NoSuchImageError; NotFoundError for a PID namespace to join that is not there;
   * NameInUseError for a taken name (before any storage is touched); the pod layer's errors.
   */
  create(request: ContainerRequest, options?: CreateOptions): Promise<PodRecord>;
}
