/**
 * Force wins (kill and rm -f never wait behind a stop), on the in-memory VM fakes: the per-container operation queue lets
 * kill and rm -f preempt a pending stop, restart or start; stop with a negative timeout waits
 * with no deadline; huge timeouts do not overflow a timer. (test/compat/force.test.ts does
 * the same through the docker CLI on real VMs.)
 */
import { harness, type Harness } from './fakes';
import { ConflictError, NotFoundError } from '../../../src/errors';
import { OpQueue, PreemptedError } from '../../../src/pod/op-queue';
import { mainContainer } from '../../../src/pod/types';

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(async () => {
  await h.cleanup();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function running(cmd: string[]) {
  const r = await h.create({ Image: 'busybox', Cmd: cmd });
  await h.pods.start(r.id);
  await sleep(20);
  return r.id;
}

test('stop t=-1 returns once a TERM trap exits', async () => {
  const id = await running(['trap-term']);
  await h.pods.stop(id, -1);
  expect(mainContainer(h.pods.get(id)).state).toMatchObject({ status: 'exited', exitCode: 0 });
});

test('stop with a huge timeout does not fire at once (no timer overflow)', async () => {
  const id = await running(['ignore-term']);
  let done = false;
  const stop = h.pods.stop(id, 1e18).then(() => (done = true));
  await sleep(200);
  expect(done).toBe(false);
  await h.pods.kill(id, 9);
  await stop;
  expect(mainContainer(h.pods.get(id)).state.exitCode).toBe(137);
});

test('rm -f during a pending stop t=-1 wins: both return, no VM left', async () => {
  const id = await running(['ignore-term']);
  const stop = h.pods.stop(id, -1);
  await sleep(50);
  await h.pods.remove(id, { force: true });
  await stop;
  expect(() => h.pods.get(id)).toThrow(NotFoundError);
  expect(h.hv.running()).toHaveLength(0);
});

test('kill during a pending restart: the restart fails and does not start it again', async () => {
  const id = await running(['ignore-term']);
  const restart = h.pods.restart(id, -1);
  await sleep(50);
  await h.pods.kill(id, 9);
  await expect(restart).rejects.toThrow(ConflictError);
  expect(mainContainer(h.pods.get(id)).state.status).toBe('exited');
  expect(h.hv.running()).toHaveLength(0);
});

test('rm -f with a start queued behind a pending stop: the start finds it gone', async () => {
  const id = await running(['ignore-term']);
  const stop = h.pods.stop(id, -1);
  const start = h.pods.start(id);
  await sleep(50);
  await h.pods.remove(id, { force: true });
  await stop;
  await expect(start).rejects.toThrow(NotFoundError);
  expect(h.hv.running()).toHaveLength(0);
});

describe('OpQueue', () => {
  test('runs operations one at a time in order', async () => {
    const q = new OpQueue();
    const seen: string[] = [];
    const op = (n: string, ms: number) =>
      q.run(async () => {
        seen.push(`+${n}`);
        await sleep(ms);
        seen.push(`-${n}`);
      });
    await Promise.all([op('a', 30), op('b', 1), op('c', 1)]);
    expect(seen).toEqual(['+a', '-a', '+b', '-b', '+c', '-c']);
  });

  test('force aborts the running operation and runs before queued ones', async () => {
    const q = new OpQueue();
    const seen: string[] = [];
    const long = q.run(
      (signal) =>
        new Promise<void>((resolve) => {
          signal.addEventListener('abort', () => {
            seen.push(`aborted by ${(signal.reason as PreemptedError).by}`);
            resolve();
          });
        }),
    );
    const queued = q.run(async () => {
      seen.push('queued');
    });
    await sleep(10);
    await q.force('remove', async (preempted) => {
      seen.push(`force preempted=${preempted}`);
    });
    await Promise.all([long, queued]);
    expect(seen).toEqual(['aborted by remove', 'force preempted=true', 'queued']);
  });
});
