/**
 * Watch the event loop's lag with perf_hooks.monitorEventLoopDelay and log (warn) when a
 * stall longer than the budget was seen: nothing one request does should hold the loop for
 * more than 50 ms (docs/design/api.md, "Request decoding"). One line per check interval at
 * most, naming the worst delay, so a stall is visible in the daemon log without flooding it.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { logger } from './log';

const log = logger('loop');

/** Options of the monitor. */
export interface LoopLagOptions {
  /** Stall budget in ms (default 50). */
  budgetMs?: number;
  /** How often the histogram is read and reset, in ms (default 1000). */
  intervalMs?: number;
  /** Called with the worst delay (ms) of an interval over budget (default: a warning in the log). */
  onExceeded?: (maxMs: number) => void;
}

/** Start watching; returns a function that stops it. The timer does not keep the process alive. */
export function watchEventLoopLag(opts: LoopLagOptions = {}): () => void {
  const budget = opts.budgetMs ?? 50;
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const report =
    opts.onExceeded ?? ((ms: number) => log.warn(`event loop blocked for ${ms.toFixed(0)} ms (budget ${budget} ms)`));
  const timer = setInterval(() => {
    // The histogram's values are in ns and include the sampling resolution.
    const maxMs = h.max / 1e6 - 10;
    h.reset();
    if (maxMs > budget) report(maxMs);
  }, opts.intervalMs ?? 1000);
  timer.unref();
  return () => {
    clearInterval(timer);
    h.disable();
  };
}
