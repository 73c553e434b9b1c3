/**
 * Cloning a VM from a template (templates.ts) instead of booting it: QEMU started on the
 * template's RAM and state, the agent activated; a failure removes everything it made. The
 * steps: the clone's QEMU (./clone-qemu.ts), its state loaded (./clone-load.ts), its agent
 * (./clone-agent.ts), the undo of a failure (./clone-undo.ts).
 */
import type { ChildProcess } from 'node:child_process';
import type { Agent, InterfaceInfo, Vm, VmConfig } from '../../types';
import type { GuestImages } from '../../guest-images';
import { normalizeRequest } from '../../devices';
import { UnavailableError } from '../../../errors';
import { logger } from '../../../util/log';
import type { QemuTools } from '../binaries';
import { TCG_TB_SIZE_MIB } from '../cmdline';
import { processCpuMs } from '../processes/processes';
import { programPid } from '../confinement/jailed-process';
import { QemuVm } from '../qemu-vm';
import type { ProcessEnd } from '../qemu-vm-init';
import { faultPoint } from '../fault';
import { childEnd } from '../start-steps';
import type { StartHost } from '../start-host';
import type { VmTemplates } from './templates';
import {
  checkpointCloneLayout,
  type CloneLayout,
  type CloneProgress,
  type SavedShape,
  type SavedJoinedDisks,
  type SavedState,
} from './clone-layout';
import { spawnCloneQemu, writeCloneRecord } from './clone-qemu';
import { loadSavedState } from './clone-load';
import { activateCloneAgent, connectCloneAgent } from './clone-agent';
import { undoFailedClone } from './clone-undo';
import { adoptSavedNics, settleCloneNics } from './clone-nics';

const log = logger('vm');

/**
 * A VM cloned from the template of its shape (templates.ts): QEMU started with the
 * template's RAM mapped copy-on-write and `-incoming defer`, the template's state loaded, then
 * the agent's handshake, ACTIVATE (wall clock, random pool, rootfs share: a restored
 * checkpoint's share waits for a create that reads it, activateCloneAgent) and each NIC given
 * this VM's own hardware address (the restored device has the template's; a restored
 * checkpoint's NICs keep their guest's: ./clone-nics.ts).
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
 * and MACs), but for the NICs whose guest interfaces the save recorded (`nics`, in NIC order),
 * which keep the MACs their guest has (./clone-nics.ts). From the checkpoint's own state (`stateFile`, saved with all its RAM) the VM's RAM
 * is anonymous memory of its own (pages saved as zero stay unallocated); from a fork template (`ramFile` given: forkTemplate in ./checkpoint.ts) it maps the
 * template's RAM file copy-on-write, as a clone of a template does, so that forks share the
 * pages none of them wrote.
 */
export async function restoreVmFrom(
  h: StartHost,
  tools: QemuTools,
  guest: GuestImages,
  shape: SavedShape,
  source: { stateFile: string; ramFile?: string },
  disks: { disk?: string; imageDisk?: string; joined?: ReadonlyArray<SavedJoinedDisks> } = {},
  nics?: ReadonlyArray<InterfaceInfo | undefined>,
): Promise<Vm> {
  const layout = checkpointCloneLayout(h, shape);
  const from: SavedState = {
    nics: adoptSavedNics(layout.devices, nics),
    stateFile: source.stateFile,
    ramFile: source.ramFile ?? layout.paths.ramFile,
    allRam: source.ramFile === undefined,
    checkpoint: true,
    ...(disks.disk ? { disk: disks.disk } : {}),
    ...(disks.imageDisk ? { imageDisk: disks.imageDisk } : {}),
    ...(disks.joined?.length ? { joined: disks.joined } : {}),
  };
  return startFromState(h, tools, guest, layout, from, (made, err) =>
    undoFailedClone(h, 'restored from a checkpoint', layout, made, err),
  );
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
    const restoredMs = Date.now() - started;
    const agent = await connectCloneAgent(h, layout, processEnd, made);
    const connectedMs = Date.now() - started;
    const restoredNics = from.checkpoint ? (from.nics ?? devices.nics.map(() => undefined)) : undefined;
    await settleCloneNics(agent, devices, restoredNics, activateCloneAgent(agent, !from.checkpoint));
    const activatedMs = Date.now() - started;
    if (h.closing) {
      agent.close();
      throw new UnavailableError('the daemon is shutting down');
    }
    log.debug(
      `VM ${id} ${from.checkpoint ? 'restored from a checkpoint' : 'cloned from a template'} in ${Date.now() - started} ms (state loaded after ${restoredMs} ms, agent connected after ${connectedMs} ms, activated after ${activatedMs} ms, its NICs with it; QEMU CPU ${processCpuMs(programPid(qemu)) ?? '?'} ms; qemu pid ${programPid(qemu)})`,
    );
    h.starting.delete(qemu);
    return h.owned(clonedVm(layout, qemu, agent, processEnd, from.allRam !== true, from, restoredNics));
  } catch (err) {
    throw await undo(made, err);
  }
}

/** The cloned VM, its agent activated. */
function clonedVm(
  layout: CloneLayout,
  qemu: ChildProcess,
  agent: Agent,
  processEnd: Promise<ProcessEnd>,
  sharedRam: boolean,
  from: Pick<SavedState, 'disk' | 'imageDisk' | 'joined'>,
  restoredNics: ReadonlyArray<InterfaceInfo | undefined> | undefined,
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
    upperFileAttached: !!from.disk,
    imageFileAttached: from.imageDisk ?? false,
    // A restored pod of several's containers' disks: overlays over the checkpoint's copies.
    ...(from.joined?.length ? { joinedOverlayAttached: true } : {}),
    ...(restoredNics ? { restoredNics } : {}),
  });
}
