/** The volume store (src/storage/volumes.ts): records kept across a reopen, names and options checked, in-use refusal. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { VolumeStore } from '../../../src/storage/volumes';
import {
  InvalidVolumeError,
  NoSuchVolumeDriverError,
  NoSuchVolumeError,
  VolumeInUseError,
} from '../../../src/storage/volumes-errors';
import { NotImplementedError } from '../../../src/errors';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-volstore-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

test('create, reopen, remove: records and data directories go together', async () => {
  const s = await VolumeStore.open(root);
  const a = await s.create({ name: 'data', labels: { team: 'a' } });
  expect(a.created).toBe(true);
  expect(a.volume).toMatchObject({
    name: 'data',
    driver: 'local',
    labels: { team: 'a' },
    options: null,
    anonymous: false,
  });
  expect((await s.create({ name: 'data', labels: { other: '1' } })).created).toBe(false);
  const anon = await s.create({ anonymous: true, removeWith: 'c1' });
  expect(anon.volume.name).toMatch(/^[0-9a-f]{64}$/);
  fs.writeFileSync(path.join(s.dataDir('data'), 'f'), 'kept');
  // A directory without a record (a create cut short) is dropped at open.
  fs.mkdirSync(path.join(root, 'volumes', 'orphan', '_data'), { recursive: true });

  const again = await VolumeStore.open(root);
  expect(again.list().map((v) => v.name)).toEqual(['data', anon.volume.name]);
  expect(again.get('data').labels).toEqual({ team: 'a' });
  expect(again.get(anon.volume.name).removeWith).toBe('c1');
  expect(fs.readFileSync(path.join(again.dataDir('data'), 'f'), 'utf8')).toBe('kept');
  expect(fs.existsSync(path.join(root, 'volumes', 'orphan'))).toBe(false);

  await expect(again.remove('data', ['c2'])).rejects.toBeInstanceOf(VolumeInUseError);
  expect(again.has('data')).toBe(true);
  await again.remove('data');
  expect(fs.existsSync(path.join(root, 'volumes', 'data'))).toBe(false);
  expect((await VolumeStore.open(root)).list().map((v) => v.name)).toEqual([anon.volume.name]);
});

test('bad names, drivers and options are refused and create nothing', async () => {
  const s = await VolumeStore.open(root);
  await expect(s.create({ name: 'bad name' })).rejects.toMatchObject({ reason: 'name-chars' });
  await expect(s.create({ name: 'x' })).rejects.toMatchObject({ reason: 'name-short' });
  await expect(s.create({ name: 'vx', driver: 'nope' })).rejects.toBeInstanceOf(NoSuchVolumeDriverError);
  await expect(s.create({ name: 'vx', options: { foo: 'bar' } })).rejects.toBeInstanceOf(InvalidVolumeError);
  await expect(s.create({ name: 'vx', options: { type: 'tmpfs' } })).rejects.toMatchObject({
    reason: 'missing-option',
    option: 'device',
  });
  await expect(s.create({ name: 'vx', options: { o: 'bind', device: '/srv' } })).rejects.toMatchObject({
    reason: 'missing-option',
    option: 'type',
  });
  await expect(s.create({ name: 'vx', options: { size: 'abc', type: 'tmpfs' } })).rejects.toMatchObject({
    reason: 'missing-option',
    option: 'device',
  });
  await expect(s.create({ name: 'vx', options: { size: 'abc' } })).rejects.toMatchObject({
    reason: 'size',
    option: 'abc',
  });
  await expect(s.create({ name: 'vx', options: { size: '1k' } })).rejects.toMatchObject({ reason: 'no-quota' });
  // Valid for dockerd's local driver, which would mount a filesystem as the volume.
  await expect(s.create({ name: 'vx', options: { type: 'tmpfs', device: 'tmpfs' } })).rejects.toBeInstanceOf(
    NotImplementedError,
  );
  expect(() => s.get('vx')).toThrow(NoSuchVolumeError);
  expect(s.list()).toEqual([]);
  expect(fs.readdirSync(path.join(root, 'volumes'))).toEqual([]);
});

test('options that make no mount are kept as given (sorted, {} too), as dockerd shows them', async () => {
  const s = await VolumeStore.open(root);
  expect((await s.create({ name: 'v0', options: {} })).volume.options).toEqual({});
  expect((await s.create({ name: 'v1', options: { size: '0' } })).volume.options).toEqual({ size: '0' });
  const v2 = (await s.create({ name: 'v2', options: { type: '', device: '', o: '' } })).volume;
  expect(Object.keys(v2.options ?? {})).toEqual(['device', 'o', 'type']);
  expect((await s.create({ name: 'v3' })).volume.options).toBeNull();
});

test("a volume kept on a container's disk: recorded across a reopen, of unknown size, then an ordinary volume once moved off", async () => {
  const s = await VolumeStore.open(root);
  const { volume } = await s.create({ anonymous: true, onDiskOf: 'c1' });
  expect(volume.onDiskOf).toBe('c1');
  expect(await s.size(volume.name)).toBe(-1);
  const again = await VolumeStore.open(root);
  expect(again.get(volume.name).onDiskOf).toBe('c1');
  fs.writeFileSync(path.join(again.dataDir(volume.name), 'moved'), '12345');
  await again.moveOffDisk(volume.name);
  expect(again.get(volume.name).onDiskOf).toBeUndefined();
  expect(await again.size(volume.name)).toBe(5);
  expect((await VolumeStore.open(root)).get(volume.name).onDiskOf).toBeUndefined();
});

test("a named volume goes on a container's disk only while it is on none, has no driver options and nothing on the host", async () => {
  const s = await VolumeStore.open(root);
  await s.create({ name: 'plain' });
  // Two creates at once: one of them takes it (whichever reads the directory first), the other
  // finds it taken, and the store keeps the one that took it.
  const both = await Promise.all([s.keepOnDisk('plain', 'c1'), s.keepOnDisk('plain', 'c2')]);
  expect([...both].sort()).toEqual([false, true]);
  expect((await VolumeStore.open(root)).get('plain').onDiskOf).toBe(both[0] ? 'c1' : 'c2');
  await s.create({ name: 'opts', options: { type: '', device: '' } });
  expect(await s.keepOnDisk('opts', 'c1')).toBe(false);
  await s.create({ name: 'full' });
  fs.writeFileSync(path.join(s.dataDir('full'), 'f'), 'x');
  expect(await s.keepOnDisk('full', 'c1')).toBe(false);
  expect(s.get('opts').onDiskOf).toBeUndefined();
  expect(s.get('full').onDiskOf).toBeUndefined();
});
