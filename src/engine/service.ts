/**
 * The creation service: the one place where a request of any front end becomes a pod. Each
 * front end decodes its wire format into one of the requests below, calls the service, and
 * encodes the record it gets back; none of them assembles a create itself.
 *
 *   Docker API  POST /containers/create   -> createFromDocker(body, name)
 *   native API  POST /v1/pods (and replace) -> createNative({ kind: 'podfile' | 'spec', ... })
 *   builder     RUN, COPY, ADD, config steps -> createBuildStep(step)
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
 * Next: the Kubernetes CRI front. Its two creating calls are meant to be two more entry
 * points here, each a planner beside the others and the same carrying-out sequence:
 *
 *   runPodSandbox(config: CriSandboxRequest): Promise<PodRecord>
 *     plan: a PodSpec with the sandbox's hostname, labels, DNS, ports and VM size and no app
 *     container yet (the pod layer's sandbox), name from the config's metadata;
 *   createInSandbox(sandboxRef: string, container: CriContainerRequest): Promise<ContainerRecord>
 *     plan: one PodContainerSpec (image resolved, mounts, env, command) checked like the
 *     others (bind sources as dockerd checks them), then a pod-layer call that adds a
 *     container to an existing pod, inside that pod's operation queue.
 *
 * The pod layer has no "add a container to a pod" yet; that call is the CRI front's part.
 */
import type { PodRecord } from '../pod/types';
import type { CreateBody } from '../translate/docker-schema';
import type { PodManifest } from '../translate/podspec';

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
}

/** A native API create: a read pod file, or the single-container spec. */
export type NativeCreateRequest = { kind: 'podfile'; manifest: PodManifest } | { kind: 'spec'; spec: NativeSpec };

/**
 * What POST /build sets for the containers of RUN steps (networkmode, extrahosts,
 * cpusetcpus, memory, shmsize), in HostConfig's words.
 */
export interface StepHostConfig {
  NetworkMode?: string;
  ExtraHosts?: string[];
  CpusetCpus?: string;
  Memory?: number;
  ShmSize?: number;
}

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
  hostConfig?: StepHostConfig;
}

/** The creation service (see the module comment); implemented by ./engine.ts's PodEngine. */
export interface CreationService {
  /**
   * A Docker `POST /containers/create`: `body` as decoded from the wire, `name` the query's.
   * Fails with dockerd's checks: InvalidArgumentError for a bad body, name or link;
   * NoSuchImageError; NotFoundError for a --pid/--ipc container that is not there;
   * NameInUseError for a taken name (before any storage is touched); the pod layer's errors.
   */
  createFromDocker(body: CreateBody, name?: string): Promise<PodRecord>;
  /**
   * A native API pod: a read pod file or the single-container spec. The pod is also a
   * Docker container (its main container), on the default bridge or the spec's network.
   * Fails like createFromDocker, and with InvalidArgumentError for a hostPath that does not
   * exist (unless the file asks for it to be made).
   */
  createNative(request: NativeCreateRequest): Promise<PodRecord>;
  /**
   * A builder step's container, created and never started by the service. Its log is
   * json-file whatever the daemon's default: the builder reads RUN output from it.
   */
  createBuildStep(step: BuildStepRequest): Promise<PodRecord>;
}
