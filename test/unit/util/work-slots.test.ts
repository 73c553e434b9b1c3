/** A fixed number of slots for work in flight (src/util/work-slots.ts). */
import { WorkSlots } from '../../../src/util/work-slots';

test('never more than max holders; the rest get a slot in the order they asked', async () => {
  const slots = new WorkSlots(3);
  let held = 0;
  let most = 0;
  const order: number[] = [];
  await Promise.all(
    Array.from({ length: 20 }, async (_, i) => {
      const release = await slots.take();
      order.push(i);
      most = Math.max(most, ++held);
      await new Promise((r) => setTimeout(r, 1));
      held--;
      release();
      release(); // a second release gives nothing back
    }),
  );
  expect(most).toBe(3);
  expect(order).toEqual(Array.from({ length: 20 }, (_, i) => i));
  expect(slots.inFlight).toBe(0);
  expect(slots.queued).toBe(0);
});
