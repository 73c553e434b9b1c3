/**
 * A checkpoint image's saved container (src/pod/checkpoints/saved-state.ts): what a checkpoint
 * records of it, and its record read back as hostile input from a registry: rebuilt from its
 * checked fields, anything of the host refused; and the pod record a restore of it reads.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readSavedState, savedStateOf, writeSavedPodRecord } from '../../../src/pod/checkpoints/saved-state';
import { savedInits, savedMain } from '../../../src/pod/checkpoints/checkpoints';
import { createdState, RECORD_VERSION, type PodMount, type PodRecord } from '../../../src/pod/types';

const ID = 'a'.repeat(64);

const good = () => ({
  id: ID,
  process: 'p-17',
  hostname: 'aaaaaaaaaaaa',
  args: ['sh', '-c', 'echo hi'],
  env: ['PATH=/bin'],
  user: '',
  workingDir: '/',
  mounts: [
    {
      type: 'volume',
      name: '',
      source: '',
      target: '/data',
      readOnly: false,
      anonymous: false,
      diskDir: `volumes/${'b'.repeat(64)}`,
    },
    { type: 'tmpfs', target: '/run', readOnly: false, noexec: true, nosuid: true, nodev: true, options: 'size=1m' },
  ],
  vm: { memoryMiB: 2048, cpus: 1 },
});

/** A checkpoint directory holding the pod record of a container with `mounts`. */
function checkpointOf(mounts: PodMount[], containers = 1): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-saved-state-'));
  const spec = (id: string) => ({
    id,
    image: 'sha256:x',
    imageRef: 'busybox',
    args: ['sleep', '1'],
    env: [],
    workingDir: '/',
    user: '',
    tty: false,
    openStdin: false,
    stdinOnce: false,
    stopSignal: 15,
    stopTimeout: 10,
    mounts,
  });
  const ids = [ID, 'c'.repeat(64)].slice(0, containers);
  const record: PodRecord = {
    version: RECORD_VERSION,
    id: ID,
    name: 'x',
    created: '',
    sandbox: {
      spec: {
        id: ID,
        hostname: 'host1',
        domainname: '',
        labels: {},
        vm: { memoryMiB: 512, cpus: 1 },
        restartPolicy: { name: 'no', maximumRetryCount: 0 },
        autoRemove: false,
      },
    },
    containers: Object.fromEntries(
      ids.map((id) => [id, { spec: spec(id), state: createdState(), process: 'p-1', restartCount: 0 }]),
    ),
    manuallyStopped: false,
    frontend: null,
  };
  fs.writeFileSync(path.join(dir, 'pod.json'), JSON.stringify(record));
  return dir;
}

test('a checked record comes back as sent, and the pod record a restore reads names the saved container', async () => {
  const s = readSavedState(JSON.parse(JSON.stringify(good())));
  expect(s).toEqual(good());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-saved-state-'));
  try {
    await writeSavedPodRecord(dir, s);
    expect(savedMain(dir)).toEqual({ containerId: ID, initProcess: 'p-17' });
    expect(savedInits(dir)).toEqual([{ containerId: ID, diskName: ID, initProcess: 'p-17' }]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('fields it does not know are dropped, never carried', () => {
  const s = readSavedState({ ...good(), privileged: true, binds: ['/:/host'] });
  expect(Object.keys(s).sort()).toEqual(Object.keys(good()).sort());
  const m = readSavedState({
    ...good(),
    mounts: [{ ...good().mounts[0], source: '/etc', name: 'x', resolvedSource: '/etc' }],
  }).mounts[0];
  expect(m).toEqual({ ...good().mounts[0] });
});

test.each<[string, (r: ReturnType<typeof good>) => unknown]>([
  [
    'a bind mount of the host',
    (r) => ({ ...r, mounts: [{ type: 'bind', source: '/', target: '/h', readOnly: false }] }),
  ],
  ['a volume on the host share', (r) => ({ ...r, mounts: [{ ...r.mounts[0], diskDir: undefined }] })],
  ['a disk directory out of its place', (r) => ({ ...r, mounts: [{ ...r.mounts[0], diskDir: '../upper' }] })],
  ['a target with ..', (r) => ({ ...r, mounts: [{ ...r.mounts[0], target: '/a/../../etc' }] })],
  ['tmpfs options that are not options', (r) => ({ ...r, mounts: [{ ...r.mounts[1], options: 'size=1m;rm -rf' }] })],
  ['a container id that is not one', (r) => ({ ...r, id: '../../x' })],
  ['a hostname that is not one', (r) => ({ ...r, hostname: 'a b' })],
  ['no command', (r) => ({ ...r, args: [] })],
  ['an endless environment', (r) => ({ ...r, env: Array.from({ length: 5000 }, () => 'A=1') })],
  ['a NUL in an argument', (r) => ({ ...r, args: ['a\0b'] })],
  ['an absurd VM', (r) => ({ ...r, vm: { memoryMiB: 2 ** 40, cpus: 1 } })],
  ['not an object', () => 'x'],
])('a record with %s is refused', (_what, change) => {
  expect(() => readSavedState(change(good()))).toThrow(/its record is not one this daemon reads/);
});

test('a checkpoint of a container with only its own disk and tmpfs makes a record; one of the host is refused', () => {
  const own: PodMount[] = [good().mounts[0] as PodMount];
  const ok = checkpointOf(own);
  const bind = checkpointOf([{ type: 'bind', source: '/srv', target: '/srv', readOnly: false, createSource: false }]);
  const several = checkpointOf([], 2);
  try {
    const s = savedStateOf(ok);
    expect(s).toMatchObject({ id: ID, process: 'p-1', hostname: 'host1', vm: { memoryMiB: 512, cpus: 1 } });
    expect(readSavedState(JSON.parse(JSON.stringify(s)))).toEqual(s);
    expect(() => savedStateOf(bind)).toThrow(/bind mount of \/srv lives on this host/);
    expect(() => savedStateOf(several)).toThrow(/a pod of several containers/);
  } finally {
    for (const d of [ok, bind, several]) fs.rmSync(d, { recursive: true, force: true });
  }
});
