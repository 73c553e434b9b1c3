/**
 * A VM's record, `vm.json` in its runtime directory (./runtime-dir.ts): what a restarted daemon
 * adopts it by (./adopt.ts), written by the daemon alone, and checked when read as a record a
 * jailed process might have written.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { VmDevices, VmSize } from '../types';
import { MAX_NICS, tapName } from '../devices/nic';
import { planVolumeShare } from '../devices/volume-share';
import { planUpperDisk } from '../devices/upper-disk/upper-disk';
import { planImageDisk } from '../devices/image-disk/image-disk';
import { vmCgroupMemoryLimit, vmMemoryLimit } from './confinement/vm-cgroup';
import type { VmPaths } from './runtime-dir';
import { readVmFile } from '../../util/jailed-files';

/** What vm.json holds. */
export interface VmRecord {
  /** Format version of this record. */
  format: 1;
  id: string;
  size: VmSize;
  accel: 'kvm' | 'tcg';
  qemuPid: number;
  /** The rootfs share's virtiofsd; absent for a VM cloned from a template (9p: QEMU serves its files). */
  virtiofsdPid?: number;
  /** The volume share's virtiofsd, when the VM has one. */
  volumesVirtiofsdPid?: number;
  /** Devices the VM was booted with; absent in records of daemons before the device model (none). */
  devices?: VmDevices;
  /** ISO time the VM was started. */
  createdAt: string;
  kernel: string;
  initrd: string;
  /** How its files reach the guest; absent means virtio-fs (records before templates). */
  transport?: '9p';
}

/** Write vm.json atomically (temp file + rename). */
export function writeVmRecord(paths: VmPaths, record: VmRecord): void {
  const tmp = `${paths.record}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(record, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, paths.record);
}

/** The most of vm.json that is read (a record is a few hundred bytes). */
const RECORD_MAX_BYTES = 64 * 1024;

/**
 * The sizes a record may hold: what the daemon ever boots (the native API's bounds; a
 * checkpoint image's record is held to the same). A size beyond them is no record of ours.
 */
export const RECORD_MEMORY_MIB = { min: 16, max: 1024 * 1024 };
export const RECORD_CPUS = { min: 1, max: 1024 };
/** The longest createdAt (an ISO time), kernel and initrd path a record may hold. */
const MAX_TIME = 64;
const MAX_PATH = 4096;

/**
 * The memory limit of the cgroup the daemon made for the VM of `dir`, in bytes, as the kernel
 * has it now (a file no jailed process can write); undefined when the VM has no cgroup.
 */
export type MemoryLimitOf = (dir: string) => number | undefined;

/**
 * Read and check vm.json; undefined when missing, malformed, or naming anything the daemon
 * would not have written for this directory. In a flat directory (an earlier build's VM) its
 * QEMU could have written the record, so it is read as any file in a jail's reach is
 * (../../util/jailed-files.ts: no symlink, no FIFO), and every field is checked as hostile:
 * the id is the directory's, the taps are the id's (tapName), the volume share is the
 * directory's `volumes/` under its own tag, the disks are what the daemon plans; the size is
 * within what the daemon boots and, in a flat directory, must be the one the VM's cgroup was
 * made for (`memoryLimitOf`: its memory limit is the daemon's, from the size it booted: a record
 * that grew its size would otherwise have the VM's cgroup made again with a larger limit);
 * times and paths are bounded. The record returned is rebuilt from the checked fields only.
 * The pids are checked against /proc by the caller (./adopt.ts).
 */
export function readVmRecord(paths: VmPaths, memoryLimitOf: MemoryLimitOf = vmCgroupMemoryLimit): VmRecord | undefined {
  let raw: unknown;
  try {
    const buf = readVmFile(paths.record, RECORD_MAX_BYTES);
    if (!buf) return undefined;
    raw = JSON.parse(buf.toString('utf8'));
  } catch {
    return undefined;
  }
  const r = raw as Partial<VmRecord>;
  if (typeof r !== 'object' || r === null || !validFields(r, paths) || !validSize(r.size, paths, memoryLimitOf))
    return undefined;
  return {
    format: 1,
    id: r.id!,
    size: { memoryMiB: r.size!.memoryMiB, cpus: r.size!.cpus },
    accel: r.accel!,
    qemuPid: r.qemuPid!,
    ...(r.virtiofsdPid !== undefined ? { virtiofsdPid: r.virtiofsdPid } : {}),
    ...(r.volumesVirtiofsdPid !== undefined ? { volumesVirtiofsdPid: r.volumesVirtiofsdPid } : {}),
    ...(r.devices !== undefined ? { devices: rebuildDevices(r.devices) } : {}),
    createdAt: r.createdAt!,
    kernel: r.kernel!,
    initrd: r.initrd!,
    ...(r.transport !== undefined ? { transport: r.transport } : {}),
  };
}

const posInt = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n > 0 && n <= 0x7fffffff;
const intIn = (n: unknown, b: { min: number; max: number }): n is number =>
  typeof n === 'number' && Number.isInteger(n) && n >= b.min && n <= b.max;
const pathLike = (s: unknown): s is string => typeof s === 'string' && s.startsWith('/') && s.length <= MAX_PATH;

/** Everything of record `r` but its size. */
function validFields(r: Partial<VmRecord>, paths: VmPaths): boolean {
  return (
    r.format === 1 &&
    typeof r.id === 'string' &&
    r.id === path.basename(paths.dir) &&
    posInt(r.qemuPid) &&
    (r.transport === '9p'
      ? r.virtiofsdPid === undefined && r.volumesVirtiofsdPid === undefined
      : r.transport === undefined && posInt(r.virtiofsdPid)) &&
    (r.accel === 'kvm' || r.accel === 'tcg') &&
    pathLike(r.kernel) &&
    pathLike(r.initrd) &&
    typeof r.createdAt === 'string' &&
    r.createdAt.length <= MAX_TIME &&
    Number.isFinite(Date.parse(r.createdAt)) &&
    (r.volumesVirtiofsdPid === undefined || posInt(r.volumesVirtiofsdPid)) &&
    (r.devices === undefined || validDevices(r.devices, r.id, paths))
  );
}

/**
 * The record's size: within what the daemon boots, and in a flat directory the size the VM's
 * cgroup was made for, when it has one (see readVmRecord).
 */
function validSize(size: unknown, paths: VmPaths, memoryLimitOf: MemoryLimitOf): size is VmSize {
  const s = size as Partial<VmSize> | undefined;
  if (typeof s !== 'object' || s === null || !intIn(s.memoryMiB, RECORD_MEMORY_MIB) || !intIn(s.cpus, RECORD_CPUS))
    return false;
  if (paths.layout !== 'flat') return true;
  const limit = memoryLimitOf(paths.dir);
  return limit === undefined || limit === vmMemoryLimit(s as VmSize);
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/**
 * The devices part of vm.json of VM `id` in `paths`, checked against what the daemon plans
 * for it (a tampered record is not adoptable): at most MAX_NICS NICs, the taps its own, the
 * volume share its own directory's, the disks as planDevices makes them.
 */
function validDevices(d: unknown, id: string, paths: VmPaths): d is VmDevices {
  const v = d as Partial<VmDevices>;
  if (typeof v !== 'object' || v === null || !Array.isArray(v.nics) || v.nics.length > MAX_NICS) return false;
  const nicsOk = v.nics.every(
    (n, i) =>
      typeof n === 'object' &&
      n !== null &&
      n.tap === tapName(id, i) &&
      typeof n.mac === 'string' &&
      MAC_RE.test(n.mac) &&
      n.guestName === `eth${i}`,
  );
  const same = (a: unknown, b: object) =>
    typeof a === 'object' &&
    a !== null &&
    Object.keys(a).length === Object.keys(b).length &&
    Object.entries(b).every(([k, val]) => (a as Record<string, unknown>)[k] === val);
  const volOk = v.volumes === undefined || same(v.volumes, planVolumeShare(paths));
  const upperOk = v.upperDisk === undefined || same(v.upperDisk, planUpperDisk());
  const imageOk = v.imageDisk === undefined || same(v.imageDisk, planImageDisk());
  return nicsOk && volOk && upperOk && imageOk;
}

/** Checked devices, rebuilt from their fields alone. */
function rebuildDevices(d: VmDevices): VmDevices {
  return {
    nics: d.nics.map((n) => ({ tap: n.tap, mac: n.mac, guestName: n.guestName })),
    ...(d.volumes ? { volumes: { ...d.volumes } } : {}),
    ...(d.upperDisk ? { upperDisk: { ...d.upperDisk } } : {}),
    ...(d.imageDisk ? { imageDisk: { ...d.imageDisk } } : {}),
  };
}
