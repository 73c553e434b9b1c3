/**
 * The QMP steps of a container's disk rates (src/vm/devices/upper-disk/upper-disk-qmp.ts): the upper disk's
 * device is found by its root node in query-block and throttled with block_set_io_throttle;
 * detaching the file lifts the rates first.
 */
import { detachFile, setDiskThrottle } from '../../../../src/vm/devices/upper-disk/upper-disk-qmp';
import type { QmpClient } from '../../../../src/vm/qemu/qmp';

function fakeQmp(blocks: unknown[]): { q: QmpClient; calls: Array<[string, unknown]> } {
  const calls: Array<[string, unknown]> = [];
  const q = {
    execute: async (command: string, args?: Record<string, unknown>) => {
      calls.push([command, args]);
      return command === 'query-block' ? blocks : {};
    },
  } as unknown as QmpClient;
  return { q, calls };
}

const BLOCKS = [
  { device: '', qdev: '/machine/peripheral-anon/device[0]', inserted: { 'node-name': 'updisk' } },
  { device: '', qdev: '/machine/peripheral-anon/device[1]', inserted: { 'node-name': 'other' } },
];

test("the upper disk's device gets the rates; what is not asked is 0 (none)", async () => {
  const { q, calls } = fakeQmp(BLOCKS);
  await setDiskThrottle(q, { writeBps: 1 << 20, readIops: 100 });
  expect(calls[1]).toEqual([
    'block_set_io_throttle',
    { id: '/machine/peripheral-anon/device[0]', bps: 0, bps_rd: 0, bps_wr: 1 << 20, iops: 0, iops_rd: 100, iops_wr: 0 },
  ]);
});

test('no upper disk among the block devices: refused', async () => {
  await expect(setDiskThrottle(fakeQmp([]).q, { writeBps: 1 })).rejects.toThrow('upper disk');
});

test('detaching the file lifts the rates before the placeholder goes back', async () => {
  const { q, calls } = fakeQmp(BLOCKS);
  await detachFile(q);
  // The rates lifted, the placeholder put back, then the file's nodes (either kind of disk) deleted.
  const names = calls.map((c) => c[0]);
  expect(names.slice(0, 3)).toEqual(['query-block', 'block_set_io_throttle', 'blockdev-reopen']);
  expect(names.length).toBeGreaterThan(3);
  expect(new Set(names.slice(3))).toEqual(new Set(['blockdev-del']));
  expect(calls[1][1]).toMatchObject({ bps_wr: 0, bps_rd: 0, iops_rd: 0, iops_wr: 0 });
});
