/**
 * vm.json read back for an adoption (src/vm/qemu/vm-record.ts) as a record a jailed QEMU may
 * have written (an earlier build's flat directory holds it where its QEMU writes): the size is
 * bounded to what the daemon boots and, in a flat directory, held to the size the VM's cgroup
 * was made for; times and paths are bounded, the disks are what the daemon plans, and what is
 * returned is rebuilt from the checked fields alone.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { planDevices } from '../../../../src/vm/devices';
import { vmMemoryLimit } from '../../../../src/vm/qemu/confinement/vm-cgroup';
import { vmPathsAt, type VmPaths } from '../../../../src/vm/qemu/runtime-dir';
import { readVmRecord, writeVmRecord, type VmRecord } from '../../../../src/vm/qemu/vm-record';

const ID = 'abcdef012345';
let root: string;
let flat: VmPaths;
let split: VmPaths;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-vm-record-'));
  flat = vmPathsAt(path.join(root, 'flat', ID), 'flat');
  split = vmPathsAt(path.join(root, 'split', ID));
  for (const p of [flat, split]) fs.mkdirSync(p.dir, { recursive: true });
});

afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

/** A booted VM's record in `p`, as the daemon writes it. */
function record(p: VmPaths, over: Partial<VmRecord> = {}): VmRecord {
  return {
    format: 1,
    id: ID,
    size: { memoryMiB: 256, cpus: 1 },
    accel: 'tcg',
    qemuPid: 10,
    virtiofsdPid: 11,
    devices: planDevices(ID, { nics: 1, upperDisk: true, imageDisk: true }, p),
    createdAt: '2026-11-29T15:00:00.000Z',
    kernel: '/var/cache/podvisor/kernel/vmlinuz',
    initrd: '/var/cache/podvisor/initrd.img',
    ...over,
  };
}

/** What readVmRecord makes of `rec` (any JSON) written at `p`, the VM's cgroup limit being `limit`. */
function readBack(p: VmPaths, rec: unknown, limit?: number): VmRecord | undefined {
  fs.writeFileSync(p.record, JSON.stringify(rec));
  return readVmRecord(p, () => limit);
}

test('a record as the daemon writes it reads back as written, in either layout', () => {
  const rec = record(flat);
  writeVmRecord(flat, rec);
  expect(readVmRecord(flat, () => vmMemoryLimit(rec.size))).toEqual(rec);
  const ours = record(split);
  expect(readBack(split, ours)).toEqual(ours);
});

test('a size beyond what the daemon boots is no record, in either layout', () => {
  const recs = { flat: record(flat), split: record(split) };
  for (const size of [
    { memoryMiB: 2 * 1024 * 1024, cpus: 1 },
    { memoryMiB: 1e15, cpus: 1 },
    { memoryMiB: 8, cpus: 1 },
    { memoryMiB: 256.5, cpus: 1 },
    { memoryMiB: '256', cpus: 1 },
    { memoryMiB: 256, cpus: 0 },
    { memoryMiB: 256, cpus: 4096 },
    { memoryMiB: 256 },
    null,
  ])
    for (const [p, rec] of [
      [flat, recs.flat],
      [split, recs.split],
    ] as const)
      expect(readBack(p, { ...rec, size })).toBeUndefined();
  expect(readBack(split, recs.split)).toEqual(recs.split);
});

test("in a flat directory the size must be the one the VM's cgroup was made for; without a cgroup it is bounded only", () => {
  const booted = { memoryMiB: 256, cpus: 1 };
  // The QEMU grew its record's size: the cgroup the daemon made says otherwise.
  expect(readBack(flat, record(flat, { size: { memoryMiB: 65536, cpus: 1 } }), vmMemoryLimit(booted))).toBeUndefined();
  expect(readBack(flat, record(flat, { size: booted }), vmMemoryLimit(booted))?.size).toEqual(booted);
  expect(readBack(flat, record(flat, { size: { memoryMiB: 65536, cpus: 2 } }), undefined)?.size).toEqual({
    memoryMiB: 65536,
    cpus: 2,
  });
  // A split directory's record is the daemon's own (no jailed process reaches it): no cgroup read.
  const ours = record(split);
  fs.writeFileSync(split.record, JSON.stringify(ours));
  expect(
    readVmRecord(split, () => {
      throw new Error('not asked');
    }),
  ).toEqual(ours);
});

test('times, paths and disks the daemon would not have written are no record', () => {
  const rec = record(flat);
  const devices = rec.devices!;
  const bad: Partial<Record<keyof VmRecord, unknown>>[] = [
    { createdAt: 'x'.repeat(65) },
    { createdAt: 'not a time' },
    { kernel: 'vmlinuz' },
    { initrd: `/${'a'.repeat(5000)}` },
    { qemuPid: 2 ** 40 },
    { devices: { ...devices, upperDisk: { guestName: 'vda', sizeBytes: 2 ** 50 } } },
    { devices: { ...devices, imageDisk: { serial: 'evil', sizeBytes: 1 } } },
    { devices: { ...devices, upperDisk: { ...devices.upperDisk!, more: 1 } } },
    { devices: { nics: Array(5).fill(devices.nics[0]) } },
  ];
  for (const over of bad) expect(readBack(flat, { ...rec, ...over }, undefined)).toBeUndefined();
  // The same record untampered is one.
  expect(readBack(flat, rec, undefined)).toEqual(rec);
});

test('what is returned holds the checked fields alone', () => {
  const rec = record(flat);
  const tampered = {
    ...rec,
    extra: 'x'.repeat(1000),
    size: { ...rec.size, extra: 1 },
    devices: { ...rec.devices!, nics: [{ ...rec.devices!.nics[0]!, bridge: 'docker0' }], more: true },
  };
  expect(readBack(flat, tampered, undefined)).toEqual(rec);
});
