/**
 * Cloning a VM from a template (templates.ts) instead of booting it: QEMU started on the
 * template's RAM and state, the agent activated; a failure removes everything it made.
 */
import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import type { Agent, Vm, VmConfig } from '../types';
import type { GuestImages } from '../guest-images';
import { normalizeRequest } from '../devices';
import { UnavailableError } from '../../errors';
import { logger } from '../../util/log';
import type { QemuTools } from './binaries';
import { qemuArgs, TCG_TB_SIZE_MIB } from './cmdline';
import { writeVmRecord } from './runtime-dir';
import { killAndWait, processCpuMs } from './processes';
import { QemuVm, type ProcessEnd } from './qemu-vm';
import { faultPoint } from './fault';
import { spawnConfinedQemu } from './confinement';
import { startLockHolder } from './lock-holder';
import { bootFailureDetail, childEnd, cleanupDir, raceBoot, waitForSocket } from './start-steps';
import type { VmTemplates } from './templates';
import { restoreClone } from './migration';
import type { StartHost } from './start-host';

const log = logger('vm');

/** The fd a clone's QEMU gets its template's state file on (the first after stdio). */
const CLONE_STATE_FD = 3;

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
  const started = Date.now();
  const { id, paths, devices } = h.newRuntimeDir(config);
  let qemu: ChildProcess | undefined;
  let agentPromise: Promise<Agent> | undefined;
  let restored = false;
  let stateFd: number | undefined;
  try {
    stateFd = fs.openSync(tpl.stateFile, 'r'); // close-on-exec, as every fd Node opens
    qemu = await spawnConfinedQemu(
      tools.cloneQemu,
      qemuArgs({
        id,
        size,
        accel: h.opts.accel,
        kernel: guest.kernel,
        initrd: guest.initrd,
        cmdline: h.cmdline,
        paths,
        devices,
        splitWx,
        machineOpts: guest.machineOpts,
        transport: '9p',
        ram: { file: tpl.ramFile, share: false },
        incoming: true,
      }),
      paths.qemuLog,
      [stateFd],
    );
    fs.closeSync(stateFd);
    stateFd = undefined;
    faultPoint('clone-after-qemu-spawn');
    h.startingQemu(qemu);
    const processEnd = childEnd(qemu);
    writeVmRecord(paths, {
      format: 1,
      id,
      size,
      accel: h.opts.accel,
      qemuPid: qemu.pid!,
      devices,
      createdAt: new Date().toISOString(),
      kernel: guest.kernel,
      initrd: guest.initrd,
      transport: '9p',
    });
    faultPoint('clone-after-vm-json');
    await waitForSocket(paths.qmpSock, qemu, 3000, 'QEMU');
    await raceBoot(
      restoreClone(paths.qmpSock, CLONE_STATE_FD),
      processEnd,
      h.bootTimeoutMs,
      "the template's state was loaded",
    );
    restored = true;
    const restoredMs = Date.now() - started;
    // The holder of the guest's 9p locks connects once the state is loaded, as the agent's
    // client does: the port's connection, made before, would be the template's (none) again.
    await startLockHolder(paths);
    agentPromise = h.opts.connectAgent({
      ctlPath: paths.ctlSock,
      ioPath: paths.ioSock,
      timeoutMs: h.bootTimeoutMs,
    });
    const agent = await raceBoot(agentPromise, processEnd, h.bootTimeoutMs + 1000);
    faultPoint('clone-after-agent-connect');
    const connectedMs = Date.now() - started;
    if (!agent.activate) throw new Error('the agent cannot be activated');
    await agent.activate({ timeNs: BigInt(Date.now()) * 1_000_000n, entropy: randomBytes(64), mountShare: true });
    const activatedMs = Date.now() - started;
    // Sent together: the agent answers in order, so this costs one round trip, not one per NIC.
    await Promise.all(devices.nics.map((nic) => agent.configureInterface({ name: nic.guestName, setMac: nic.mac })));
    if (h.closing) {
      agent.close();
      throw new UnavailableError('the daemon is shutting down');
    }
    log.debug(
      `VM ${id} cloned from template ${tpl.key} in ${Date.now() - started} ms (state loaded after ${restoredMs} ms, agent connected after ${connectedMs} ms, activated after ${activatedMs} ms; QEMU CPU ${processCpuMs(qemu.pid!) ?? '?'} ms; qemu pid ${qemu.pid})`,
    );
    h.starting.delete(qemu);
    return h.owned(
      new QemuVm({
        id,
        size,
        devices,
        paths,
        qemuPid: qemu.pid!,
        virtiofsdPids: [],
        agent,
        processEnd,
        virtiofsdEnd: new Promise<ProcessEnd>(() => undefined),
        clone: true,
        ...(splitWx ? { jitBufferBytes: TCG_TB_SIZE_MIB * 1048576 } : {}),
      }),
    );
  } catch (err) {
    if (qemu) h.starting.delete(qemu);
    if (stateFd !== undefined) fs.closeSync(stateFd);
    agentPromise?.then(
      (a) => a.close(),
      () => undefined,
    );
    if (qemu?.pid) await killAndWait(qemu.pid);
    const detail = bootFailureDetail(paths);
    await cleanupDir(paths);
    h.own.delete(id);
    // A state that does not load is a bad template: the next clone builds a new one.
    if (!restored) templates.discard(tpl.key);
    throw new UnavailableError(
      `VM ${id} could not be cloned from template ${tpl.key}: ${(err as Error).message}${detail}`,
    );
  }
}
