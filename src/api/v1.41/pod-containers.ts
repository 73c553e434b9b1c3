/**
 * The Docker front end's view of pods of several containers: each container of such a pod
 * (a native pod made from a pod file) is a Docker container of its own in `docker ps`, and
 * `docker inspect`, `logs`, `exec`, `stop` reach it by its id or its name.
 *
 *   the pod's main container   keeps the pod's id and name (what the pod layer calls the pod);
 *   every other container      is listed under its own id (64 hex), named `POD.CONTAINER`
 *                              (`kpod.reader`), with its own image, command, state and
 *                              restart count;
 *   each of them               is labelled io.podvisor.container=CONTAINER beside the pod's
 *                              labels (io.podvisor.pod names the pod).
 *
 * What is the pod's and not one container's acts on the whole pod, whichever of its
 * containers names it: start, stop, restart, kill, pause, remove, network connect (a pod's
 * containers share one VM and stop together, as a Kubernetes pod does). wait answers the
 * exits of the container named (each one, as dockerd's for a container that restarts). Events name each container as listed here (the pod layer's
 * containerName, containerRef).
 * logs, exec and top go to the named container; attach, resize, rename and update of a
 * container other than the main one are refused (logs -f and exec reach it).
 *
 * The Docker front end's pods have one container each: for them this view changes nothing.
 */
import { ConflictError, NotFoundError } from '../../errors';
import { hasSeveralContainers, resolveContainerRef, type ResolvedContainer } from '../../engine/container-names';
import type { PodCounts, PodService } from '../../pod/service';
import { CheckpointError } from '../../pod/errors';
import {
  CONTAINER_LABEL,
  containerName,
  containersOf,
  mainContainer,
  type ContainerRecord,
  type PodRecord,
} from '../../pod/types';
import { dockerFrontend, type DockerFrontend } from './docker/docker-types';
import { dockerViewOf } from './docker/pod-view';

export { CONTAINER_LABEL };

/** The Docker name of a container of a pod that is not its main one. */
function otherName(pod: PodRecord, c: ContainerRecord): string {
  return containerName(pod, c);
}

/** The pod's record as Docker sees its container `c` (see the module comment). */
function viewOf(pod: PodRecord, c: ContainerRecord): PodRecord {
  const fe = dockerViewOf(pod);
  const main = c === mainContainer(pod);
  const labels = { ...(fe.config.Labels ?? {}), ...(c.spec.name ? { [CONTAINER_LABEL]: c.spec.name } : {}) };
  if (main) return { ...pod, frontend: { ...fe, config: { ...fe.config, Labels: labels } } satisfies DockerFrontend };
  const s = c.spec;
  const config = {
    ...fe.config,
    Image: s.imageRef,
    Entrypoint: s.args.slice(0, 1),
    Cmd: s.args.slice(1),
    Env: s.env,
    WorkingDir: s.workingDir,
    User: s.user,
    Tty: s.tty,
    OpenStdin: s.openStdin,
    Labels: labels,
  };
  const frontend: DockerFrontend = { ...fe, config, imageRef: s.imageRef };
  return { ...pod, id: s.id, name: otherName(pod, c), containers: { [s.id]: c }, frontend };
}

/** Whether a pod is seen as several Docker containers. */
const several = hasSeveralContainers;

/**
 * What `ref` names: a pod, or a container of a pod of several (the creation service's lookup,
 * src/engine/container-names.ts, so a create's references and Docker's calls agree).
 */
function resolveRef(pods: PodService, ref: string): ResolvedContainer {
  return resolveContainerRef(pods, ref);
}

/** The id of the pod `ref` names a container of, for what acts on the whole pod. */
function podIdOf(pods: PodService, ref: string): string {
  return resolveRef(pods, ref).pod.id;
}

/** The id of the pod whose main container `ref` names; dockerd's 409 for another container (`what` is refused). */
function mainOnlyIdOf(pods: PodService, ref: string, what: string): string {
  const r = resolveRef(pods, ref);
  if (r.other)
    throw new ConflictError(
      `${what} reaches the main container of pod ${r.pod.name} only; use logs -f or exec for ${otherName(r.pod, r.other)}`,
    );
  return r.pod.id;
}

/** Every pod, each pod of several containers as one record per container. */
function listedViews(pods: PodService): PodRecord[] {
  return pods.list().flatMap((p) => (several(p) ? containersOf(p).map((c) => viewOf(p, c)) : [p]));
}

/** The view's lookups: a reference to any container is understood, and lists show each container. */
function lookupsOf(pods: PodService): Pick<PodService, 'get' | 'list' | 'isRunning' | 'counts' | 'whenAdopted'> {
  const list = (): PodRecord[] => listedViews(pods);
  return {
    get: (ref) => {
      const r = resolveRef(pods, ref);
      return r.other ? viewOf(r.pod, r.other) : several(r.pod) ? viewOf(r.pod, mainContainer(r.pod)) : r.pod;
    },
    list,
    isRunning: (ref) => pods.isRunning(podIdOf(pods, ref)),
    counts: (): PodCounts => {
      const all = list().map((r) => mainContainer(r).state.status);
      const running = all.filter((s) => s === 'running' || s === 'restarting').length;
      const paused = all.filter((s) => s === 'paused').length;
      return { total: all.length, running, paused, stopped: all.length - running - paused };
    },
    whenAdopted: (ref) => {
      try {
        return pods.whenAdopted(podIdOf(pods, ref));
      } catch {
        return undefined;
      }
    },
  };
}

/** The view's life cycle calls: each acts on the whole pod, but rename and update reach its main container only. */
function lifecycleOf(
  pods: PodService,
): Pick<
  PodService,
  'create' | 'start' | 'stop' | 'restart' | 'kill' | 'pause' | 'unpause' | 'remove' | 'rename' | 'update'
> {
  const podId = (ref: string): string => podIdOf(pods, ref);
  return {
    create: (spec, name, frontend) => pods.create(spec, name, frontend),
    start: (ref, opts) => pods.start(podId(ref), opts),
    stop: (ref, t, sig) => pods.stop(podId(ref), t, sig),
    restart: (ref, t, sig) => pods.restart(podId(ref), t, sig),
    kill: (ref, sig) => pods.kill(podId(ref), sig),
    pause: (ref) => pods.pause(podId(ref)),
    unpause: (ref) => pods.unpause(podId(ref)),
    remove: (ref, opts) => pods.remove(podId(ref), opts),
    rename: (ref, name) => pods.rename(mainOnlyIdOf(pods, ref, 'rename'), name),
    update: (ref, change) => {
      // The view's Docker data is made up for the listing: only the new HostConfig is kept.
      const id = mainOnlyIdOf(pods, ref, 'update');
      const pod = pods.get(id);
      const frontend =
        change.frontend === undefined || !several(pod)
          ? change.frontend
          : { ...dockerViewOf(pod), hostConfig: dockerFrontend(change.frontend).hostConfig };
      return pods.update(id, { ...change, ...(frontend === undefined ? {} : { frontend }) });
    },
  };
}

/** The view's process calls: wait, logs, exec and top reach the container named; attach and resize the main one only. */
function processCallsOf(
  pods: PodService,
): Pick<
  PodService,
  | 'wait'
  | 'attach'
  | 'checkAttach'
  | 'logs'
  | 'resize'
  | 'execCreate'
  | 'execGet'
  | 'execIds'
  | 'execStart'
  | 'execKill'
  | 'execResize'
  | 'processes'
> {
  return {
    wait: (ref, cond) => {
      const r = resolveRef(pods, ref);
      return r.other ? pods.wait(r.pod.id, cond, r.other.spec.id) : pods.wait(r.pod.id, cond);
    },
    attach: (ref, opts) => pods.attach(mainOnlyIdOf(pods, ref, 'attach'), opts),
    checkAttach: (ref) => void mainOnlyIdOf(pods, ref, 'attach'),
    logs: (ref, opts) => {
      const r = resolveRef(pods, ref);
      return pods.logs(
        r.pod.id,
        r.other && opts.container === undefined ? { ...opts, container: r.other.spec.id } : opts,
      );
    },
    resize: (ref, rows, cols) => pods.resize(mainOnlyIdOf(pods, ref, 'resize'), rows, cols),
    execCreate: (ref, config) => {
      const r = resolveRef(pods, ref);
      return pods.execCreate(
        r.pod.id,
        r.other && config.container === undefined ? { ...config, container: r.other.spec.id } : config,
      );
    },
    execGet: (id) => pods.execGet(id),
    execIds: (ref) => pods.execIds(podIdOf(pods, ref)),
    execStart: (id, session) => pods.execStart(id, session),
    execKill: (id) => pods.execKill(id),
    execResize: (id, rows, cols) => pods.execResize(id, rows, cols),
    processes: (ref, psArgs) => {
      const r = resolveRef(pods, ref);
      return r.other ? pods.processes(r.pod.id, psArgs, r.other.spec.id) : pods.processes(r.pod.id, psArgs);
    },
  };
}

/** The view's usage figures: a pod's samples and writable layer, whichever container names it. */
function usageOf(pods: PodService): Pick<PodService, 'sample' | 'sizeRw'> {
  return {
    sample: (ref) => pods.sample(podIdOf(pods, ref)),
    sizeRw: async (ref) => {
      let id: string;
      try {
        id = podIdOf(pods, ref);
      } catch (err) {
        // A container of a pod removed a moment ago through another of its containers (prune
        // walks a list taken before): it has nothing left.
        if (err instanceof NotFoundError) return 0;
        throw err;
      }
      return pods.sizeRw(id);
    },
  };
}

/**
 * The view's checkpoint calls: of the whole pod, whichever container names it; a refusal names
 * the container as the caller did (dockerd's words quote the name given).
 */
function addCheckpoints(pods: PodService, view: PodService): void {
  const asCalled = (ref: string) => (err: unknown) => {
    if (err instanceof CheckpointError) throw new CheckpointError(err.refusal, ref, err.checkpoint, err.detail);
    throw err;
  };
  const { checkpoints, checkpoint, removeCheckpoint } = pods;
  if (checkpoints) view.checkpoints = (ref) => checkpoints.call(pods, podIdOf(pods, ref));
  if (checkpoint)
    view.checkpoint = (ref, name, opts) => checkpoint.call(pods, podIdOf(pods, ref), name, opts).catch(asCalled(ref));
  if (removeCheckpoint)
    view.removeCheckpoint = (ref, name) => removeCheckpoint.call(pods, podIdOf(pods, ref), name).catch(asCalled(ref));
}

/**
 * Wrap the pod layer's service for the Docker front end: references to any container of a
 * pod are understood, and lists show each container (see the module comment).
 */
export function dockerContainerView(pods: PodService): PodService {
  const view: PodService = { ...lookupsOf(pods), ...lifecycleOf(pods), ...processCallsOf(pods), ...usageOf(pods) };
  addCheckpoints(pods, view);
  if (pods.settled) view.settled = () => (pods.settled as NonNullable<PodService['settled']>).call(pods);
  if (pods.connectNetwork)
    view.connectNetwork = (ref, att) =>
      (pods.connectNetwork as NonNullable<PodService['connectNetwork']>).call(pods, podIdOf(pods, ref), att);
  if (pods.disconnectNetwork)
    view.disconnectNetwork = (ref, net) =>
      (pods.disconnectNetwork as NonNullable<PodService['disconnectNetwork']>).call(pods, podIdOf(pods, ref), net);
  return view;
}
