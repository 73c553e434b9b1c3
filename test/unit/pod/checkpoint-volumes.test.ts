/**
 * A start from a checkpoint is refused when a volume the checkpoint kept on the container's own
 * disk has left it since (another container took the data): volumesLeftDisk finds those.
 */
import { volumesLeftDisk } from '../../../src/pod/checkpoints/checkpoints';
import type { PodMount, PodRecord } from '../../../src/pod/types';

/** A pod record of one container with `mounts`. */
function record(mounts: PodMount[]): PodRecord {
  return {
    id: 'p1',
    name: 'p1',
    sandbox: { spec: { id: 'p1' } },
    containers: [{ spec: { id: 'c1', mounts } }],
  } as unknown as PodRecord;
}

const onDisk = (name: string): PodMount =>
  ({ type: 'volume', name, target: `/${name}`, source: `/v/${name}/_data`, diskDir: `volumes/${name}` }) as PodMount;
const onShare = (name: string): PodMount =>
  ({ type: 'volume', name, target: `/${name}`, source: `/v/${name}/_data` }) as PodMount;

test('a volume on the disk at the save and over the share now has left the disk', () => {
  expect(volumesLeftDisk(record([onDisk('a'), onDisk('b')]), record([onDisk('a'), onShare('b')]))).toEqual(['b']);
});

test('volumes still on the disk, or never on it, leave nothing to refuse', () => {
  expect(volumesLeftDisk(record([onDisk('a'), onShare('s')]), record([onDisk('a'), onShare('s')]))).toEqual([]);
  expect(volumesLeftDisk(record([]), record([onShare('s')]))).toEqual([]);
});

test('an unreadable saved record refuses nothing here (the restore checks it elsewhere)', () => {
  expect(volumesLeftDisk(undefined, record([onShare('a')]))).toEqual([]);
});
