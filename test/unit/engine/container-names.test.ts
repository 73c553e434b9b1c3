/**
 * The creation service's lookup of the names a create refers to (src/engine/container-names.ts):
 * every container of a pod of several is found by its id, its name POD.CONTAINER and a prefix
 * of its id, and is seen as a pod of its own (its id, name and mounts); anything else is the
 * pod layer's own answer.
 */
import { NotFoundError } from '../../../src/errors';
import { containerNameView, resolveContainerRef } from '../../../src/engine/container-names';
import type { PodRecord } from '../../../src/pod/types';

const MAIN = 'a'.repeat(64);
const SIDE = 'b'.repeat(64);
const SIDE2 = 'bc'.padEnd(64, '0');

/** A pod's record with the containers given (id, name, mount target). */
function pod(id: string, name: string, containers: Array<[string, string, string]>): PodRecord {
  return {
    id,
    name,
    containers: Object.fromEntries(
      containers.map(([cid, cname, target]) => [
        cid,
        { spec: { id: cid, name: cname, mounts: [{ target }] }, state: {}, restartCount: 0 },
      ]),
    ),
  } as unknown as PodRecord;
}

const duo = pod(MAIN, 'duo', [
  [MAIN, 'main', '/main-data'],
  [SIDE, 'side', '/side-data'],
  [SIDE2, 'other', '/other-data'],
]);
const solo = pod('c'.repeat(64), 'solo', [['c'.repeat(64), 'solo', '/solo-data']]);

/** The pod layer's own lookup: a pod by id, name or id prefix. */
const pods = {
  list: () => [duo, solo],
  get: (ref: string) => {
    const hit = [duo, solo].find((p) => p.id === ref || p.name === ref.replace(/^\//, '') || p.id.startsWith(ref));
    if (!hit) throw new NotFoundError(`No such container: ${ref}`);
    return hit;
  },
  create: () => Promise.reject(new Error('not in this test')),
};

test("a pod's own references are the pod layer's answer", () => {
  expect(resolveContainerRef(pods, 'duo')).toEqual({ pod: duo });
  expect(resolveContainerRef(pods, 'solo').pod.id).toBe('c'.repeat(64));
});

test('another container of a pod of several is found by id, POD.CONTAINER name and id prefix', () => {
  for (const ref of [SIDE, 'duo.side', '/duo.side', 'bbbb'])
    expect(resolveContainerRef(pods, ref).other?.spec.id).toBe(SIDE);
});

test("a prefix of several containers is refused in dockerd's words; an unknown name is the pod layer's 404", () => {
  expect(() => resolveContainerRef(pods, 'b')).toThrow('multiple IDs found with provided prefix: b');
  expect(() => resolveContainerRef(pods, 'duo.nope')).toThrow(NotFoundError);
});

test('the view shows another container as a pod of its own: its id, its name, its mounts only', () => {
  const view = containerNameView(pods);
  const side = view.get('duo.side');
  expect({ id: side.id, name: side.name, containers: Object.keys(side.containers) }).toEqual({
    id: SIDE,
    name: 'duo.side',
    containers: [SIDE],
  });
  expect(side.containers[SIDE].spec.mounts).toEqual([{ target: '/side-data' }]);
  expect(view.get('duo')).toBe(duo);
});
