/**
 * A container request (./container-request.ts) merged with its image, as dockerd merges a
 * create with its image, for every front: env by key (the request wins; in dockerd's order or
 * containerd's, as the request asks), labels by key, user, working directory and stop signal
 * when the request sets none, the exposed ports and volume paths of both, the health check
 * field by field (./policy/health.ts mergeHealthConfig), the shell when the request names
 * none; the image's command only when the request gives neither entrypoint nor arguments, its
 * entrypoint when the request gives none. The pod's translation (./request-pod.ts) takes the
 * container from it, and a Docker create's record (Config, as inspect shows it) too
 * (src/api/v1.41/docker/docker-request.ts).
 */
import { InvalidArgumentError } from '../../errors';
import type { ImageRecord } from '../../storage/types';
import { mergeEnv, mergeEnvOverFirst } from '../../util/env';
import { mergeHealthConfig, type HealthConfig } from './policy/health';
import type { ContainerRequest, HealthRequest } from './container-request';

/** The container as a request and its image say it together (see the module comment). */
export interface MergedContainer {
  /** The request's, else the first 12 characters of the container's id. */
  hostname: string;
  user: string;
  /** null: neither the image nor the request has any. */
  env: string[] | null;
  labels: Record<string, string>;
  /** '' for none (the container's is then `/`). */
  workingDir: string;
  stopSignal?: string;
  /** Ports exposed (`80/tcp`, or `80`), the image's then the request's; absent: neither has any. */
  exposedPorts?: string[];
  /** The health check in an image config's form (./policy/health.ts), the request's over the image's. */
  health?: HealthConfig;
  /** The shell of a shell-form health check. */
  shell?: string[];
  /** Volume paths, the image's then the request's; absent: neither has any. */
  volumes?: string[];
  entrypoint: string[] | null;
  cmd: string[] | null;
}

/** `req` merged with `image` for container `id` (see the module comment). */
export function mergeWithImage(req: ContainerRequest, image: ImageRecord, id: string): MergedContainer {
  const ic = image.config.config ?? {};
  const entrypointSet = req.entrypoint !== undefined;
  const given = [
    ...(req.ports ?? []).filter((p) => p.exposed !== false).map((p) => `${p.containerPort}/${p.protocol}`),
    ...(req.exposedPorts ?? []),
  ];
  // Keyed as dockerd's map is in the record, so the order is the record's (a bare `81` first).
  const exposed =
    ic.ExposedPorts || req.exposedPorts || given.length
      ? Object.keys({ ...(ic.ExposedPorts ?? {}), ...Object.fromEntries(given.map((k) => [k, {}])) })
      : undefined;
  const volumes = ic.Volumes || req.volumes ? [...Object.keys(ic.Volumes ?? {}), ...(req.volumes ?? [])] : undefined;
  const stopSignal = req.stopSignal || ic.StopSignal;
  const health = mergeHealthConfig(healthConfigOf(req.health), ic.Healthcheck);
  const shell = req.shell ?? ic.Shell;
  return {
    hostname: req.hostname || id.slice(0, 12),
    user: req.user || ic.User || '',
    env:
      ic.Env?.length || req.env
        ? (req.envOrder === 'request-first' ? mergeEnvOverFirst : mergeEnv)(ic.Env ?? [], req.env ?? [])
        : null,
    labels: { ...(ic.Labels ?? {}), ...(req.labels ?? {}) },
    workingDir: req.workingDir || ic.WorkingDir || '',
    ...(stopSignal ? { stopSignal } : {}),
    ...(exposed ? { exposedPorts: exposed } : {}),
    ...(health ? { health } : {}),
    ...(shell ? { shell } : {}),
    ...(volumes ? { volumes: [...new Set(volumes)] } : {}),
    entrypoint: entrypointSet ? (req.entrypoint ?? null) : (ic.Entrypoint ?? null),
    cmd: entrypointSet || req.args?.length ? (req.args ?? null) : (ic.Cmd ?? null),
  };
}

/**
 * The command line of a merged container: its entrypoint (a lone '' is none) then its
 * arguments; dockerd's 400 when there is none.
 */
export function commandLineOf(m: Pick<MergedContainer, 'entrypoint' | 'cmd'>): string[] {
  const entrypoint = (m.entrypoint ?? []).filter((a, i, all) => !(all.length === 1 && i === 0 && a === ''));
  const args = [...entrypoint, ...(m.cmd ?? [])];
  if (args.length === 0) throw new InvalidArgumentError('No command specified');
  return args;
}

/** A request's health check in an image config's form, to merge with an image's (only the fields set). */
function healthConfigOf(h: HealthRequest | undefined): HealthConfig | undefined {
  if (!h) return undefined;
  const p = h.probe;
  const test = !p ? undefined : p.kind === 'none' ? ['NONE'] : [p.kind === 'exec' ? 'CMD' : 'CMD-SHELL', ...p.args];
  return {
    ...(test ? { Test: test } : {}),
    ...(h.intervalNs ? { Interval: h.intervalNs } : {}),
    ...(h.timeoutNs ? { Timeout: h.timeoutNs } : {}),
    ...(h.startPeriodNs ? { StartPeriod: h.startPeriodNs } : {}),
    ...(h.startIntervalNs ? { StartInterval: h.startIntervalNs } : {}),
    ...(h.retries ? { Retries: h.retries } : {}),
  };
}
