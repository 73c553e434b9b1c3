/**
 * Removing a VM's cgroup directory (src/vm/qemu/confinement/vm-cgroup.ts): a cgroup answers
 * rmdir with EBUSY while a task of it still exits, which for a killed QEMU with a large guest
 * can outlast a second under load. A removal waits that out for a second, then goes on in the
 * background (the caller, a VM's teardown, does not wait), and the daemon's shutdown waits for
 * what is left there, bounded.
 */
import {
  CGROUP_BUSY_WAIT_MS,
  removeCgroupDir,
  removeNowOrLater,
  settleVmCgroupRemovals,
} from '../../../src/vm/qemu/confinement/vm-cgroup';

/** An rmdir that answers `codes` in turn (undefined: success), then succeeds. */
function rmdirAnswering(codes: Array<string | undefined>): { rmdir: (d: string) => void; calls: () => number } {
  let calls = 0;
  return {
    rmdir: () => {
      const code = codes[calls++];
      if (code) throw Object.assign(new Error(`rmdir: ${code}`), { code });
    },
    calls: () => calls,
  };
}

afterEach(() => jest.useRealTimers());

test('a cgroup busy past the first second is removed in the background, and the shutdown can wait for it', async () => {
  jest.useFakeTimers();
  // 60 EBUSY answers: 20 + 40 + 80 + 160 + 250 * 56 ms, about 14.3 s, then the directory goes.
  const r = rmdirAnswering([...Array(60).fill('EBUSY'), undefined]);
  const now = removeNowOrLater('/sys/fs/cgroup/memory/podvisor/x', r.rmdir);
  await jest.advanceTimersByTimeAsync(CGROUP_BUSY_WAIT_MS + 250);
  // The caller has its answer after the first second: the rest goes on without it.
  const late = (await now)!.late;
  expect(r.calls()).toBeLessThan(60);
  const settled = settleVmCgroupRemovals(30_000);
  await jest.advanceTimersByTimeAsync(15_000);
  await expect(late).resolves.toBe(true);
  await settled;
  expect(r.calls()).toBe(61);
});

test('a cgroup that goes within the first second leaves nothing in the background', async () => {
  const r = rmdirAnswering(['EBUSY', 'EBUSY', undefined]);
  await expect(removeNowOrLater('/x', r.rmdir)).resolves.toBeUndefined();
  expect(r.calls()).toBe(3);
  await expect(removeNowOrLater('/x', rmdirAnswering(['ENOENT']).rmdir)).resolves.toBeUndefined();
});

test("the shutdown's wait for background removals is bounded", async () => {
  jest.useFakeTimers();
  const r = rmdirAnswering(Array(100000).fill('EBUSY'));
  const now = removeNowOrLater('/x', r.rmdir);
  await jest.advanceTimersByTimeAsync(CGROUP_BUSY_WAIT_MS + 250);
  const late = (await now)!.late;
  let done = false;
  const settled = settleVmCgroupRemovals(3000).then(() => (done = true));
  await jest.advanceTimersByTimeAsync(3100);
  await settled;
  expect(done).toBe(true);
  // The background removal gives up at its own bound, false.
  await jest.advanceTimersByTimeAsync(30_000);
  await expect(late).resolves.toBe(false);
});

test('a cgroup busy past the bound is left, and reported false; another error is not retried', async () => {
  const busy = rmdirAnswering(Array(1000).fill('EBUSY'));
  await expect(removeCgroupDir('/x', 200, busy.rmdir)).resolves.toBe(false);
  expect(busy.calls()).toBeGreaterThan(1);
  const other = rmdirAnswering(['ENOTEMPTY', undefined]);
  await expect(removeCgroupDir('/x', 10_000, other.rmdir)).resolves.toBe(false);
  expect(other.calls()).toBe(1);
});
