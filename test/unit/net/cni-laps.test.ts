/**
 * The CNI set-up's step timings (src/net/cni/laps.ts): laps count from the last lap, a leg is
 * logged on its own once it settles (also when it fails, without an unhandled rejection), and
 * the summary keeps the order in which they ended, the form bench:cri's cniStepTable reads.
 */
import { lapper } from '../../../src/net/cni/laps';
import { cniStepTable } from '../../../bench/start-phases';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('laps and legs end up in the summary in the order they ended, each with its own time', async () => {
  const laps = lapper();
  laps.lap('namespace');
  const slow = laps.leg(
    'plugins',
    tick(40).then(() => 'added'),
  );
  const fast = laps.leg('tap move', tick(5));
  expect(await slow).toBe('added');
  await fast;
  laps.lap('plugins beside the tap move');
  const parts = laps.summary().split(', ');
  expect(parts.map((p) => p.replace(/ \d+ ms$/, ''))).toEqual([
    'namespace',
    'tap move alone',
    'plugins alone',
    'plugins beside the tap move',
  ]);
  const ms = Object.fromEntries(parts.map((p) => [p.replace(/ \d+ ms$/, ''), Number(/(\d+) ms$/.exec(p)![1])]));
  expect(ms['plugins alone']).toBeGreaterThanOrEqual(35);
  expect(ms['tap move alone']).toBeLessThan(ms['plugins alone']);
  expect(ms['plugins beside the tap move']).toBeGreaterThanOrEqual(ms['plugins alone']);

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
