/**
 * bench/fs-first-run.ts's table: each program's medians on the block-mode podvisor with its
 * image disk and with the layers share, and on dockerd, with their ratios and the time over
 * the start alone.
 */
import { firstRunGroup, firstRunTable } from '../../../bench/fs-first-run';
import { BLOCK_PODVISOR, runsOn } from '../../../bench/fs-parts';

/** Times of every step of the group: on the image disk `disk`, over the layers `layers`, on dockerd `dockerd` (per program, in the group's order). */
function timesOf(figures: { disk: number; layers: number; dockerd: number }[]) {
  const steps = firstRunGroup().steps;
  const times: Record<string, Record<string, number[]>> = {};
  steps.forEach((st, i) => {
    const f = figures[i >> 1];
    const layersRow = i % 2 === 1;
    for (const who of [BLOCK_PODVISOR, 'dockerd']) {
      if (!runsOn(st, who)) continue;
      const x = who === 'dockerd' ? f.dockerd : layersRow ? f.layers : f.disk;
      (times[st.name] ??= {})[who] = [x + 1, x, x - 1];
    }
  });
  return times;
}

test('each program has a row on every daemon and one with the image over the layers share on the block-mode podvisor only', () => {
  const steps = firstRunGroup().steps;
  expect(steps.map((st) => st.name)).toEqual([
    'first run: true',
    'first run: true, image=layers',
    'first run: python3 -c pass',
    'first run: python3 -c pass, image=layers',
    "first run: python3 -c 'import 7 modules'",
    "first run: python3 -c 'import 7 modules', image=layers",
  ]);
  expect(steps.map((st) => runsOn(st, 'dockerd'))).toEqual([true, false, true, false, true, false]);
  expect(steps.every((st) => runsOn(st, BLOCK_PODVISOR))).toBe(true);
});

test('the table shows the medians, disk over layers and over dockerd, and each program less the start alone', () => {
  const times = timesOf([
    { disk: 2, layers: 3, dockerd: 0.5 },
    { disk: 4, layers: 6, dockerd: 1 },
    { disk: 5, layers: 9, dockerd: 1.5 },
  ]);
  const table = firstRunTable(times, [BLOCK_PODVISOR, 'dockerd']);
  expect(table[0]).toBe(
    '| `docker run --rm debian-python:3 ...` | podvisor, image disk | podvisor, layers share (image=layers) | dockerd + runc | disk / layers | disk / dockerd |',
  );
  expect(table).toContain('| `python3 -c pass` | 4.00 s | 6.00 s | 1.00 s | 0.67x | 4.00x |');
  expect(table).toContain(
    "| `python3 -c 'import 7 modules'` minus `true` | 3.00 s | 6.00 s | 1.00 s | 0.50x | 3.00x |",
  );
});

test('a run without these rows prints no table', () => {
  expect(firstRunTable({}, [BLOCK_PODVISOR, 'dockerd'])).toEqual([]);
});

test('a difference of zero on one daemon gets no ratio', () => {
  const times = timesOf([
    { disk: 2, layers: 3, dockerd: 0.5 },
    { disk: 4, layers: 6, dockerd: 0.5 },
    { disk: 5, layers: 9, dockerd: 1.5 },
  ]);
  expect(firstRunTable(times, [BLOCK_PODVISOR, 'dockerd'])).toContain(
    '| `python3 -c pass` minus `true` | 2.00 s | 3.00 s | 0.00 s | 0.67x |  |',
  );
});
