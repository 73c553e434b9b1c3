/**
 * The agent watchdog of a run: the host pings the guest agent every few seconds, each ping
 * with its own deadline. A guest that has not answered for `unresponsiveMs` (its kernel wedged
 * in reclaim, its vCPUs stopped, its agent hung) is said to be unresponsive: a warning in the
 * daemon's log and a `vm_unresponsive` event for each container on the VM; the first answer
 * afterwards logs and sends `vm_responsive`. The watchdog ends nothing by itself: stop, kill
 * and rm -f read `run.unresponsive` and destroy such a VM without waiting on its agent
 * (./stop.ts). A paused pod or one a checkpoint is saving is not pinged (its vCPUs may be
 * stopped on purpose), and the daemon's shutdown ends every watchdog.
 */
import { logger } from '../../util/log';
import { bounded } from '../async';
import type { PodContext, WatchdogTiming } from '../context';
import type { Entry, Run } from '../records/registry';
import { isPaused } from '../types';

const log = logger('pod');

/** How often the agent is pinged, ms. */
export const WATCHDOG_INTERVAL_MS = 5000;
/** How long the agent may go without answering before its VM is said unresponsive, ms. */
export const WATCHDOG_UNRESPONSIVE_MS = 20000;

/** Start pinging `run`'s agent until the run ends. */
export function startWatchdog(ctx: PodContext, e: Entry, run: Run, timing?: WatchdogTiming): void {
  const intervalMs = timing?.intervalMs ?? WATCHDOG_INTERVAL_MS;
  const unresponsiveMs = timing?.unresponsiveMs ?? WATCHDOG_UNRESPONSIVE_MS;
  if (unresponsiveMs <= 0 || run.borrowed) return;
  let ended = false;
  let lastAnswer = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    // The daemon's shutdown leaves runs to the next daemon: their watchdog ends with it.
    if (ended || ctx.closing) return;
    if (isPaused(e.record) || run.ending || run.saving) {
      lastAnswer = Date.now();
    } else {
      try {
        await bounded(run.vm.agent.ping(), intervalMs, 'ping');
        lastAnswer = Date.now();
        if (run.unresponsive && !ended) {
          run.unresponsive = false;
          log.warn(`VM of ${e.record.id.slice(0, 12)} answers again`);
          ctx.emitEach(e.record, 'vm_responsive', (c) => run.inits.has(c.spec.id));
        }
      } catch (err) {
        const silentMs = Date.now() - lastAnswer;
        if (!ended && !ctx.closing && !run.unresponsive && silentMs >= unresponsiveMs) {
          run.unresponsive = true;
          log.warn(
            `VM of ${e.record.id.slice(0, 12)} is unresponsive: its agent has not answered for ${(silentMs / 1000).toFixed(1)} s (${(err as Error).message})`,
          );
          ctx.emitEach(e.record, 'vm_unresponsive', (c) => run.inits.has(c.spec.id));
        }
      }
    }
    if (!ended && !ctx.closing) schedule();
  };
  const schedule = () => {
    timer = setTimeout(() => void tick(), intervalMs);
    timer.unref?.();
  };
  schedule();
  void run.ended.finally(() => {
    ended = true;
    if (timer) clearTimeout(timer);
  });
}
