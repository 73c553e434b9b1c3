/**
 * The probe workers of a pod's containers (the kubelet's prober): while a container runs, each
 * of its probes (./probe-state.ts) runs on its own, first `initialDelayMs` after the
 * container's start and then every `periodMs`, and its results drive the container's state:
 *
 *   - exec probes run as an exec in that container (./exec-probe.ts); http and tcp probes run
 *     from the host, as the kubelet's run from the node, to the probe's host or else the
 *     pod's address on its network (./net-probe.ts);
 *   - liveness and readiness wait for the startup probe's success; `started` and `ready` are
 *     kept with the container's record (ContainerRecord.probeStatus) and persisted when
 *     they change;
 *   - a liveness or startup probe that fails failureThreshold times in a row kills that
 *     container alone: its stop signal, then SIGKILL after the probe's grace (else the
 *     container's stop timeout). Its restart is ../lifecycle/container-restart.ts's, in place, under the
 *     pod's policy, whatever its exit code (Always and OnFailure restart it, Never does not:
 *     the kubelet's rule for a container its probe killed); the other containers and the VM
 *     stay.
 *
 * Workers run only in pods whose containers restart in place (restartsInPlace); they start
 * with each run of a container (a start, a restart in place, a re-adopted run) with a fresh
 * state, and stop when it exits or the run ends. While the pod is paused nothing is probed.
 */
import { logger } from '../../util/log';
import { parseRfc3339 } from '../../util/time';
import type { AgentProcess } from '../../vm/types';
import { AGENT_CALL_MS, SIGKILL, bounded, sleepUnless } from '../async';
import type { PodContext } from '../context';
import { runExecProbe } from './exec-probe';
import { httpProbe, tcpProbe, type NetProbeResult } from './net-probe';
import { ContainerProbeState, type ProbeKind, type ProbeSpec } from './probe-state';
import type { Entry, Run } from '../records/registry';
import { restartsInPlace, type ContainerRecord } from '../types';

const log = logger('probe');

/** The order the workers of a container start in. */
const KINDS: ProbeKind[] = ['startup', 'liveness', 'readiness'];

/** Workers running now, by pod entry and container id: aborting one stops that container's. */
const workers = new WeakMap<Entry, Map<string, AbortController>>();

/** What one worker works on. */
interface Worker {
  ctx: PodContext;
  e: Entry;
  run: Run;
  c: ContainerRecord;
  /** The container's init whose run is probed. */
  p: AgentProcess;
  state: ContainerProbeState;
  stop: AbortSignal;
  /** Resolves once the container is started (its startup probe succeeded, or it has none). */
  started: Promise<void>;
  markStarted(): void;
}

/**
 * Start the probes of container `id` of a running pod, whose init `run.inits` holds now (a
 * start, a restart in place or a re-adopted run): a fresh state, and one worker per probe.
 * Nothing when it has no probes or the pod does not restart its containers in place.
 */
export function startProbes(ctx: PodContext, e: Entry, run: Run, id: string): void {
  const c = e.record.containers[id];
  const probes = c?.spec.probes;
  const p = run.inits.get(id);
  if (!c || !p || !probes || !KINDS.some((k) => probes[k]) || !restartsInPlace(e.record)) return;
  stopProbes(e, id);
  const state = new ContainerProbeState(probes);
  c.probeStatus = state.status;
  const stop = new AbortController();
  let byPod = workers.get(e);
  if (!byPod) workers.set(e, (byPod = new Map()));
  byPod.set(id, stop);
  let markStarted!: () => void;
  const started = new Promise<void>((r) => (markStarted = r));
  if (state.status.started) markStarted();
  const w: Worker = { ctx, e, run, c, p, state, stop: stop.signal, started, markStarted };
  for (const kind of KINDS) {
    const spec = probes[kind];
    if (spec)
      void loop(w, kind, spec).catch((err) =>
        log.error(
          `${kind} probe of ${e.record.id.slice(0, 12)}/${c.spec.name ?? id.slice(0, 12)}: ${(err as Error).message}`,
        ),
      );
  }
}

/** Stop the probes of container `id` (its init exited); its last status is kept. */
export function stopProbes(e: Entry, id: string): void {
  const byPod = workers.get(e);
  const stop = byPod?.get(id);
  if (!stop) return;
  byPod?.delete(id);
  stop.abort();
}

/** Stop every probe of a pod (its run ends). */
export function stopAllProbes(e: Entry): void {
  for (const id of [...(workers.get(e)?.keys() ?? [])]) stopProbes(e, id);
}

/** Whether the worker's container run is still the one probed. */
function live(w: Worker): boolean {
  const { ctx, e, run, c, p } = w;
  return (
    !w.stop.aborted &&
    !ctx.closing &&
    e.run === run &&
    !e.removed &&
    run.inits.get(c.spec.id) === p &&
    c.process !== undefined
  );
}

/** Resolves when `signal` aborts. */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((r) => (signal.aborted ? r() : signal.addEventListener('abort', () => r(), { once: true })));
}

/** One probe's worker: wait for the start and the initial delay, then probe every period. */
async function loop(w: Worker, kind: ProbeKind, spec: ProbeSpec): Promise<void> {
  const { ctx, e, c, state } = w;
  if (kind !== 'startup') await Promise.race([w.started, aborted(w.stop)]);
  const startedMs = parseRfc3339(c.state.startedAt) || Date.now();
  await sleepUnless(Math.max(0, spec.initialDelayMs - (Date.now() - startedMs)), w.stop);
  for (;;) {
    if (!live(w) || !state.active(kind)) return;
    const t0 = Date.now();
    if (c.state.status !== 'paused') {
      const result = await probeOnce(w, spec);
      if (!live(w)) return;
      const d = state.record(kind, result.ok);
      if (!result.ok)
        log.debug(
          `pod ${e.record.id.slice(0, 12)}: container ${c.spec.name ?? c.spec.id.slice(0, 12)}: ${kind} probe failed: ${result.message}`,
        );
      if (d.changed) {
        if (state.status.started) w.markStarted();
        await ctx.persist(e).catch((err) => log.error(`persisting ${e.record.id}: ${(err as Error).message}`));
      }
      if (d.kill) {
        log.info(
          `pod ${e.record.id.slice(0, 12)}: container ${c.spec.name ?? c.spec.id.slice(0, 12)} failed its ${kind} probe ${spec.failureThreshold} time(s) in a row (${result.message}): killing it`,
        );
        await killForProbe(w, spec);
        return;
      }
    }
    await sleepUnless(Math.max(0, spec.periodMs - (Date.now() - t0)), w.stop);
  }
}

/** The pod's address on its (first) network, where network probes go by default. */
async function podAddress(w: Worker): Promise<string | undefined> {
  const nets = await w.ctx.deps.networks;
  return nets?.endpointsOf(w.e.record.id)[0]?.ip;
}

/** Run a probe once. Never rejects. */
async function probeOnce(w: Worker, spec: ProbeSpec): Promise<NetProbeResult> {
  const a = spec.action;
  if (a.type === 'exec') {
    const r = await runExecProbe(w.ctx, w.e, w.run, a.args, spec.timeoutMs, w.c.spec.id);
    const message =
      r.timedOutMs !== undefined
        ? `command timed out after ${r.timedOutMs / 1000}s`
        : `exit code ${r.exitCode}${r.output.trim() ? `: ${r.output.trim()}` : ''}`;
    return { ok: r.exitCode === 0, message };
  }
  const host = a.host ?? (await podAddress(w));
  if (!host) return { ok: false, message: 'the pod has no address on a network (give the probe a host)' };
  if (a.type === 'http')
    return httpProbe({
      host,
      port: a.port,
      path: a.path,
      scheme: a.scheme,
      headers: a.headers,
      timeoutMs: spec.timeoutMs,
    });
  return tcpProbe(host, a.port, spec.timeoutMs);
}

/**
 * Kill the probed container (its stop signal, SIGKILL after the grace), marked as killed by
 * its probe so that its restart follows the kubelet's rule (see the module comment).
 */
async function killForProbe(w: Worker, spec: ProbeSpec): Promise<void> {
  const { ctx, e, run, c, p } = w;
  const r = e.record;
  if (!live(w) || r.manuallyStopped) return;
  run.inPlace?.probeKilled.add(c.spec.id);
  const send = async (signal: number) => {
    ctx.emitFor(r, c, 'kill', { signal: String(signal) });
    await bounded(
      run.vm.agent.signalProcess(p.processId, signal),
      ctx.deps.agentTimeoutMs ?? AGENT_CALL_MS,
      'probe kill',
    ).catch((err) => log.debug(`signal ${signal} to ${c.spec.id.slice(0, 12)}: ${(err as Error).message}`));
  };
  await send(c.spec.stopSignal);
  const graceMs = (spec.killGraceSeconds ?? c.spec.stopTimeout) * 1000;
  let timer: NodeJS.Timeout | undefined;
  const exited = await Promise.race([
    p.exited.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((res) => (timer = setTimeout(() => res(false), Math.max(0, graceMs)).unref())),
  ]).finally(() => clearTimeout(timer));
  if (!exited && e.run === run && run.inits.get(c.spec.id) === p && c.process !== undefined) await send(SIGKILL);
}
