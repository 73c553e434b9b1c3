/**
 * Removing a VM's cgroup directory (src/vm/qemu/confinement/vm-cgroup.ts removeCgroupDir): a
 * cgroup answers rmdir with EBUSY until its last task is reaped, which for a killed QEMU with
 * a large guest can take seconds under load; the removal waits that out, and gives up (false)
 * only past its bound or on another error.
 */
import { removeCgroupDir } from '../../../src/vm/qemu/confinement/vm-cgroup';

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

test('EBUSY while the last task is reaped is waited out for seconds, not the one second (50 tries) it used to allow', async () => {
  jest.useFakeTimers();
  try {
    // 60 EBUSY answers: 20 + 40 + 80 + 160 + 250 * 56 ms, about 14.3 s, then the directory goes.
    const r = rmdirAnswering([...Array(60).fill('EBUSY'), undefined]);
    const removed = removeCgroupDir('/sys/fs/cgroup/memory/podvisor/x', 15_000, r.rmdir);
    await jest.advanceTimersByTimeAsync(15_000);
    await expect(removed).resolves.toBe(true);
    expect(r.calls()).toBe(61);
  } finally {
    jest.useRealTimers();
  }
});

test('a cgroup busy past the bound is left, and reported false', async () => {
  const r = rmdirAnswering(Array(1000).fill('EBUSY'));
  await expect(removeCgroupDir('/sys/fs/cgroup/memory/podvisor/x', 200, r.rmdir)).resolves.toBe(false);
  expect(r.calls()).toBeGreaterThan(1);
});

test('a cgroup already gone is removed; another error is not retried', async () => {
  await expect(removeCgroupDir('/x', 10_000, rmdirAnswering(['ENOENT']).rmdir)).resolves.toBe(true);
  const other = rmdirAnswering(['ENOTEMPTY', undefined]);
  await expect(removeCgroupDir('/x', 10_000, other.rmdir)).resolves.toBe(false);
  expect(other.calls()).toBe(1);
});
