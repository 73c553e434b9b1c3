/** The event-loop lag monitor reports a stall over its budget. */
import { watchEventLoopLag } from '../../../src/util/loop-lag';

function spin(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // busy: the loop is blocked
  }
}

test('a 200 ms stall is reported with its length', async () => {
  const seen: number[] = [];
  const stop = watchEventLoopLag({ budgetMs: 50, intervalMs: 300, onExceeded: (ms) => seen.push(ms) });
  try {
    await new Promise((r) => setTimeout(r, 50));
    spin(200);
    await new Promise((r) => setTimeout(r, 400));
    expect(seen.length).toBeGreaterThanOrEqual(1);
    expect(Math.max(...seen)).toBeGreaterThan(150);
  } finally {
    stop();
  }
});
