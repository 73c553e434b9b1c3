/**
 * Health checks of a pod's main container: while a run lasts, a probe command is run in the
 * container every `intervalMs` (as an exec, so it has the container's user, working directory
 * and environment, and publishes the exec events), each result is recorded, and the health
 * status follows:
 *
 *   starting --success--> healthy
 *   any      --`retries` failures in a row--> unhealthy   (failures of a probe that started
 *                                                           within `startPeriodMs` of the
 *                                                           container's start do not count
 *                                                           while it is still starting)
 *   healthy/unhealthy --success / failures--> as above
 *
 * A probe that runs longer than `timeoutMs` is killed and counts as a failure; one that
 * cannot start counts as a failure too (exit code -1). The last HEALTH_LOG_SIZE results are
 * kept with their output cut at PROBE_OUTPUT_LIMIT bytes. A status change publishes
 * `health_status: <status>` and is persisted. The monitor starts with each run (status reset
 * to starting, the log kept) and stops with it (status unhealthy: nothing vouches for the
 * container any more); while the pod is paused no probe runs.
 */
import type { PodContext } from './context';
import { AttachSession } from './io';
import { execCreate, execStart } from './exec-run';
import type { Entry, Run } from './registry';
import { nowRfc3339, parseRfc3339 } from '../util/time';
import { logger } from '../util/log';
import { mainContainer, type ContainerRecord } from './types';

const log = logger('health');

/** How many probe results are kept. */
export const HEALTH_LOG_SIZE = 5;
/** Bytes of a probe's output (stdout and stderr together) that are kept. */
export const PROBE_OUTPUT_LIMIT = 4096;
/** How long a killed probe may take to go away before the monitor goes on. */
const KILL_WAIT_MS = 5000;

/** What to probe and how often (every duration already defaulted by the front end). */
export interface HealthSpec {
  /** argv of the probe (a shell form is already wrapped in the shell by the front end). */
  args: string[];
  intervalMs: number;
  timeoutMs: number;
  /** Failures of probes started this soon after the start do not count while starting. */
  startPeriodMs: number;
  /** Failures in a row that make the container unhealthy (at least 1). */
  retries: number;
}

/** The three health words. */
export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

/** One probe's result. */
export interface ProbeResult {
  /** RFC 3339 with nanoseconds. */
  start: string;
  end: string;
  /** The probe's exit code; -1 when it timed out or could not start. */
  exitCode: number;
  /** Its output (cut at PROBE_OUTPUT_LIMIT bytes, then `...`), or why it could not start. */
  output: string;
  /** Set when it was killed for running longer than this many ms (its output is then empty). */
  timedOutMs?: number;
}

/** The health of a container, as recorded with it. */
export interface HealthState {
  status: HealthStatus;
  failingStreak: number;
  /** Oldest first, at most HEALTH_LOG_SIZE. */
  log: ProbeResult[];
}

/**
 * Record one probe result in `h` (see the module comment for the rules). `startedMs` is when
 * the container started. Returns whether the status changed.
 */
export function recordProbe(h: HealthState, result: ProbeResult, spec: Pick<HealthSpec, 'retries' | 'startPeriodMs'>, startedMs: number): boolean {
  const before = h.status;
  h.log = [...h.log, result].slice(-HEALTH_LOG_SIZE);
  if (result.exitCode === 0) {
    h.failingStreak = 0;
    h.status = 'healthy';
  } else {
    const inStartPeriod = h.status === 'starting' && parseRfc3339(result.start) - startedMs < spec.startPeriodMs;
    if (!inStartPeriod) {
      h.failingStreak++;
      if (h.failingStreak >= Math.max(1, spec.retries)) h.status = 'unhealthy';
    }
  }
  return h.status !== before;
}

/** Keeps the first PROBE_OUTPUT_LIMIT bytes of what is written, and whether more came. */
class LimitedOutput {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private truncated = false;

  write(data: Buffer): void {
    const keep = Math.min(PROBE_OUTPUT_LIMIT - this.size, data.length);
    if (keep > 0) {
      this.chunks.push(data.subarray(0, keep));
      this.size += keep;
    }
    if (keep < data.length) this.truncated = true;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8') + (this.truncated ? '...' : '');
  }
}

/** Monitors running now, by pod entry: aborting one stops it. */
const monitors = new WeakMap<Entry, AbortController>();

/**
 * Start the health monitor of a (new or re-adopted) run, when the pod's main container has a
 * health check: its status is reset to starting (the log of earlier runs is kept).
 */
export function startHealth(ctx: PodContext, e: Entry, run: Run): void {
  const c = mainContainer(e.record);
  const spec = c.spec.health;
  if (!spec) return;
  monitors.get(e)?.abort();
  c.health = { status: 'starting', failingStreak: 0, log: c.health?.log ?? [] };
  const stop = new AbortController();
  monitors.set(e, stop);
  void monitorLoop(ctx, e, run, c, spec, stop.signal).catch((err) => log.error(`health monitor of ${e.record.id}: ${(err as Error).message}`));
}

/**
 * Stop the health monitor of a pod whose run ends; its status becomes unhealthy (no probe
 * vouches for it any more), its failing streak and log are kept. Nothing when none runs.
 */
export function stopHealth(e: Entry): void {
  const stop = monitors.get(e);
  if (!stop) return;
  monitors.delete(e);
  stop.abort();
  const c = mainContainer(e.record);
  if (c.health) c.health.status = 'unhealthy';
}

/** Resolves after `ms`, or at once when `signal` aborts (the timer does not keep the daemon up). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    t.unref();
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Probe every interval while the run lasts. */
async function monitorLoop(ctx: PodContext, e: Entry, run: Run, c: ContainerRecord, spec: HealthSpec, stop: AbortSignal): Promise<void> {
  const startedMs = parseRfc3339(c.state.startedAt) || Date.now();
  const live = () => !stop.aborted && !ctx.closing && e.run === run && !e.removed;
  for (;;) {
    await sleep(spec.intervalMs, stop);
    if (!live()) return;
    if (c.state.status === 'paused') continue;
    const result = await probe(ctx, e, run, spec);
    // A result that comes in after the run ended is dropped (as dockerd drops it).
    if (!live() || !c.health) return;
    if (recordProbe(c.health, result, spec, startedMs)) {
      ctx.emit(e.record, `health_status: ${c.health.status}`);
      await ctx.persist(e).catch((err) => log.error(`persisting ${e.record.id}: ${(err as Error).message}`));
    }
  }
}

/** A session that keeps what the probe writes (stdout and stderr in one buffer). */
function collectingSession(out: LimitedOutput): AttachSession {
  return new AttachSession({
    stdin: null,
    stdout: true,
    stderr: true,
    detachKeys: Buffer.alloc(0),
    sink: { write: (_s, data) => (out.write(data), true), drain: async () => undefined, end: () => undefined },
  });
}

/** Run the probe once as an exec in the main container, within its timeout. */
async function probe(ctx: PodContext, e: Entry, run: Run, spec: HealthSpec): Promise<ProbeResult> {
  const start = nowRfc3339();
  const out = new LimitedOutput();
  let execId: string | undefined;
  try {
    const x = execCreate(ctx, e, {
      args: spec.args, env: [], workingDir: '', user: '', tty: false,
      attachStdin: false, attachStdout: true, attachStderr: true, detachKeys: '', privileged: false,
    });
    execId = x.id;
    await execStart(ctx, x.id, collectingSession(out));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      (x.finished ?? Promise.resolve()).then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), spec.timeoutMs).unref())),
    ]).finally(() => clearTimeout(timer));
    if (timedOut) {
      if (x.processId && !ctx.closing) await run.vm.agent.signalProcess(x.processId, 9).catch(() => undefined);
      let wait: NodeJS.Timeout | undefined;
      await Promise.race([x.finished, new Promise((r) => (wait = setTimeout(r, KILL_WAIT_MS).unref()))]).finally(() => clearTimeout(wait));
      return { start, end: nowRfc3339(), exitCode: -1, output: '', timedOutMs: spec.timeoutMs };
    }
    return { start, end: nowRfc3339(), exitCode: x.exitCode ?? -1, output: out.text() };
  } catch (err) {
    return { start, end: nowRfc3339(), exitCode: -1, output: (err as Error).message };
  } finally {
    // Probes are not kept for inspection: one a second would crowd the container's exec list.
    if (execId) ctx.execs.delete(execId);
  }
}
