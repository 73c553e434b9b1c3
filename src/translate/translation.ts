/**
 * What the translation into a pod (./request/request-pod.ts, every front's; a Docker create
 * reaches it through ./docker/create.ts) gives and takes: its options, its result (the
 * PodSpec, and the paths that get an anonymous volume), and the default stop timeout.
 */
import type { NetworkLookup } from '../net/container-config';
import type { PodLogConfig, PodSpec, PodVmSize } from '../pod/types';

/** Default seconds between the stop signal and SIGKILL. */
export const DEFAULT_STOP_TIMEOUT = 10;

/** Inputs of a translation besides the request and its image. */
export interface TranslateOptions {
  /** VM size when the container sets no limits (the daemon's --vm-memory/--vm-cpus). */
  defaults: PodVmSize;
  hostCpus: number;
  /** The daemon's default log driver and options (default json-file without options). */
  logDefaults?: PodLogConfig;
  /**
   * The host's networks, to plan the container's (absent: the host has none, and a container
   * gets loopback only; asking for ports or a user network is then refused).
   */
  networks?: NetworkLookup;
}

/**
 * Result of a translation: the pod. A Docker create keeps its Docker record beside it
 * (./docker/create.ts DockerTranslated); a pod made from a neutral request has none: the Docker
 * front renders its view from the PodSpec (./docker/pod-view.ts).
 */
export interface Translated {
  spec: PodSpec;
  /**
   * The paths that get an anonymous volume unless something else is mounted there: the
   * image's volumes and the request's (a Docker create's Config.Volumes); absent: neither has any.
   */
  anonymousVolumes?: string[];
}
