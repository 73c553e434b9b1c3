/**
 * Cloning a VM from a template (templates.ts) instead of booting it: QEMU started on the
 * template's RAM and state, the agent activated; a failure removes everything it made.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import type { Agent, Vm, VmConfig, VmDevices, VmSize } from '../../types';
import type { GuestImages } from '../../guest-images';
import { normalizeRequest } from '../../devices';
import { UnavailableError } from '../../../errors';
import { logger } from '../../../util/log';
import type { QemuTools } from '../binaries';
import { qemuArgs, TCG_TB_SIZE_MIB } from '../cmdline';
import { writeVmRecord, type VmPaths } from '../runtime-dir';
import { processCpuMs } from '../processes/processes';
import { killSpawned, programPid } from '../confinement/jailed-process';
import { QemuVm, type ProcessEnd } from '../qemu-vm';
import { faultPoint } from '../fault';
import { spawnConfinedQemu } from '../confinement/confinement';
import { startLockHolder } from '../processes/lock-holder';
import {
  bootFailureDetail,
  childEnd,
  cleanupDir,
  HOST_LEFT_LINES,
  raceBoot,
  waitForConsole,
  waitForSocket,
} from '../start-steps';
import type { VmTemplates } from './templates';
import { connectWhenListening, restoreClone, saveState } from './migration';
import { attachFile } from '../../devices/upper-disk/upper-disk-qmp';
import { attachImageFile } from '../../devices/image-disk/image-disk-qmp';
import { shareVmDir } from '../confinement/jail-mounts';
import { activeJail } from '../confinement/jail';
import { hostQemuOptions, type StartHost } from '../start-host';

const log = logger('vm');

/** The fd a clone's QEMU gets its template's state file on (the first after stdio). */
const CLONE_STATE_FD = 3;

/**
 * What a clone starts from: a template's state and RAM file, or a checkpoint's state (saved with
 * all its RAM, `allRam`: the RAM file is then the clone's own, new) and the disk to put behind
 * its upper disk before the state loads.
 */
export interface SavedState {
  stateFile: string;
  /** The RAM file to map (a template's), or to write (`shareRam`); unused with `allRam` alone (anonymous RAM). */
  ramFile: string;
  allRam?: boolean;
  /** A checkpoint's state (or its fork template's): see restoreVmFrom. */
  checkpoint?: boolean;
  /** QEMU writes the RAM into `ramFile` (a fork template being made), instead of mapping it copy-on-write. */
  shareRam?: boolean;
  disk?: string;
  /** The image disk file to put behind its image disk before the state loads (a checkpoint's). */
  imageDisk?: string;
}

/** A clone's id, runtime directory, devices and shape: what each of its steps works on. */
interface CloneLayout {
  id: string;
  paths: VmPaths;
  devices: VmDevices;
  size: VmSize;
  splitWx: boolean;
}

/** What a clone has made so far, for its failure to undo (undoFailedClone). */
interface CloneProgress {
  /** The template's state file, open until QEMU has it. */
  stateFd?: number;
  /** The clone's QEMU, once spawned. */
  qemu?: ChildProcess;
  /** The agent's connection, once asked for. */
  agentPromise?: Promise<Agent>;
  /** True once the template's state was loaded: a later failure is not the template's. */
  restored: boolean;
}

/**
 * A VM cloned from the template of its shape (templates.ts): QEMU started with the
 * template's RAM mapped copy-on-write and `-incoming defer`, the template's state loaded, then
 * the agent's handshake, ACTIVATE (wall clock, random pool, rootfs share) and each NIC given
 * this VM's own hardware address (the restored device has the template's).
 */
export async function cloneVm(
  h: StartHost,
  tools: QemuTools,
  guest: GuestImages,
  config: VmConfig,
  templates: VmTemplates,
): Promise<Vm> {
  const size = config.size;
  const splitWx = h.splitWx(size);
  const tpl = await templates.get({
    size,
    devices: normalizeRequest(config.devices),
    guest,
    cmdline: h.cmdline,
    accel: h.opts.accel,
    splitWx,
  });
  const layout: CloneLayout = { ...h.newRuntimeDir(config), size, splitWx };
  return startFromState(h, tools, guest, layout, { stateFile: tpl.stateFile, ramFile: tpl.ramFile }, (made, err) =>
    undoFailedClone(h, `cloned from template ${tpl.key}`, layout, made, err, () => templates.discard(tpl.key)),
  );
}

/**
 * A VM restored from a checkpoint (./checkpoint.ts), of `shape`, `disks.disk` (when given) behind
 * its upper disk and `disks.imageDisk` behind its image disk before the state loads: the steps of a clone, its devices this VM's own (new taps
 * and MACs). From the checkpoint's own state (`stateFile`, saved with all its RAM) the VM's RAM
 * is anonymous memory of its own (pages saved as zero stay unallocated); from a fork template (`ramFile` given: forkTemplateOf) it maps the
 * template's RAM file copy-on-write, as a clone of a template does, so that forks share the
 * pages none of them wrote.
 */
export async function restoreVmFrom(
  h: StartHost,
  tools: QemuTools,
  guest: GuestImages,
  shape: { size: VmSize; devices: VmConfig['devices']; splitWx: boolean },
  source: { stateFile: string; ramFile?: string },
  disks: { disk?: string; imageDisk?: string } = {},
): Promise<Vm> {
  const layout: CloneLayout = {
    ...h.newRuntimeDir({ size: shape.size, devices: shape.devices }),
    size: shape.size,
    splitWx: shape.splitWx,
  };
  const from: SavedState = {
    stateFile: source.stateFile,
    ramFile: source.ramFile ?? path.join(layout.paths.dir, 'ram'),
    allRam: source.ramFile === undefined,
    checkpoint: true,
    ...(disks.disk ? { disk: disks.disk } : {}),
    ...(disks.imageDisk ? { imageDisk: disks.imageDisk } : {}),
  };
  return startFromState(h, tools, guest, layout, from, (made, err) =>
    undoFailedClone(h, 'restored from a checkpoint', layout, made, err),
  );
}

/**
 * Make the fork template of a checkpoint: its state (`stateFile`, saved with all its RAM)
 * loaded into a QEMU of `shape` that writes the RAM into `out.ramFile`, run until its agent has
 * seen its old host leave (a moment: its network is on no bridge), and saved again without
 * the RAM (x-ignore-shared) into `out.stateFile`. Each fork then maps that RAM
 * file copy-on-write (restoreVmFrom with `ramFile`). Both files are written under temporary
 * names and renamed when whole; the QEMU and its directory are gone when this returns.
 * `imageDisk`: the checkpoint's image disk, behind the template's image disk while it runs.
 */
export async function makeForkTemplate(
  h: StartHost,
  tools: QemuTools,
  guest: GuestImages,
  shape: { size: VmSize; devices: VmConfig['devices']; splitWx: boolean },
  stateFile: string,
  out: { stateFile: string; ramFile: string },
  imageDisk?: string,
): Promise<void> {
  const layout: CloneLayout = {
    ...h.newRuntimeDir({ size: shape.size, devices: shape.devices }),
    size: shape.size,
    splitWx: shape.splitWx,
  };
  const tmp = { stateFile: `${out.stateFile}.tmp`, ramFile: `${out.ramFile}.tmp` };
  const made: CloneProgress = { restored: false };
  try {
    await fs.promises.rm(tmp.ramFile, { force: true });
    const from: SavedState = { stateFile, ramFile: tmp.ramFile, allRam: true, checkpoint: true, shareRam: true };
    const qemu = await spawnCloneQemu(h, tools, guest, layout, from, made);
    h.startingQemu(qemu);
    await waitForSocket(layout.paths.qmpSock, qemu, 3000, 'QEMU');
    if (imageDisk) await attachImageAtLoad(layout, imageDisk);
    await raceBoot(
      restoreClone(layout.paths.qmpSock, CLONE_STATE_FD, { allRam: true, checkpoint: true }),
      childEnd(qemu),
      h.bootTimeoutMs,
      "the checkpoint's state was loaded",
    );
    // It runs until its agent has seen its old host leave (its ports emptied), and is saved
    // then, as a template is: each fork's agent then waits for its host with nothing stale.
    await waitForConsole(layout.paths.consoleLog, HOST_LEFT_LINES, h.bootTimeoutMs, "the fork template's agent").catch(
      () => undefined,
    );
    await saveState(layout.paths, tmp.stateFile, { socket: path.join(layout.paths.dir, 'state.sock') });
    await fs.promises.rename(tmp.ramFile, out.ramFile);
    await fs.promises.rename(tmp.stateFile, out.stateFile);
  } catch (err) {
    await fs.promises.rm(tmp.ramFile, { force: true });
    await fs.promises.rm(tmp.stateFile, { force: true });
    throw new UnavailableError(`the fork template could not be made: ${(err as Error).message}`);
  } finally {
    if (made.qemu) h.starting.delete(made.qemu);
    if (made.stateFd !== undefined) fs.closeSync(made.stateFd);
    if (made.qemu?.pid) await killSpawned(made.qemu);
    await cleanupDir(layout.paths);
    h.own.delete(layout.id);
  }
}

/**
 * The steps of a clone from `from`: QEMU spawned waiting for its state, vm.json written, the
 * state loaded, the agent connected and activated, each NIC given this VM's address. A failure
 * is undone by `undo` and thrown.
 */
async function startFromState(
  h: StartHost,
  tools: QemuTools,
  guest: GuestImages,
  layout: CloneLayout,
  from: SavedState,
  undo: (made: CloneProgress, err: unknown) => Promise<UnavailableError>,
): Promise<Vm> {
  const started = Date.now();
  const { id, devices } = layout;
  const made: CloneProgress = { restored: false };
  try {
    const qemu = await spawnCloneQemu(h, tools, guest, layout, from, made);
    faultPoint('clone-after-qemu-spawn');
    h.startingQemu(qemu);
    const processEnd = childEnd(qemu);
    writeCloneRecord(h, guest, layout, qemu);
    faultPoint('clone-after-vm-json');
    await loadSavedState(h, layout, qemu, processEnd, from, made);
    // A checkpoint was saved with its host connected: the restored agent first sees that host
    // leave, and drops what is in its ports then; a new host's handshake sent before that
    // would be dropped with it, and never answered.
    if (from.checkpoint && from.allRam)
      await waitForConsole(layout.paths.consoleLog, HOST_LEFT_LINES, h.bootTimeoutMs, 'the restored agent').catch(
        () => undefined,
      );
    const restoredMs = Date.now() - started;
    const agent = await connectCloneAgent(h, layout, processEnd, made);
    const connectedMs = Date.now() - started;
    await activateCloneAgent(agent);
    const activatedMs = Date.now() - started;
    // Sent together: the agent answers in order, so this costs one round trip, not one per NIC.
    await Promise.all(devices.nics.map((nic) => agent.configureInterface({ name: nic.guestName, setMac: nic.mac })));
    if (h.closing) {
      agent.close();
      throw new UnavailableError('the daemon is shutting down');
    }
    log.debug(
      `VM ${id} ${from.checkpoint ? 'restored from a checkpoint' : 'cloned from a template'} in ${Date.now() - started} ms (state loaded after ${restoredMs} ms, agent connected after ${connectedMs} ms, activated after ${activatedMs} ms; QEMU CPU ${processCpuMs(programPid(qemu)) ?? '?'} ms; qemu pid ${programPid(qemu)})`,
    );
    h.starting.delete(qemu);
    return h.owned(clonedVm(layout, qemu, agent, processEnd, from.allRam !== true, !!from.disk, from.imageDisk));
  } catch (err) {
    throw await undo(made, err);
  }
}

/**
 * Spawn the clone's QEMU, confined, on the template's RAM file and waiting for its state
 * (`-incoming`), which it gets on CLONE_STATE_FD.
 */
async function spawnCloneQemu(
  h: StartHost,
  tools: QemuTools,
  guest: GuestImages,
  layout: CloneLayout,
  from: SavedState,
  made: CloneProgress,
): Promise<ChildProcess> {
  const { id, size, paths, devices, splitWx } = layout;
  await shareVmDir(paths.dir);
  // A fork template being made writes its RAM file, which must exist to be bound in its jail.
  if (from.shareRam) fs.writeFileSync(from.ramFile, '', { mode: 0o600, flag: 'a' });
  // A template's (or fork template's) RAM file, mapped copy-on-write: read-only in the jail when
  // this QEMU can map it so; the RAM file of a restore of its own is in its directory.
  const ramMapped = !from.shareRam && path.dirname(path.resolve(from.ramFile)) !== path.resolve(paths.dir);
  // A checkpoint's own state carries all its RAM: loaded into anonymous memory, where the pages
  // the stream marks as zero stay unallocated (qemuArgs `ram`).
  const anonymousRam = from.allRam === true && !from.shareRam;
  made.stateFd = fs.openSync(from.stateFile, 'r'); // close-on-exec, as every fd Node opens
  made.qemu = await spawnConfinedQemu(
    tools.cloneQemu,
    qemuArgs({
      ...hostQemuOptions(h, guest),
      id,
      size,
      paths,
      devices,
      splitWx,
      transport: '9p',
      ram: anonymousRam
        ? 'anonymous'
        : {
            file: from.ramFile,
            share: from.shareRam === true,
            readOnlyFile: ramMapped && tools.cloneQemu.privateRamReadOnly === true && activeJail() !== undefined,
          },
      incoming: true,
      tapFds: activeJail() !== undefined,
    }),
    paths.qemuLog,
    [made.stateFd],
    {
      dir: paths.dir,
      readOnly: [
        guest.kernel,
        guest.initrd,
        ...(ramMapped && tools.cloneQemu.privateRamReadOnly ? [from.ramFile] : []),
      ],
      readWrite: from.shareRam || (ramMapped && !tools.cloneQemu.privateRamReadOnly) ? [from.ramFile] : [],
      size,
      accel: h.opts.accel,
      taps: devices.nics.map((n) => n.tap),
    },
  );
  fs.closeSync(made.stateFd);
  made.stateFd = undefined;
  return made.qemu;
}

/** Write the clone's vm.json, by which a later daemon adopts it. */
function writeCloneRecord(h: StartHost, guest: GuestImages, layout: CloneLayout, qemu: ChildProcess): void {
  const { id, size, paths, devices } = layout;
  writeVmRecord(paths, {
    format: 1,
    id,
    size,
    accel: h.opts.accel,
    qemuPid: programPid(qemu),
    devices,
    createdAt: new Date().toISOString(),
    kernel: guest.kernel,
    initrd: guest.initrd,
    transport: '9p',
  });
}

/** Put `file` behind the image disk of a QEMU waiting for its state (its QMP socket is there). */
async function attachImageAtLoad(layout: CloneLayout, file: string): Promise<void> {
  const q = await connectWhenListening(layout.paths.qmpSock);
  try {
    await attachImageFile(q, layout.paths.dir, file);
  } finally {
    q.close();
  }
}

/**
 * Load the saved state into the clone's QEMU, once its QMP socket is there; a file to put
 * behind the upper disk and one behind the image disk first (a checkpoint's: its guest has
 * their filesystems mounted).
 */
async function loadSavedState(
  h: StartHost,
  layout: CloneLayout,
  qemu: ChildProcess,
  processEnd: Promise<ProcessEnd>,
  from: SavedState,
  made: CloneProgress,
): Promise<void> {
  await waitForSocket(layout.paths.qmpSock, qemu, 3000, 'QEMU');
  const disk = from.disk;
  if (disk) {
    // Its socket file exists from bind(2) a moment before QEMU listens on it.
    const q = await connectWhenListening(layout.paths.qmpSock);
    try {
      await attachFile(q, layout.paths.dir, disk);
    } finally {
      q.close();
    }
  }
  if (from.imageDisk) await attachImageAtLoad(layout, from.imageDisk);
  await raceBoot(
    restoreClone(layout.paths.qmpSock, CLONE_STATE_FD, { allRam: from.allRam === true, checkpoint: from.checkpoint }),
    processEnd,
    h.bootTimeoutMs,
    from.checkpoint ? "the checkpoint's state was loaded" : "the template's state was loaded",
  );
  made.restored = true;
}

/** Start the holder of the guest's 9p locks and connect to the restored agent. */
async function connectCloneAgent(
  h: StartHost,
  layout: CloneLayout,
  processEnd: Promise<ProcessEnd>,
  made: CloneProgress,
): Promise<Agent> {
  const { paths } = layout;
  // The holder of the guest's 9p locks connects once the state is loaded, as the agent's
  // client does: the port's connection, made before, would be the template's (none) again.
  await startLockHolder(paths);
  made.agentPromise = h.opts.connectAgent({
    ctlPath: paths.ctlSock,
    ioPath: paths.ioSock,
    timeoutMs: h.bootTimeoutMs,
  });
  const agent = await raceBoot(made.agentPromise, processEnd, h.bootTimeoutMs + 1000);
  faultPoint('clone-after-agent-connect');
  return agent;
}

/** ACTIVATE the restored agent: this VM's wall clock and random pool, and its rootfs share mounted. */
async function activateCloneAgent(agent: Agent): Promise<void> {
  if (!agent.activate) throw new Error('the agent cannot be activated');
  await agent.activate({ timeNs: BigInt(Date.now()) * 1_000_000n, entropy: randomBytes(64), mountShare: true });
}

/** The cloned VM, its agent activated. */
function clonedVm(
  layout: CloneLayout,
  qemu: ChildProcess,
  agent: Agent,
  processEnd: Promise<ProcessEnd>,
  sharedRam: boolean,
  diskFileAttached: boolean,
  imageFile: string | undefined,
): QemuVm {
  const { id, size, devices, paths, splitWx } = layout;
  return new QemuVm({
    id,
    size,
    devices,
    paths,
    qemuPid: programPid(qemu),
    virtiofsdPids: [],
    agent,
    processEnd,
    virtiofsdEnd: new Promise<ProcessEnd>(() => undefined),
    clone: sharedRam,
    ...(splitWx ? { jitBufferBytes: TCG_TB_SIZE_MIB * 1048576 } : {}),
    // The clone's QEMU starts with the placeholder behind its disk; a checkpoint's file was
    // put there before its state loaded (loadSavedState).
    upperFileAttached: diskFileAttached,
    imageFileAttached: imageFile ?? false,
  });
}

/**
 * Undo what a failed clone made (its QEMU, state file, agent connection, runtime directory;
 * `badSource` is told when the state did not load: a template is then rebuilt) and give the
 * error to throw; `what` says what the VM could not be ("cloned from template K").
 */
async function undoFailedClone(
  h: StartHost,
  what: string,
  layout: CloneLayout,
  made: CloneProgress,
  err: unknown,
  badSource?: () => void,
): Promise<UnavailableError> {
  const { id, paths } = layout;
  if (made.qemu) h.starting.delete(made.qemu);
  if (made.stateFd !== undefined) fs.closeSync(made.stateFd);
  made.agentPromise?.then(
    (a) => a.close(),
    () => undefined,
  );
  if (made.qemu?.pid) await killSpawned(made.qemu);
  const detail = bootFailureDetail(paths);
  await cleanupDir(paths);
  h.own.delete(id);
  // A state that does not load is a bad template: the next clone builds a new one.
  if (!made.restored) badSource?.();
  return new UnavailableError(`VM ${id} could not be ${what}: ${(err as Error).message}${detail}`);
}
