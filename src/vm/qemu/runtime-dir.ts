/**
 * The runtime directory of one VM, `<execRoot>/vms/<id>/`, and its record `vm.json`.
 *
 *   ctl.sock        agent control channel (QEMU listens; virtio-serial port org.podvisor.ctl)
 *   io.sock         agent stream channel (org.podvisor.io)
 *   qmp.sock        QEMU's QMP monitor (pause, resume, quit)
 *   locks.sock, locks.log   9p locks the guest takes on the host (org.podvisor.locks; a
 *                   clone's lock holder connects: src/vm/qemu/processes/lock-holder.ts)
 *   virtiofsd.sock  vhost-user socket between QEMU and this VM's virtiofsd
 *   share/          the directory virtiofsd serves; the guest sees it at /run/podvisor/share
 *   volumes.sock, volumes/, volumes-virtiofsd.log   the volume share, when the VM has one
 *                   (src/vm/devices/volume-share.ts)
 *   console.log     the guest's serial console (kernel messages, agent's `podvisor-agent:` lines)
 *   qemu.log        QEMU's own stdout/stderr
 *   virtiofsd.log   virtiofsd's stdout/stderr
 *   vm.json         pids, size, devices and boot configuration, so a restarted daemon can adopt the VM
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { VmDevices, VmSize } from '../types';

/** Paths inside one VM's runtime directory. */
export interface VmPaths {
  dir: string;
  ctlSock: string;
  ioSock: string;
  qmpSock: string;
  locksSock: string;
  locksLog: string;
  virtiofsdSock: string;
  shareDir: string;
  consoleLog: string;
  qemuLog: string;
  virtiofsdLog: string;
  volumesSock: string;
  volumesDir: string;
  volumesLog: string;
  record: string;
}

/** Directory holding every VM's runtime directory. */
export function vmsRoot(execRoot: string): string {
  return path.join(execRoot, 'vms');
}

/** The layout of VM `id`'s runtime directory. */
export function vmPaths(execRoot: string, id: string): VmPaths {
  return vmPathsAt(path.join(vmsRoot(execRoot), id));
}

/** The same layout in directory `dir` (a template's, under templates.ts's root). */
export function vmPathsAt(dir: string): VmPaths {
  return {
    dir,
    ctlSock: path.join(dir, 'ctl.sock'),
    ioSock: path.join(dir, 'io.sock'),
    qmpSock: path.join(dir, 'qmp.sock'),
    locksSock: path.join(dir, 'locks.sock'),
    locksLog: path.join(dir, 'locks.log'),
    virtiofsdSock: path.join(dir, 'virtiofsd.sock'),
    shareDir: path.join(dir, 'share'),
    consoleLog: path.join(dir, 'console.log'),
    qemuLog: path.join(dir, 'qemu.log'),
    virtiofsdLog: path.join(dir, 'virtiofsd.log'),
    volumesSock: path.join(dir, 'volumes.sock'),
    volumesDir: path.join(dir, 'volumes'),
    volumesLog: path.join(dir, 'volumes-virtiofsd.log'),
    record: path.join(dir, 'vm.json'),
  };
}

/** Ids are what we generate (hex) so they are safe as path components and short for sockets. */
export function isValidVmId(id: string): boolean {
  return /^[0-9a-f]{8,64}$/.test(id);
}

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

/** Read and check vm.json; undefined when missing or malformed. */
export function readVmRecord(paths: VmPaths): VmRecord | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(paths.record, 'utf8'));
  } catch {
    return undefined;
  }
  const r = raw as Partial<VmRecord>;
  const posInt = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n > 0;
  if (
    r?.format !== 1 ||
    typeof r.id !== 'string' ||
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
    (r.devices !== undefined && !validDevices(r.devices))
  ) {
    return undefined;
  }
  return r as VmRecord;
}

const TAP_RE = /^pv[0-9a-f]{12}[0-9]$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** The devices part of vm.json, shape-checked (a tampered record is not adoptable). */
function validDevices(d: unknown): d is VmDevices {
  const v = d as Partial<VmDevices>;
  if (!v || !Array.isArray(v.nics) || v.nics.length > 10) return false;
  const nicsOk = v.nics.every((n, i) => n && TAP_RE.test(n.tap) && MAC_RE.test(n.mac) && n.guestName === `eth${i}`);
  const vol = v.volumes;
  const volOk =
    vol === undefined || (typeof vol.hostDir === 'string' && typeof vol.tag === 'string' && vol.cache === 'auto');
  return nicsOk && volOk;
}
