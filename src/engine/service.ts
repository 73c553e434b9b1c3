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
 *   Kubernetes CRI  RunPodSandbox  -> createCriSandbox(request)
 *                   CreateContainer -> createCriContainer(request)
 *
 * The CRI's sandbox is a pod with an infra container on the node's CNI network; each CRI
 * container is a pod of its own that joins the sandbox's VM (./cri.ts).
 */
import type { CriSeccompRequest } from './cri-seccomp';
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
  /**
   * A RUN step: its writable layer may be a disk of its own, as any container's in block mode
   * (the daemon's --rootfs-disk), and is then committed through a guest. COPY/ADD and config
   * steps keep theirs on the host, where the builder writes into it.
   */
  run?: boolean;
}

/** A RunPodSandbox as the CRI front decoded it. */
export interface CriSandboxRequest {
  /** The pod's unique name (the front makes it from the metadata). */
  name: string;
  /** The sandbox (infra) image, local already. */
  image: string;
  hostname: string;
  /** The Kubernetes pod, for CNI. */
  pod: { namespace: string; name: string; uid: string };
  portMappings: Array<{ hostPort: number; containerPort: number; protocol: 'tcp' | 'udp' | 'sctp'; hostIP?: string }>;
  dns?: { servers: string[]; searches: string[]; options: string[] };
  /** The config's labels. */
  labels: Record<string, string>;
  /** The front's own data, as labels (see ./cri.ts). */
  criLabels: Record<string, string>;
  /** linux.sysctls: set in the sandbox's VM before its infra container runs. */
  sysctls?: Record<string, string>;
  /** The sandbox's seccomp settings (./cri-seccomp.ts); absent: unconfined. */
  seccomp?: CriSeccompRequest;
}

/** A CRI container's linux.security_context, as decoded (./cri-security.ts). */
export interface CriContainerSecurity {
  privileged: boolean;
  /** Capability names as the CRI gives them (`NET_ADMIN`, `ALL`). */
  addCapabilities: string[];
  dropCapabilities: string[];
  readonlyRootfs: boolean;
  noNewPrivs: boolean;
  /** Empty: the defaults. */
  maskedPaths: string[];
  readonlyPaths: string[];
}

/** A CreateContainer as the CRI front decoded it. */
export interface CriContainerRequest {
  /** The sandbox pod's id. */
  sandboxId: string;
  /** The container pod's unique name (the front makes it from the metadata). */
  name: string;
  image: string;
  command: string[];
  args: string[];
  workingDir: string;
  /** KEY=VALUE. */
  env: string[];
  mounts: Array<{ containerPath: string; hostPath: string; readonly: boolean }>;
  labels: Record<string, string>;
  criLabels: Record<string, string>;
  /** The CRI log file (log_directory + log_path); '' for none. */
  logPath: string;
  tty: boolean;
  stdin: boolean;
  stdinOnce: boolean;
  /** Namespace mode POD for PID: the container joins the sandbox's PID namespace (its infra is PID 1). */
  podPid: boolean;
  /** Extra supplementary group ids of the container's processes (SupplementalGroups). */
  supplementalGroups: number[];
  runAsUser?: number;
  runAsGroup?: number;
  runAsUsername: string;
  /** Its security context (absent: the defaults). */
  security?: CriContainerSecurity;
  memoryBytes?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  /** The container's seccomp settings (./cri-seccomp.ts); absent: unconfined. */
  seccomp?: CriSeccompRequest;
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
  /** A CRI sandbox's pod (created, not started). Fails like createFromDocker. */
  createCriSandbox(request: CriSandboxRequest): Promise<PodRecord>;
  /** A CRI container's pod, joining the sandbox's VM when started. Fails like createFromDocker. */
  createCriContainer(request: CriContainerRequest): Promise<PodRecord>;
}
