import { guestDiskUsed } from '../../../src/pod/mounts/disk-usage';
import type { Agent } from '../../../src/vm/agent-types';
import { NotImplementedError } from '../../../src/errors';

/** An agent that only answers DISK_USAGE (the rest is never called here). */
const agentSaying = (diskUsage?: Agent['diskUsage']): Agent => ({ diskUsage }) as unknown as Agent;

test("the guest's figure while it is within what the host file holds", async () => {
  expect(
    await guestDiskUsed(
      agentSaying(async () => ({ used: 5_000_000, total: 64 << 20 })),
      'c',
      9_000_000,
    ),
  ).toBe(5_000_000);
});

test('a guest cannot claim more than its disk file holds, nor a nonsense figure', async () => {
  expect(
    await guestDiskUsed(
      agentSaying(async () => ({ used: 2 ** 40, total: 2 ** 41 })),
      'c',
      9_000_000,
    ),
  ).toBe(9_000_000);
  expect(
    await guestDiskUsed(
      agentSaying(async () => ({ used: -1, total: 0 })),
      'c',
      7,
    ),
  ).toBe(7);
  expect(
    await guestDiskUsed(
      agentSaying(async () => ({ used: 2 ** 64, total: 0 })),
      'c',
      7,
    ),
  ).toBe(7);
});

test("the host's figure when the agent cannot answer", async () => {
  expect(await guestDiskUsed(agentSaying(), 'c', 123)).toBe(123);
  expect(
    await guestDiskUsed(
      agentSaying(async () => {
        throw new NotImplementedError('the guest agent predates DISK_USAGE');
      }),
      'c',
      123,
    ),
  ).toBe(123);
});
