/**
 * The CNI set-up's step timings (src/net/cni/laps.ts): laps count from the last lap, a leg is
 * logged on its own once it settles (also when it fails, without an unhandled rejection), and
 * the summary keeps the order in which they ended, the form bench:cri's cniStepTable reads.
 */
import { lapper } from '../../../src/net/cni/laps';
import { cniStepTable } from '../../../bench/start-phases';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A promise and what resolves it. */
function gate<T = void>(): { promise: Promise<T>; open(v: T): void } {
  let open!: (v: T) => void;
  const promise = new Promise<T>((r) => (open = r));
  return { promise, open };
}

test('laps and legs end up in the summary in the order they ended, each with its own time', async () => {
  // The clock is the test's: each step's time is what it says, whatever the machine's load.
  let now = 1_000;
  const clock = jest.spyOn(Date, 'now').mockImplementation(() => now);
  const laps = lapper();
  now += 2;
  laps.lap('namespace');
  const plugins = gate<string>();
  const tapMove = gate<void>();
  const slow = laps.leg('plugins', plugins.promise);
  const fast = laps.leg('tap move', tapMove.promise);
  now += 5;
  tapMove.open();
  await fast;
  now += 35;
  plugins.open('added');
  expect(await slow).toBe('added');
  now += 3;
  laps.lap('plugins beside the tap move');
  clock.mockRestore();
  expect(laps.summary()).toBe(
    'namespace 2 ms, tap move alone 5 ms, plugins alone 40 ms, plugins beside the tap move 43 ms',
  );

  // bench:cri's table reads the same line.
  const line = `2026-11-26T23:00:00.000Z DEBUG [cni] sandbox 0123456789ab: network set up (${laps.summary()})`;
  expect(
    cniStepTable(line, ['0123456789abcdef'])
      .slice(2)
      .map((r) => r.split(' | ')[0].slice(2)),
  ).toEqual(['namespace', 'tap move alone', 'plugins alone', 'plugins beside the tap move']);
});

test('a failed leg is logged and its failure is the caller’s, not an unhandled rejection', async () => {
  const unhandled = jest.fn();
  process.on('unhandledRejection', unhandled);
  try {
    const laps = lapper();
    await expect(laps.leg('guest NIC', Promise.reject(new Error('no such device')))).rejects.toThrow('no such device');
    await tick(10);
    expect(laps.summary()).toMatch(/^guest NIC alone \d+ ms$/);
    expect(unhandled).not.toHaveBeenCalled();
  } finally {
    process.off('unhandledRejection', unhandled);
  }
});
