/**
 * When the first run of a kind is saved (src/engine/warm-starts.ts, docs/warm-starts.md "When
 * the first run is saved"): with a health check, once it is first healthy and never before,
 * however quiet; else once a socket listens in its guest and 2 quiet samples followed; else
 * after 8 quiet samples in a row where the guest tells that nothing listens (3 where it cannot
 * tell). A fake pod layer: its checkpoint only records when the save began.
 */
import { WarmStarts } from '../../../src/engine/warm-starts';
import type { DaemonEvent } from '../../../src/pod/events';
import type { GuestSample } from '../../../src/pod/stats/guest-stats';

const ID = 'p'.repeat(64);
const SAMPLE_MS = 5;

/** A warm-starts object over a fake pod; `saves` counts checkpoints begun, `samples` samples taken. */
function setup(opts: {
  health?: boolean;
  busy?: (n: number) => boolean;
  listening?: (n: number) => string[] | undefined;
}) {
  const seen = { saves: 0, samples: 0 };
  const record = {
    id: ID,
    containers: {
      [ID]: {
        spec: { id: ID, ...(opts.health ? { health: { args: ['true'] } } : {}) },
        health: { status: 'starting' },
      },
    },
  };
  let cpu = 0;
  // As the pod layer: a pod counts as running only after its start event was published.
  let running = false;
  const pods = {
    get: () => record,
    list: () => [],
    isRunning: () => running,
    sample: async (): Promise<GuestSample> => {
      const n = seen.samples++;
      cpu += opts.busy?.(n) ? 1e9 : 0;
      return { readAt: Date.now() + n * 1000, cpuTotalNs: cpu, onlineCpus: 1 } as GuestSample;
    },
    ...(opts.listening ? { listening: async () => opts.listening!(seen.samples) } : {}),
    checkpoint: async () => {
      seen.saves++;
      throw new Error('fake: no checkpoint');
    },
    checkpointDir: () => '/nonexistent',
    removeCheckpoint: async () => undefined,
  };
  const warm = new WarmStarts({
    root: '/nonexistent/warm-starts',
    enabled: true,
    pods: pods as never,
    imageTagged: () => true,
    sampleMs: SAMPLE_MS,
  });
  const event = (action: string) => {
    warm.onEvent({ type: 'container', action, id: ID } as DaemonEvent);
    if (action === 'start') running = true;
  };
  warm.expectFirst(ID, 'k'.repeat(64), 'sha256:i');
  return { warm, seen, event, record };
}

const until = async (ok: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!ok() && Date.now() < end) await new Promise((r) => setTimeout(r, SAMPLE_MS));
};

test('with a health check: saved once healthy, not before, however quiet it is', async () => {
  const { seen, event } = setup({ health: true, listening: () => ['tcp:80'] });
  event('start');
  await new Promise((r) => setTimeout(r, 30 * SAMPLE_MS));
  event('health_status: unhealthy');
  await new Promise((r) => setTimeout(r, 5 * SAMPLE_MS));
  expect(seen.saves).toBe(0);
  event('health_status: healthy');
  await until(() => seen.saves > 0);
  expect(seen.saves).toBe(1);
});

test('with a health check already healthy when the wait begins: saved at once', async () => {
  const { seen, event, record } = setup({ health: true });
  (record.containers[ID].health as { status: string }).status = 'healthy';
  event('start');
  await until(() => seen.saves > 0);
  expect(seen.saves).toBe(1);
});

test('a socket listens: saved after 2 quiet samples that follow one that saw it, before the quiet rule would', async () => {
  // Quiet throughout; a socket listens from the third sample on.
  const { seen, event } = setup({ listening: (n) => (n >= 3 ? ['unix:/run/x.sock'] : []) });
  event('start');
  await until(() => seen.saves > 0);
  expect(seen.saves).toBe(1);
  expect(seen.samples).toBe(5);
});

test('a socket listens while it is busy: not saved until 2 quiet samples in a row', async () => {
  const { seen, event } = setup({ busy: (n) => n < 4 || n === 5, listening: () => ['tcp:80'] });
  event('start');
  await until(() => seen.saves > 0);
  // Busy up to the fourth sample and at the sixth: quiet at the seventh and eighth.
  expect(seen.samples).toBe(8);
});

test('nothing listens: saved after 8 quiet samples in a row; 3 where the guest cannot tell', async () => {
  const unheard = setup({ busy: (n) => n === 4, listening: () => [] });
  unheard.event('start');
  await until(() => unheard.seen.saves > 0);
  // A busy fifth sample starts the count again: 5 + 8 samples.
  expect(unheard.seen.samples).toBe(13);

  const unknown = setup({ listening: () => undefined });
  unknown.event('start');
  await until(() => unknown.seen.saves > 0);
  expect(unknown.seen.samples).toBe(4);
});
