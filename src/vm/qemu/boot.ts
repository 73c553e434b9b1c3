/**
 * Booting a VM from its kernel: virtiofsd (and the volume share's) started, QEMU started,
 * vm.json written, the agent's handshake awaited; a failure removes everything it made.
 */
import type { ChildProcess } from 'node:child_process';
import type { Agent, Vm, VmConfig } from '../types';
import type { GuestImages } from '../guest-images';
import { volumeVirtiofsdArgs } from '../devices/volume-share';
import { UnavailableError } from '../../errors';
import { logger } from '../../util/log';
import type { QemuTools } from './binaries';
import { qemuArgs, TCG_TB_SIZE_MIB, virtiofsdArgs } from './cmdline';
import { writeVmRecord } from './vm-record';
import { processCpuMs, setProcessNice } from './processes/processes';
import { killSpawned, programPid } from './confinement/jailed-process';
import { spawnVirtiofsd } from './processes/virtiofsd';
import { QemuVm } from './qemu-vm';
import { faultPoint } from './fault';
import { spawnConfinedQemu } from './confinement/confinement';
import { shareVmDir } from './confinement/jail-mounts';
import { activeJail } from './confinement/jail';
import { bootFailureDetail, childEnd, cleanupDir, raceBoot, waitForSocket } from './start-steps';
import { hostQemuOptions, type StartHost } from './start-host';

const log = logger('vm');

/** Boot a VM for `config` once (QemuHypervisor retries). */
export async function bootVm(h: StartHost, tools: QemuTools, guest: GuestImages, config: VmConfig): Promise<Vm> {
  const started = Date.now();
  const size = config.size;
  const { id, paths, devices } = h.newRuntimeDir(config);
  let virtiofsd: ChildProcess | undefined;
  let volumesVirtiofsd: ChildProcess | undefined;
  let qemu: ChildProcess | undefined;
  let agentPromise: Promise<Agent> | undefined;
  try {
    // Before virtiofsd opens the share: the host's later mounts there must reach it and the jail.
    await shareVmDir(paths.dir);
    virtiofsd = await spawnVirtiofsd(
      tools.virtiofsd,
      virtiofsdArgs(paths),
      paths.virtiofsdLog,
      paths,
      paths.shareDir,
      size,
    );
    faultPoint('after-virtiofsd-spawn');
    await waitForSocket(paths.virtiofsdSock, virtiofsd, 3000, 'virtiofsd');
    faultPoint('after-virtiofsd-socket');
    if (devices.volumes) {
      volumesVirtiofsd = await spawnVirtiofsd(
        tools.virtiofsd,
        volumeVirtiofsdArgs(paths),
        paths.volumesLog,
        paths,
        paths.volumesDir,
        size,
      );
      await waitForSocket(paths.volumesSock, volumesVirtiofsd, 3000, "the volume share's virtiofsd");
    }
    const virtiofsdMs = Date.now() - started;
    qemu = await spawnConfinedQemu(
      { bin: tools.qemu, args: [] },
      qemuArgs({
        ...hostQemuOptions(h, guest),
        id,
        size,
        paths,
        devices,
        splitWx: h.splitWx(size),
        tapFds: activeJail() !== undefined,
      }),
      paths.qemuLog,
      [],
      {
        paths,
        readOnly: [guest.kernel, guest.initrd],
        size,
        accel: h.opts.accel,
        taps: devices.nics.map((n) => n.tap),
        ninep: false,
      },
    );
    faultPoint('after-qemu-spawn');
    h.startingQemu(qemu);
    if (h.bootNice) setProcessNice(programPid(qemu), h.bootNice);
    const processEnd = childEnd(qemu);
    const virtiofsdEnd = Promise.race([childEnd(virtiofsd), ...(volumesVirtiofsd ? [childEnd(volumesVirtiofsd)] : [])]);
    writeVmRecord(paths, {
      format: 1,
      id,
      size,
      accel: h.opts.accel,
      qemuPid: programPid(qemu),
      virtiofsdPid: programPid(virtiofsd),
      ...(volumesVirtiofsd ? { volumesVirtiofsdPid: programPid(volumesVirtiofsd) } : {}),
      devices,
      createdAt: new Date().toISOString(),
      kernel: guest.kernel,
      initrd: guest.initrd,
    });
    faultPoint('after-vm-json');
    agentPromise = h.opts.connectAgent({
      ctlPath: paths.ctlSock,
      ioPath: paths.ioSock,
      timeoutMs: h.bootTimeoutMs,
    });
    const agent = await raceBoot(agentPromise, Promise.race([processEnd, virtiofsdEnd]), h.bootTimeoutMs + 1000);
    faultPoint('after-agent-connect');
    if (h.closing) {
      agent.close();
      throw new UnavailableError('the daemon is shutting down');
    }
    if (h.bootNice && !setProcessNice(programPid(qemu), 0)) log.debug(`VM ${id}: cannot reset QEMU's nice value`);
    log.debug(
      `VM ${id} booted in ${Date.now() - started} ms (virtiofsd ready after ${virtiofsdMs} ms; QEMU CPU ${processCpuMs(programPid(qemu)) ?? '?'} ms; qemu pid ${programPid(qemu)})`,
    );
    const vm = new QemuVm({
      id,
      size,
      devices,
      paths,
      qemuPid: programPid(qemu),
      virtiofsdPids: [programPid(virtiofsd), ...(volumesVirtiofsd ? [programPid(volumesVirtiofsd)] : [])],
      agent,
      processEnd,
      virtiofsdEnd,
      ...(h.splitWx(size) ? { jitBufferBytes: TCG_TB_SIZE_MIB * 1048576 } : {}),
      upperFileAttached: false,
    });
    h.starting.delete(qemu);
    if (h.opts.reclaimAfterBoot ?? true) vm.reclaimBootMemory([guest.kernel, guest.initrd]);
    return h.owned(vm);
  } catch (err) {
    if (qemu) h.starting.delete(qemu);
    // Late agent connections are closed; the processes and the directory go.
    agentPromise?.then(
      (a) => a.close(),
      () => undefined,
    );
    for (const child of [qemu, virtiofsd, volumesVirtiofsd]) if (child?.pid) await killSpawned(child);
    const detail = bootFailureDetail(paths);
    await cleanupDir(paths);
    h.own.delete(id);
    throw new UnavailableError(`VM ${id} failed to boot: ${(err as Error).message}${detail}`);
  }
}
