/**
 * bench/start-phases.ts reads the laps src/pod/lifecycle/runtime.ts logs: each lap it knows is one that
 * runtime.ts writes (so a reworded lap fails here, not as an empty table in a bench), and a
 * log's laps become each phase's own time.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cniStepTable, LAPS, logSince, phaseMedians, phaseTable, startPhases } from '../../../bench/start-phases';

const RUNTIME = fs.readFileSync(path.resolve(__dirname, '../../../src/pod/lifecycle/runtime.ts'), 'utf8');

test('every lap the bench reads is one that startPod logs, in its order', () => {
  // lap('...') and lap(`...`) calls, in the order they come in the source.
  const logged = [...RUNTIME.matchAll(/\blap\((['`])(.+?)\1\)/g)].map((m) => m[2].replace(/\$\{[^}]+\}/g, 'X'));
  const order = LAPS.map(({ lap }) => logged.findIndex((l) => lap.test(l)));
  expect(order.every((i) => i >= 0)).toBe(true);
  expect([...order].sort((a, b) => a - b)).toEqual(order);
});

const LOG = [
  '2026-11-26T07:00:00.000Z DEBUG [pod] pod aaaaaaaaaaaa: got VM v1 at +10 ms',
  '2026-11-26T07:00:00.000Z DEBUG [pod] pod bbbbbbbbbbbb: got VM v2 at +0 ms',
  '2026-11-26T07:00:00.000Z DEBUG [pod] pod aaaaaaaaaaaa: rootfs and bind sources mounted at +30 ms',
  '2026-11-26T07:00:00.000Z DEBUG [pod] pod aaaaaaaaaaaa: on its network at +90 ms',
  '2026-11-26T07:00:00.000Z DEBUG [pod] pod aaaaaaaaaaaa: files written, accounts read on the host at +95 ms',
  '2026-11-26T07:00:00.000Z DEBUG [pod] pod aaaaaaaaaaaa: containers created, inits started at +150 ms',
  '2026-11-26T07:00:00.000Z DEBUG [pod] pod bbbbbbbbbbbb: rootfs and bind sources mounted at +20 ms',
].join('\n');

test("each phase's own time is the difference to the lap before it; a start missing a lap is left out", () => {
  const phases = startPhases(LOG);
  expect([...phases.get('aaaaaaaaaaaa')!.values()]).toEqual([10, 20, 60, 5, 55]);
  expect(phaseMedians(LOG)).toEqual({ starts: 1, rows: LAPS.map(({ phase }, i) => [phase, [10, 20, 60, 5, 55][i]]) });
  const table = phaseTable(LOG, 400);
  expect(table).toContain('| all of startPod | 150 |');
  expect(table).toContain("| the rest of the client's wall time (CLI, API, create, wait, exit) | 250 |");
  expect(phaseTable('nothing')).toEqual(['(no pod start with every phase in the daemon log)']);
});

test('logSince keeps the lines from a time on', () => {
  const log = [
    '2026-11-26T07:00:00.000Z a',
    'not a log line',
    '2026-11-26T07:00:01.000Z b',
    '2026-11-26T07:00:02.000Z c',
  ].join('\n');
  expect(logSince(log, '2026-11-26T07:00:01.000Z')).toBe('2026-11-26T07:00:01.000Z b\n2026-11-26T07:00:02.000Z c');
});

test("the CNI set-up's steps: each one's median over the sandboxes asked for, in the order logged", () => {
  const line = (id: string, steps: string) =>
    `2026-11-26T07:00:00.000Z DEBUG [cni] sandbox ${id}: network set up (${steps})`;
  const log = [
    line(
      'aaaaaaaaaaaa',
      'namespace 6 ms, plugins beside the tap move 20 ms, tap redirected beside the guest NIC 30 ms',
    ),
    line(
      'bbbbbbbbbbbb',
      'namespace 8 ms, plugins beside the tap move 24 ms, tap redirected beside the guest NIC 10 ms',
    ),
    line(
      'cccccccccccc',
      'namespace 99 ms, plugins beside the tap move 99 ms, tap redirected beside the guest NIC 99 ms',
    ),
    line(
      'dddddddddddd',
      'namespace 2 ms, plugins beside the tap move 22 ms, tap redirected beside the guest NIC 20 ms',
    ),
  ].join('\n');
  expect(cniStepTable(log, ['aaaaaaaaaaaa0000', 'bbbbbbbbbbbb', 'dddddddddddd'])).toEqual([
    '| step of the CNI set-up (daemon debug log) | median ms | set-ups |',
    '| --- | --- | --- |',
    '| namespace | 6 | 3 |',
    '| plugins beside the tap move | 22 | 3 |',
    '| tap redirected beside the guest NIC | 20 | 3 |',
  ]);
  expect(cniStepTable(log, ['ffffffffffff'])).toEqual(['(no CNI set-up step in the daemon log)']);
});

test('the CNI line the bench reads is the one sandbox-networks.ts logs', () => {
  const src = fs.readFileSync(path.resolve(__dirname, '../../../src/net/cni/sandbox-networks.ts'), 'utf8');
  expect(src).toContain('log.debug(`sandbox ${req.id.slice(0, 12)}: network set up (${laps.summary()})`)');
  for (const step of ['namespace', 'plugins beside the tap move', 'tap redirected beside the guest NIC'])
    expect(src).toContain(`'${step}'`);
});
