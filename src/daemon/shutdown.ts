/**
 * The daemon's shutdown (SIGTERM, SIGINT) in three phases, ended within a bound whatever is
 * in flight:
 *
 *  1. cut: synchronous steps, in order, that stop new work and cut what is under way at once
 *     (main.ts: the VM pool stops refilling, every outgoing request is aborted, the pods let
 *     go of their guests, the listeners close (the Docker API's and the CRI's, whose socket
 *     files go with them) and every client connection is destroyed, hijacked streams included);
 *  2. settle: steps that end what is left (teardowns, idle VMs destroyed, boots cut short,
 *     networks), run at once, side by side;
 *  3. last: steps run one after the other once those have ended (archive mounts, the mount
 *     helper, VM cgroups whose removal went on in the background).
 *
 * Phases 2 and 3 together get `boundMs` (SHUTDOWN_BOUND_MS). A step still pending then is
 * logged by name and left; the caller exits anyway, with status 1 (`late`). The bound is a
 * backstop: every step is bounded by its own timeouts (a boot by its boot deadline, an agent
 * call by its own), so reaching it means a bug, and the log names where.
 */
import { logger } from '../util/log';

const log = logger('daemon');

/**
 * How long phases 2 and 3 may take. Above the longest single step that can be under way (a
 * VM boot under TCG, 30 s, is cut short; a pool VM's warming, 30 s; a re-adoption, 15 s per
 * VM), well under the 90 s systemd gives a service before SIGKILL.
 */
export const SHUTDOWN_BOUND_MS = 45_000;

/** One named step of a shutdown. */
export interface ShutdownStep {
  /** Named in the log when it is still pending at the bound, or fails. */
  name: string;
  run(): void | Promise<unknown>;
}

/** The steps of each phase (see the module comment). */
export interface ShutdownPlan {
  cut: ShutdownStep[];
  settle: ShutdownStep[];
  last: ShutdownStep[];
}

/** How a shutdown ended. */
export interface ShutdownResult {
  /** Milliseconds phases 2 and 3 took. */
  ms: number;
  /** Steps still pending when the bound was reached (empty: a clean shutdown). */
  late: string[];
}

/** Run `step`, logging (not throwing) its failure. */
async function runStep(step: ShutdownStep): Promise<void> {
  try {
    await step.run();
  } catch (err) {
    log.error(`shutdown: ${step.name}: ${(err as Error).message}`);
  }
}

/** Run a shutdown plan (see the module comment); never rejects. */
export async function runShutdown(plan: ShutdownPlan, boundMs: number = SHUTDOWN_BOUND_MS): Promise<ShutdownResult> {
  for (const step of plan.cut) {
    try {
      void Promise.resolve(step.run()).catch((err: Error) => log.error(`shutdown: ${step.name}: ${err.message}`));
    } catch (err) {
      log.error(`shutdown: ${step.name}: ${(err as Error).message}`);
    }
  }
  const t0 = Date.now();
  const pending = new Set<string>();
  const track = (step: ShutdownStep) => {
    pending.add(step.name);
    return runStep(step).finally(() => pending.delete(step.name));
  };
  const work = (async () => {
    await Promise.all(plan.settle.map(track));
    for (const step of plan.last) await track(step);
  })();
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), boundMs);
  });
  const how = await Promise.race([work.then(() => 'done' as const), bound]);
  clearTimeout(timer);
  const late = how === 'late' ? [...pending] : [];
  if (late.length) log.error(`shutdown: still pending after ${boundMs} ms, exiting anyway: ${late.join(', ')}`);
  return { ms: Date.now() - t0, late };
}
