/**
 * A VM's record, `vm.json` in its runtime directory (./runtime-dir.ts): what a restarted daemon
 * adopts it by (./adopt.ts), written by the daemon alone, and checked when read as a record a
 * jailed process might have written.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { VmDevices, VmSize } from '../types';
import { tapName } from '../devices/nic';
import { planVolumeShare } from '../devices/volume-share';
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
 * Read and check vm.json; undefined when missing, malformed, or naming anything the daemon
 * would not have written for this directory. In a flat directory (an earlier build's VM) its
 * QEMU could have written the record, so it is read as any file in a jail's reach is
 * (../../util/jailed-files.ts: no symlink, no FIFO) and each field that names something on the host is
 * checked against what the daemon derives itself: the id is the directory's, the taps are
 * the id's (tapName), the volume share is the directory's `volumes/` under its own tag; the
 * pids are checked against /proc by the caller (./adopt.ts).
 */
export function readVmRecord(paths: VmPaths): VmRecord | undefined {
  let raw: unknown;
  try {
    const buf = readVmFile(paths.record, RECORD_MAX_BYTES);
    if (!buf) return undefined;
    raw = JSON.parse(buf.toString('utf8'));
  } catch {
    return undefined;
  }
  const r = raw as Partial<VmRecord>;
  const posInt = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n > 0;
  if (
    r?.format !== 1 ||
    typeof r.id !== 'string' ||
    r.id !== path.basename(paths.dir) ||
    !posInt(r.qemuPid) ||
    (r.transport === '9p'
      ? r.virtiofsdPid !== undefined || r.volumesVirtiofsdPid !== undefined
      : r.transport !== undefined || !posInt(r.virtiofsdPid)) ||
    (r.accel !== 'kvm' && r.accel !== 'tcg') ||
    !r.size ||
    !posInt(r.size.memoryMiB) ||
    !posInt(r.size.cpus) ||
    typeof r.kernel !== 'string' ||
    typeof r.initrd !== 'string' ||
    typeof r.createdAt !== 'string' ||
    (r.volumesVirtiofsdPid !== undefined && !posInt(r.volumesVirtiofsdPid)) ||
    (r.devices !== undefined && !validDevices(r.devices, r.id, paths))
  ) {
    return undefined;
  }
  return r as VmRecord;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/**
 * The devices part of vm.json of VM `id` in `paths`, checked against what the daemon plans
 * for it (a tampered record is not adoptable): the taps are its own, the volume share is its
 * own directory's.
 */
function validDevices(d: unknown, id: string, paths: VmPaths): d is VmDevices {
  const v = d as Partial<VmDevices>;
  if (!v || !Array.isArray(v.nics) || v.nics.length > 10) return false;
  const nicsOk = v.nics.every(
    (n, i) => n && n.tap === tapName(id, i) && MAC_RE.test(n.mac) && n.guestName === `eth${i}`,
  );
  const vol = v.volumes;
  const want = planVolumeShare(paths);
  const volOk = vol === undefined || (vol.hostDir === want.hostDir && vol.tag === want.tag && vol.cache === want.cache);
  return nicsOk && volOk;
}
