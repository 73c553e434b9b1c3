/**
 * A pool VM's ready disk (src/vm/devices/upper-disk/ready-disk.ts, src/daemon/ready-disks.ts): the file is
 * taken by a create that fits it (a rename) and then needs no attach; another file or the
 * VM's end removes it; the warming step makes one per VM, leaves none behind when the VM
 * cannot hold it, and a daemon's start removes those an earlier daemon left.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ReadyUpperDisk } from '../../../src/vm/devices/upper-disk/ready-disk';
import { readyDiskStep } from '../../../src/daemon/ready-disks';
import type { Vm } from '../../../src/vm/types';

const BYTES = 1024 ** 3;
let root: string;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ready-disk-test-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

test('ReadyUpperDisk: taken once by a disk of its size, then the attach of that file is the only one skipped', async () => {
  const held = path.join(root, 'ready-1.ext4');
  fs.writeFileSync(held, 'fs');
  const r = new ReadyUpperDisk();
  expect(r.mountedAhead).toBe(false);
  r.hold(held, BYTES);
  expect(r.mountedAhead).toBe(true);
  expect(await r.take(path.join(root, 'c0.ext4'), { bytes: BYTES, fsBytes: BYTES / 2 })).toBe(false);
  expect(await r.take(path.join(root, 'c0.ext4'), { bytes: BYTES * 2 })).toBe(false);
  const to = path.join(root, 'c1.ext4');
  expect(await r.take(to, { bytes: BYTES })).toBe(true);
  expect(fs.readFileSync(to, 'utf8')).toBe('fs');
  expect(fs.existsSync(held)).toBe(false);
  expect(await r.take(path.join(root, 'c2.ext4'), { bytes: BYTES })).toBe(false); // once
  expect(r.takenFor(path.join(root, 'other.ext4'))).toBe(false);
  expect(r.takenFor(to)).toBe(true);
  expect(r.takenFor(to)).toBe(false); // asked once
  expect(r.mountedAhead).toBe(false);
  await r.discard();
  expect(fs.existsSync(to)).toBe(true); // the container's now
});

test('ReadyUpperDisk: another file behind the device, or the end of the VM, removes the held file', async () => {
  const held = path.join(root, 'ready-2.ext4');
  fs.writeFileSync(held, 'fs');
  const r = new ReadyUpperDisk();
  r.hold(held, BYTES);
  await r.discard();
  expect(fs.existsSync(held)).toBe(false);
  expect(r.mountedAhead).toBe(false);
  await r.discard(); // nothing left
});

/** A VM stand-in with an upper disk whose holdReadyDisk records the file (or fails). */
function vm(id: string, fail?: Error): { vm: Vm; held: string[] } {
  const held: string[] = [];
  const v = {
    id,
    devices: { nics: [], upperDisk: { guestName: 'vda' } },
    holdReadyDisk: async (file: string, bytes: number) => {
      expect(bytes).toBe(BYTES);
      if (fail) throw fail;
      held.push(file);
    },
  } as unknown as Vm;
  return { vm: v, held };
}

test('readyDiskStep: removes what an earlier daemon left, makes one empty ext4 per VM, none when the VM refuses', async () => {
  const dir = path.join(root, 'upper-disks');
  fs.mkdirSync(dir);
  for (const f of ['ready-0a1b.ext4', 'ready-0a1b.ext4.tmp', 'spare.ext4', 'notes'])
    fs.writeFileSync(path.join(dir, f), '');
  const step = readyDiskStep(dir, BYTES);
  expect(fs.readdirSync(dir).sort()).toEqual(['notes', 'spare.ext4']);

  const a = vm('0123456789ab');
  await step(a.vm);
  expect(a.held).toEqual([path.join(dir, 'ready-0123456789ab.ext4')]);
  expect(fs.statSync(a.held[0]).size).toBe(BYTES);

  const b = vm('ba9876543210', new Error('the guest agent predates READY_DISK'));
  await step(b.vm); // never rejects: the VM goes on without
  expect(fs.existsSync(path.join(dir, 'ready-ba9876543210.ext4'))).toBe(false);

  const c = vm('../escape');
  await step(c.vm);
  expect(c.held).toEqual([]);
  expect(fs.readdirSync(dir).sort()).toEqual(['notes', 'ready-0123456789ab.ext4', 'spare.ext4']);
});
