/**
 * A VM saved whole for a checkpoint (docs/checkpoint.md), and a new VM started from
 * such a save. A checkpoint's directory (the caller's, 0700) holds:
 *   vm.state   QEMU's migration stream with every RAM page (saveState allRam), written while the
 *              VM was stopped, after the guest let go of its rootfs share (QemuVm.saveTo);
 *   vm.json    what a restore needs to start a QEMU the state loads into (SavedVmRecord): the
 *              VM's size, its devices and its code-buffer mode, the stamp of the guest
 *              kernel, initramfs (the agent is in it), kernel command line and QEMU binary it
 *              was saved under, and the image disk behind its image disk device (a file
 *              shared read-only with the image's other containers, not copied: a restore
 *              puts the same file behind the device, and refuses when it is gone or remade),
 *              and each NIC's guest interface as the save found it (its MAC, address, MTU,
 *              state: a restore keeps the MAC, ./clone-nics.ts), and the containers that had
 *              joined the VM (`--network container:X`): each one's id, its disks' SCSI
 *              addresses and its image disk (recorded as the VM's own);
 *   joined-N.disk  the save's copy of the N-th joined container's upper disk: only the fork
 *              template's guest reads it, to let that container go (./joined-drop.ts), so a
 *              checkpoint with joined containers is restored and forked from its template alone;
 *              unless they are the pod's own (`joinedStay`: a native pod of several): a restore
 *              then keeps each one, its disk an overlay over its copy (or over its template's
 *              `fork-joined-N.disk`, an overlay over that copy the template's guest ran on);
 *   fork.ram, fork.state  its fork template, made in the background right after the save
 *              (prepareForkTemplate; or at the first fork or restore of a checkpoint without
 *              one): the guest's RAM as a file, and the device state without it; a restore and
 *              every fork map the file copy-on-write instead of loading the whole state.
 * A restore (restoreVmFrom in ./clone.ts) refuses a stamp that differs from the daemon's now:
 * a state only loads into the same QEMU and devices, and a guest whose kernel or agent changed
 * under its memory would run code that is not there.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RestoreJoinedDisks, Vm } from '../../types';
import type { VmDeviceRequest } from '../../devices/types';
import type { GuestImages } from '../../guest-images';
import { InvalidArgumentError, UnavailableError } from '../../../errors';
import { writeFileAtomic } from '../../../util/atomic';
import { backingOf, dropMergedFiles, mustFlattenForSave } from '../../../util/disk-chain';
import { logger } from '../../../util/log';
import type { QemuTools } from '../binaries';
import { restoreVmFrom } from './clone';
import { makeForkTemplate, type ForkTemplateFiles } from './fork-template';
import { copyUpperDisk, removeUpperDiskCopy, type UpperDiskCopy } from '../../devices/upper-disk/upper-disk-checkpoint';
import { QemuVm } from '../qemu-vm';
import type { StartHost } from '../start-host';
import { saveStamp, stampDifference } from './save-stamp';
import type { SavedJoinedDisks, SavedShape } from './clone-layout';
import {
  CheckpointMismatchError,
  imageDiskIdentity,
  readSavedVm,
  savedJoinedDisks,
  savedNics,
  VM_STATE_FILE,
  VM_RECORD_FILE,
  type SavedJoinedRecord,
  type SavedVmRecord,
} from './saved-record';

export {
  CheckpointMismatchError,
  imageDiskIdentity,
  VM_RECORD_FILE,
  VM_STATE_FILE,
  type SavedJoinedRecord,
  type SavedVmRecord,
} from './saved-record';

const log = logger('vm');

/** Its fork template (made at the first fork): the device state, and the RAM file forks map. */
export const FORK_STATE_FILE = 'fork.state';
export const FORK_RAM_FILE = 'fork.ram';
/** Its fork template's disk: the save's copy of the disk as the template's guest left it. */
export const FORK_DISK_FILE = 'fork.disk';

/** A container that joined the VM being saved: its id and the host files behind its two disks. */
export interface JoinedToSave {
  containerId: string;
  upperFile: string;
  imageFile: string;
}

/**
 * The container's disk of a VM started from a checkpoint: `copy`, the save's copy of it (when
 * the checkpoint has one), and `take`, which makes the container's disk a copy-on-write
 * overlay over a copy (the save's, or its fork template's: restoreVm picks the one that
 * matches the guest's memory), when given, and answers the container's disk file (undefined
 * when it has none).
 */
export interface RestoreDisk {
  copy?: string;
  take(copy: string | undefined): Promise<string | undefined>;
}

/** The devices a VM was started with, as a request for a VM of the same devices. */
function deviceShape(vm: Vm): Required<VmDeviceRequest> {
  return {
    nics: vm.devices.nics.length,
    volumes: !!vm.devices.volumes,
    upperDisk: !!vm.devices.upperDisk,
    imageDisk: !!vm.devices.imageDisk,
  };
}

/**
 * Refuse the save in checkpoint `dir` when its stamp differs from this daemon's now
 * (CheckpointMismatchError, naming what differs: ./save-stamp.ts); a start checks it before it
 * makes anything.
 */
export function checkSavedVm(h: StartHost, tools: QemuTools, guest: GuestImages, dir: string): void {
  checkStamp(h, tools, guest, readSavedVm(dir));
}

/**
 * Refuse a save whose stamp differs from this daemon's now (CheckpointMismatchError), naming
 * what differs (./save-stamp.ts).
 */
function checkStamp(h: StartHost, tools: QemuTools, guest: GuestImages, record: SavedVmRecord): void {
  const why = stampDifference(record.stamp, saveStamp(h, tools, guest));
  if (why)
    throw new CheckpointMismatchError(
      `it was made under another guest kernel, agent or QEMU than this daemon runs now (docs/checkpoint.md): ${why}`,
    );
}

/**
 * Save running VM `vm` into checkpoint directory `dir` (see the module comment); `disk`: the
 * host file behind its upper disk, copied (sparse) to `disk.copy` while the VM is stopped
 * (src/vm/devices/upper-disk/upper-disk-checkpoint.ts), its copy-on-write chain flattened
 * first when a fork of the checkpoint would stand on too many files (src/util/disk-chain.ts);
 * `imageDisk`: the image disk file behind its image disk, recorded, not copied; `joined`: the
 * containers that joined the VM, their disks' addresses recorded, each one's upper disk copied
 * beside the VM's own (as `joined-N.disk`) and its image disk recorded; `joinedStay`: they are
 * the pod's own, and a restore keeps them (restoreVm). With
 * `leaveRunning` the VM runs on after the save; without, it stays stopped for the caller to
 * destroy. A failure removes what the save wrote and runs the VM on.
 */
export async function saveVm(
  h: StartHost,
  tools: QemuTools,
  guest: GuestImages,
  vm: Vm,
  dir: string,
  opts: {
    disk?: UpperDiskCopy;
    imageDisk?: string;
    joined?: JoinedToSave[];
    joinedStay?: boolean;
    leaveRunning: boolean;
  },
): Promise<void> {
  if (!(vm instanceof QemuVm)) throw new InvalidArgumentError(`VM ${vm.id} is not one of this hypervisor's`);
  const shape = { size: vm.size, devices: deviceShape(vm), splitWx: h.splitWx(vm.size) };
  // The file behind its image disk: the one it put there, or (a VM an earlier daemon started)
  // the caller's word for it.
  const imageDisk = vm.devices.imageDisk ? (vm.imageDiskFile ?? opts.imageDisk) : undefined;
  const identity = imageDisk ? imageDiskIdentity(imageDisk) : undefined;
  if (imageDisk && !identity) throw new UnavailableError(`its image disk ${imageDisk} is gone`);
  const record: SavedVmRecord = {
    format: 1,
    ...shape,
    stamp: saveStamp(h, tools, guest),
    savedAt: new Date().toISOString(),
    ...(imageDisk && identity ? { imageDisk: { file: imageDisk, identity } } : {}),
    ...(opts.disk ? { diskCopy: path.basename(opts.disk.copy) } : {}),
  };
  // Each NIC's guest interface as it is saved: a restore keeps the MAC, and the pod's network
  // join an interface its endpoint wants as it is (./clone-nics.ts). Without an answer, a
  // restore gives each NIC a new MAC.
  const listed = await vm.agent.listInterfaces().catch(() => undefined);
  if (listed) record.nics = vm.devices.nics.map((n) => listed.find((i) => i.name === n.guestName) ?? null);
  const joined = await joinedRecords(vm, opts.joined ?? []);
  if (joined.length > 0) record.joined = joined.map((j) => j.record);
  if (joined.length > 0 && opts.joinedStay) record.joinedStay = true;
  const disk = opts.disk;
  // A disk whose checkpoint's forks would stand on too many files is flattened first, by its
  // own QEMU while the guest runs on (src/util/disk-chain.ts); its merged files' links are
  // dropped once the stop for the save has QEMU's tables of it written out, before the copy.
  const flatten = disk !== undefined && mustFlattenForSave(disk.file);
  if (flatten) {
    const started = Date.now();
    const under = backingOf(disk.file).length;
    await vm.flattenUpperDisk();
    log.info(
      `VM ${vm.id}: the ${under - 1} qcow2 files under its disk merged into it (it stands on the raw one alone) in ${Date.now() - started} ms, before its save`,
    );
  }
  const joinedCopies = joined.map((j) => ({ file: j.upperFile, copy: path.join(dir, j.record.diskCopy) }));
  await vm.saveTo(path.join(dir, VM_STATE_FILE), async () => {
    if (disk && flatten) await dropMergedFiles(disk.file);
    if (disk) await copyUpperDisk(disk);
    for (const c of joinedCopies) await copyUpperDisk(c);
  });
  try {
    await writeFileAtomic(path.join(dir, VM_RECORD_FILE), JSON.stringify(record));
  } catch (err) {
    await fs.promises.rm(path.join(dir, VM_STATE_FILE), { force: true });
    if (disk) await removeUpperDiskCopy(disk);
    for (const c of joinedCopies) await removeUpperDiskCopy(c);
    await vm.resumeAfterSave().catch(() => undefined);
    throw err;
  }
  if (opts.leaveRunning) await vm.resumeAfterSave();
}

/**
 * What a save records of the containers that joined `vm` (`want`): where each one's disks sit,
 * and its image disk's identity; refused when an image disk is gone.
 */
async function joinedRecords(
  vm: QemuVm,
  want: JoinedToSave[],
): Promise<Array<{ upperFile: string; record: SavedJoinedRecord }>> {
  const out: Array<{ upperFile: string; record: SavedJoinedRecord }> = [];
  for (const [i, j] of want.entries()) {
    const identity = imageDiskIdentity(j.imageFile);
    if (!identity) throw new UnavailableError(`the image disk ${j.imageFile} of container ${j.containerId} is gone`);
    out.push({
      upperFile: j.upperFile,
      record: {
        containerId: j.containerId,
        diskCopy: `joined-${i}.disk`,
        imageDisk: { file: j.imageFile, identity },
        at: await vm.joinedDiskAddresses(j.containerId),
      },
    });
  }
  return out;
}

/**
 * A new VM started from the save in checkpoint directory `dir`, the container's disk (`disk`:
 * the copy that matches the guest's memory put over it first) behind its upper disk and the image disk its record names behind its image disk before the state
 * loads. CheckpointMismatchError when the save was made under another guest kernel, agent or
 * QEMU than this daemon's now, or its image disk is gone or was made again since. The VM maps
 * the checkpoint's fork template's RAM copy-on-write when the template is made (or once the
 * make under way ends), so that the VMs of one checkpoint share the guest's pages none of
 * them wrote and no start reads the whole state; without one, a restore loads the whole state
 * into RAM of its own, and a fork (`fork`) makes the template first.
 */
export async function restoreVm(
  h: StartHost,
  tools: QemuTools,
  guest: GuestImages,
  dir: string,
  disk?: RestoreDisk,
  opts: { fork?: boolean; joined?: RestoreJoinedDisks } = {},
): Promise<Vm> {
  const record = readSavedVm(dir);
  const shape = { size: record.size, devices: record.devices, splitWx: record.splitWx };
  checkStamp(h, tools, guest, record);
  const imageDisk = record.imageDisk?.file;
  if (record.imageDisk && imageDiskIdentity(record.imageDisk.file) !== record.imageDisk.identity)
    throw new CheckpointMismatchError(
      `the image disk it was saved over (${record.imageDisk.file}) is gone or was made again since: its image was removed (docs/checkpoint.md)`,
    );
  if (record.joinedStay) return restorePodOfSeveral(h, tools, guest, dir, record, shape, opts);
  const diskCopy = record.diskCopy ? path.join(dir, record.diskCopy) : disk?.copy;
  // A save with joined containers in it starts from its fork template alone: the template's
  // guest let them go (./joined-drop.ts). Their disks are needed only to make it.
  const fromTemplateOnly = (record.joined?.length ?? 0) > 0;
  const template =
    opts.fork || fromTemplateOnly
      ? (madeAlready(dir) ??
        (await forkTemplate(h, tools, guest, dir, shape, {
          imageDisk,
          diskCopy,
          joined: savedJoinedDisks(dir, record),
        })))
      : madeAlready(dir);
  const source = template ?? { stateFile: path.join(dir, VM_STATE_FILE) };
  // The template's guest ran a moment after the save, on its own copy of the disk: that copy
  // is the one its memory knows (a template made before templates had disks: the save's).
  const diskFile = await disk?.take(template?.diskFile ?? disk.copy);
  return restoreVmFrom(
    h,
    tools,
    guest,
    shape,
    { stateFile: source.stateFile, ...(template ? { ramFile: template.ramFile } : {}) },
    {
      ...(diskFile ? { disk: diskFile } : {}),
      ...(imageDisk ? { imageDisk } : {}),
    },
    savedNics(record),
  );
}

/**
 * A new VM started from checkpoint `dir` (record `record`, of `shape`) of a native pod of
 * several: each container's disks hot-plugged where the save found them, by the names they had
 * (a fork's containers keep them: PodContainerSpec.diskName), before the state loads, each
 * upper disk an overlay (`opts.joined.take`) over the copy its memory knows: its fork
 * template's own (the template made, or for a fork made first), its RAM then mapped
 * copy-on-write; else the save's, the whole state loaded. Refused without `opts.joined`.
 */
async function restorePodOfSeveral(
  h: StartHost,
  tools: QemuTools,
  guest: GuestImages,
  dir: string,
  record: SavedVmRecord,
  shape: SavedShape,
  opts: { fork?: boolean; joined?: RestoreJoinedDisks },
): Promise<Vm> {
  const take = opts.joined;
  if (!take) throw new UnavailableError("a checkpoint of a pod of several containers needs its containers' disks");
  const saved = savedJoinedDisks(dir, record);
  const made = madeAlready(dir, saved.length);
  const template = opts.fork
    ? (made ?? (await forkTemplate(h, tools, guest, dir, shape, templateDisksOf(dir, record))))
    : made;
  const joined: SavedJoinedDisks[] = [];
  for (const [i, j] of saved.entries())
    joined.push({ ...j, upperFile: await take.take(j.containerId, template?.joinedDisks?.[i] ?? j.upperFile) });
  return restoreVmFrom(
    h,
    tools,
    guest,
    shape,
    template
      ? { stateFile: template.stateFile, ramFile: template.ramFile }
      : { stateFile: path.join(dir, VM_STATE_FILE) },
    { ...(record.imageDisk ? { imageDisk: record.imageDisk.file } : {}), joined },
    savedNics(record),
  );
}

/**
 * Make the fork template of checkpoint `dir` now, unless it is there or being made (a save
 * starts it, so that a restore and the first fork map its RAM instead of loading the whole
 * state). Refused as a restore is (CheckpointMismatchError) when the checkpoint cannot be
 * started by this daemon.
 */
export async function prepareForkTemplate(
  h: StartHost,
  tools: QemuTools,
  guest: GuestImages,
  dir: string,
): Promise<void> {
  const record = readSavedVm(dir);
  const shape = { size: record.size, devices: record.devices, splitWx: record.splitWx };
  checkStamp(h, tools, guest, record);
  await forkTemplate(h, tools, guest, dir, shape, templateDisksOf(dir, record));
}

/**
 * What the fork template of checkpoint `dir` (record `r`) runs on: the image disk, the save's
 * copy of the upper disk, and the joined containers' disks (let go, or for a pod of several
 * kept on overlays of the template's own: `keepJoined`).
 */
function templateDisksOf(dir: string, r: SavedVmRecord): Parameters<typeof forkTemplate>[5] {
  return {
    imageDisk: r.imageDisk?.file,
    diskCopy: r.diskCopy ? path.join(dir, r.diskCopy) : undefined,
    joined: savedJoinedDisks(dir, r),
    ...(r.joinedStay ? { keepJoined: true } : {}),
  };
}

/**
 * Where the fork template of checkpoint `dir` is kept, `withDisk` when it has a disk of its own,
 * and `joinedDisks` of a pod of several's containers (`fork-joined-N.disk`).
 */
function forkTemplateFiles(dir: string, withDisk: boolean, joinedDisks = 0): ForkTemplateFiles {
  return {
    stateFile: path.join(dir, FORK_STATE_FILE),
    ramFile: path.join(dir, FORK_RAM_FILE),
    ...(withDisk ? { diskFile: path.join(dir, FORK_DISK_FILE) } : {}),
    ...(joinedDisks > 0
      ? { joinedDisks: Array.from({ length: joinedDisks }, (_, i) => path.join(dir, `fork-joined-${i}.disk`)) }
      : {}),
  };
}

/**
 * The fork template of checkpoint `dir` when its files are there (its disk, when it has one;
 * its state is renamed into place last); undefined when there is none or it is still being
 * made (a restore then loads the whole state: writing the template's RAM file takes longer
 * than that load).
 */
function madeAlready(dir: string, joinedDisks = 0): ForkTemplateFiles | undefined {
  const out = forkTemplateFiles(dir, fs.existsSync(path.join(dir, FORK_DISK_FILE)), joinedDisks);
  const files = [out.stateFile, out.ramFile, ...(out.joinedDisks ?? [])];
  return files.every((f) => fs.existsSync(f)) ? out : undefined;
}

/**
 * Cancel the makes of fork templates of checkpoints in or under directory `dir` (being
 * removed); resolves once none is left.
 */
export async function forkTemplatesSettled(dir: string): Promise<void> {
  const under = (d: string) => d === dir || d.startsWith(`${dir}${path.sep}`);
  const making = [...makingForkTemplates].filter(([d]) => under(d)).map(([, m]) => m);
  for (const m of making) m.cancel.abort();
  await Promise.allSettled(making.map((m) => m.made));
}

/** The fork templates being made, by checkpoint directory (one at a time each). */
const makingForkTemplates = new Map<string, { made: Promise<ForkTemplateFiles>; cancel: AbortController }>();

/**
 * The fork template of checkpoint `dir` (FORK_STATE_FILE, FORK_RAM_FILE and, for a checkpoint
 * with a disk copy, FORK_DISK_FILE beside its state; ./fork-template.ts makeForkTemplate),
 * made once (the save starts it: prepareForkTemplate) and kept with the checkpoint.
 * `disks.imageDisk`: the image disk behind its image disk; `disks.diskCopy`: the save's copy
 * of its upper disk, which the template's own disk starts as; `disks.joined`: the disks of the
 * containers that had joined the VM, which the template lets go, or with `disks.keepJoined`
 * (a pod of several) keeps, each on a disk of its own (`fork-joined-N.disk`).
 */
function forkTemplate(
  h: StartHost,
  tools: QemuTools,
  guest: GuestImages,
  dir: string,
  shape: Parameters<typeof makeForkTemplate>[3],
  disks: { imageDisk?: string; diskCopy?: string; joined?: SavedJoinedDisks[]; keepJoined?: boolean },
): Promise<ForkTemplateFiles> {
  const kept = disks.keepJoined ? (disks.joined?.length ?? 0) : 0;
  const made = madeAlready(dir, kept);
  if (made) return Promise.resolve(made);
  let m = makingForkTemplates.get(dir);
  if (!m) {
    const out = forkTemplateFiles(dir, disks.diskCopy !== undefined, kept);
    const cancel = new AbortController();
    const made = makeForkTemplate(h, tools, guest, shape, path.join(dir, VM_STATE_FILE), out, disks, cancel.signal)
      .then(() => out)
      .finally(() => makingForkTemplates.delete(dir));
    m = { made, cancel };
    makingForkTemplates.set(dir, m);
  }
  return m.made;
}
