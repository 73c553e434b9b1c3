/**
 * Container probes, the kubelet's way (its prober workers): what a probe is, and the state
 * machine that turns each probe's results into the container's `started` and `ready` and
 * into a kill. No timers and no I/O here (./probes.ts runs the probes on this).
 *
 * Each probe counts its results in a row (failureThreshold, successThreshold); only a run
 * that long changes what it says:
 *
 *   startup    runs until it succeeds once: `started`; failureThreshold failures in a row:
 *              kill the container (its restart is the pod's policy's); until it succeeds
 *              liveness and readiness do not run, and the container is not ready.
 *   liveness   runs once started; failureThreshold failures in a row: kill the container.
 *   readiness  runs once started; not ready until successThreshold successes in a row;
 *              failureThreshold failures in a row: not ready again (never a kill).
 *
 * A container without a startup probe is started at once; one without a readiness probe is
 * ready once started. After a kill the probes of that container stop (on hold) until it runs
 * again, when a fresh state starts.
 */
import type { ContainerProbes, ProbeKind, ProbeSpec, ProbeStatus } from './probe-types';

export type { ContainerProbes, ProbeAction, ProbeKind, ProbeSpec, ProbeStatus } from './probe-types';

/** What one result changed. */
export interface ProbeDecision {
  /** `started` or `ready` changed. */
  changed: boolean;
  /** The container is to be killed: this probe failed failureThreshold times in a row. */
  kill?: ProbeKind;
}

/** One probe's run of equal results (the kubelet's resultRun). */
class ResultRun {
  last: boolean | undefined;
  length = 0;

  /** Count `ok`; the result it settles on, or undefined while the run is shorter than its threshold. */
  add(ok: boolean, spec: ProbeSpec): boolean | undefined {
    if (this.last === ok) this.length++;
    else {
      this.last = ok;
      this.length = 1;
    }
    const needed = ok ? Math.max(1, spec.successThreshold) : Math.max(1, spec.failureThreshold);
    return this.length >= needed ? ok : undefined;
  }
}

/** The probes of one run of one container (see the module comment). */
export class ContainerProbeState {
  readonly status: ProbeStatus;
  private readonly runs: Record<ProbeKind, ResultRun> = {
    startup: new ResultRun(),
    liveness: new ResultRun(),
    readiness: new ResultRun(),
  };
  /** Set by a kill: nothing is probed any more in this run. */
  onHold = false;

  constructor(readonly probes: ContainerProbes) {
    const started = !probes.startup;
    this.status = { started, ready: started && !probes.readiness };
  }

  /** Whether probe `kind` runs now (startup until started; the others once started). */
  active(kind: ProbeKind): boolean {
    if (this.onHold || !this.probes[kind]) return false;
    return kind === 'startup' ? !this.status.started : this.status.started;
  }

  /** Record one result of probe `kind` (ignored when it is not active). */
  record(kind: ProbeKind, ok: boolean): ProbeDecision {
    const spec = this.probes[kind];
    if (!spec || !this.active(kind)) return { changed: false };
    const settled = this.runs[kind].add(ok, spec);
    if (settled === undefined) return { changed: false };
    const before = { ...this.status };
    if (kind === 'readiness') this.status.ready = settled;
    else if (!settled) {
      this.onHold = true;
      return { changed: false, kill: kind };
    } else if (kind === 'startup') {
      this.status.started = true;
      this.status.ready = !this.probes.readiness;
    }
    return { changed: before.started !== this.status.started || before.ready !== this.status.ready };
  }
}
