/** src/util/settle.ts: every step is waited for, and the first failure in the order given is thrown. */
import { settleAll } from '../../../src/util/settle';

const after = <T>(ms: number, fn: () => T): Promise<T> =>
  new Promise((resolve, reject) => {
    setTimeout(() => {
      try {
        resolve(fn());
      } catch (e) {
        reject(e);
      }
    }, ms);
  });

test('resolves the values in order; a step not taken is undefined', async () => {
  await expect(settleAll([after(20, () => 'a'), undefined, Promise.resolve(3)] as const)).resolves.toEqual([
    'a',
    undefined,
    3,
  ]);
});

test('waits for every step before it throws, and throws the first failure in the order given', async () => {
  let slowDone = false;
  const err = await settleAll([
    after(30, () => {
      slowDone = true;
    }),
    after(20, () => {
      throw new Error('second');
    }),
    Promise.reject(new Error('third, but first in time')),
  ]).then(
    () => undefined,
    (e: Error) => e,
  );
  expect(err?.message).toBe('second');
  expect(slowDone).toBe(true);
});
