/**
 * A create started from a saved state (src/engine/saved-state-plan.ts: a checkpoint image's run
 * or a warm start): the named volumes the request mounts as the saved container had them (on
 * its disk, `volumes/<name>`, at the same target and mode) are taken, re-resolved by name on the
 * new container's disk and never filled; any other volume or bind is refused naming the flag;
 * the saved disk's other volumes are its directories alone.
 */
import { planFromSavedState, savedNamedVolumes } from '../../../src/engine/saved-state-plan';
import type { UnpackedState } from '../../../src/engine/checkpoint-images';
import type { PodMount } from '../../../src/pod/types';
import { refusedBySavedState } from '../../../src/api/v1.41/create/saved-state-refusal';

const IMAGE = { id: 'sha256:' + '1'.repeat(64), ref: 'pg:15' };

function saved(mounts: PodMount[]): UnpackedState {
  return {
    dir: '/states/x',
    container: {
      id: 'a'.repeat(64),
      process: {},
      hostname: 'h',
      args: ['postgres'],
      env: ['PATH=/usr/bin'],
      user: '',
      workingDir: '/',
      mounts,
      vm: { memoryMiB: 512, cpus: 1 },
    },
  } as never;
}

const onDisk = (name: string, target: string): PodMount => ({
  type: 'volume',
  name: '',
  source: '',
  target,
  readOnly: false,
  anonymous: false,
  diskDir: `volumes/${name}`,
});

function plan(binds: string[], mounts: PodMount[]) {
  const request = { config: { Env: [] }, hostConfig: { Binds: binds } } as never;
  const t = {
    spec: { vm: { memoryMiB: 512, cpus: 1 }, containers: [{ args: ['postgres'], mounts }] },
  } as never as { spec: { containers: Array<{ mounts: PodMount[] }>; savedState?: unknown } };
  return { request, t };
}

test("a named volume mounted as saved is re-resolved by name on the new disk, unfilled; the disk's other volumes stay its directories", () => {
  const { request, t } = plan(
    ['pgdata:/pg'],
    [{ type: 'volume', name: 'pgdata', source: '', target: '/pg', readOnly: false, anonymous: false }],
  );
  const s = saved([onDisk('pgdata', '/pg'), onDisk('f'.repeat(64), '/anon')]);
  planFromSavedState(t as never, s, IMAGE, refusedBySavedState(request, t as never, s.container));
  expect(t.spec.containers[0].mounts).toEqual([
    { type: 'volume', name: 'pgdata', source: '', target: '/pg', readOnly: false, anonymous: false, noCopy: true },
    onDisk('f'.repeat(64), '/anon'),
  ]);
  expect(t.spec.savedState).toEqual({ dir: '/states/x', image: IMAGE.id });
  expect(savedNamedVolumes(t.spec as never)).toBe(true);
});

test('another volume, another target or a bind is refused, naming -v', () => {
  const refusals: Array<[string[], PodMount[]]> = [
    [['other:/pg'], [{ type: 'volume', name: 'other', source: '', target: '/pg', readOnly: false, anonymous: false }]],
    [['pgdata:/x'], [{ type: 'volume', name: 'pgdata', source: '', target: '/x', readOnly: false, anonymous: false }]],
    [['/srv:/pg'], [{ type: 'bind', source: '/srv', target: '/pg', readOnly: false } as PodMount]],
  ];
  for (const [binds, mounts] of refusals) {
    const { request, t } = plan(binds, mounts);
    const s = saved([onDisk('pgdata', '/pg')]);
    expect(() =>
      planFromSavedState(t as never, s, IMAGE, refusedBySavedState(request, t as never, s.container)),
    ).toThrow(/-v \(a bind or volume\) cannot apply to them/);
  }
});
