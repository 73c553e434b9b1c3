/**
 * The daemon's shutdown phases (src/daemon/shutdown.ts): the cut steps run first and at once,
 * settle steps side by side, last steps in order after them, and the whole ends within its
 * bound whatever a step does.
 */
import { runShutdown, SHUTDOWN_BOUND_MS } from '../../../src/daemon/shutdown';

const tick = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('runShutdown', () => {
  it('runs cut steps before anything else, settle steps side by side, last steps in order after them', async () => {
    const order: string[] = [];
    const step = (name: string, ms = 0) => ({
      name,
      run: async () => {
        order.push(`${name}+`);
        await tick(ms);
        order.push(`${name}-`);
      },
    });
    const r = await runShutdown(
      {
        cut: [
          { name: 'pool', run: () => void order.push('pool') },
          { name: 'requests', run: () => void order.push('requests') },
        ],
        settle: [step('a', 60), step('b', 20)],
        last: [step('x', 10), step('y')],
      },
      5000,
    );
    expect(order).toEqual(['pool', 'requests', 'a+', 'b+', 'b-', 'a-', 'x+', 'x-', 'y+', 'y-']);
    expect(r.late).toEqual([]);
  });

  it('a step that never ends is named and left at the bound; one that throws does not stop the others', async () => {
    const ran: string[] = [];
    const t0 = Date.now();
    const r = await runShutdown(
      {
        cut: [
          {
            name: 'throws at once',
            run: () => {
              throw new Error('boom');
            },
          },
          { name: 'next', run: () => void ran.push('next') },
        ],
        settle: [
          { name: 'hung connection', run: () => new Promise(() => undefined) },
          {
            name: 'fails',
            run: async () => {
              throw new Error('no');
            },
          },
          { name: 'fine', run: () => tick(10).then(() => void ran.push('fine')) },
        ],
        last: [{ name: 'after', run: () => void ran.push('after') }],
      },
      300,
    );
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(r.late).toEqual(['hung connection']);
    expect(ran).toEqual(['next', 'fine']);
  });

  it("bounds a shutdown well below systemd's 90 s stop timeout", () => {
    expect(SHUTDOWN_BOUND_MS).toBeGreaterThanOrEqual(30_000);
    expect(SHUTDOWN_BOUND_MS).toBeLessThan(90_000);
  });
});
