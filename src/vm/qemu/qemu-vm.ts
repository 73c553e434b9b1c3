/**
 * One running QEMU VM (the `Vm` of src/vm/types.ts): its agent, pause/resume through QMP,
 * its save for a checkpoint, memory accounting, the watch on its process and its complete
 * removal. What it is built from is in ./qemu-vm-init.ts; its disks' QMP steps are in
 * ./qemu-vm-disks.ts.
 */
import type { Agent, DiskThrottle, InterfaceInfo, Vm, VmDevices, VmExit, VmSize } from '../types';
import { NotImplementedError, UnavailableError } from '../../errors';
import { logger } from '../../util/log';
import { qmpCommand } from './qmp';
import { saveState } from './snapshots/migration';
import { faultKill, faultPoint } from './fault';
import { pageOutMappings, readIntoPageCache, squeezeBalloon } from './memory/post-boot-reclaim';
import { trimIdleVm } from './memory/idle-trim';
import { placeVmCgroup } from './confinement/vm-cgroup-parent';
import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { VmPaths } from './runtime-dir';
import { isOurProcess, isRunning, killAndWait, waitGone } from './processes/processes';
import { QEMU_NAME, VIRTIOFSD_NAME } from './processes/vm-processes';
import { endSupervisors, jailSupervisorOf } from './confinement/jailed-process';
import { pssBytes, removeRuntimeDir, tailLines, trimLogFile } from './host-files';
import type { WantedDisk } from '../devices/upper-disk/ready-disk';
import type { JoinedDiskAddresses, JoinedDiskNames } from '../devices/joined-disks';
import type { ProcessEnd, QemuVmInit } from './qemu-vm-init';
import { QemuVmDisks } from './qemu-vm-disks';
import { agentStatusFile } from './agent-status';

const log = logger('vm');

/**
 * The console log is guest output: a guest that writes to its serial port without end must not
 * fill the host's exec root (a tmpfs, i.e. RAM). Checked every 5 s; above 1 MiB it is cut to
 * its last 256 KiB. QEMU's and virtiofsd's own logs (stdio, opened for appending) likewise,
 * since a guest can make them complain.
 */
const CONSOLE_CHECK_MS = 5000;
/** How long a clone's QEMU may take to flush a copy-on-write disk before it is killed (QemuVm.destroy). */
const OVERLAY_FLUSH_MS = 10_000;
const CONSOLE_MAX_BYTES = 1024 * 1024;
const CONSOLE_KEEP_BYTES = 256 * 1024;

export { TRIM_SETTLE_MS } from './memory/idle-trim';

export { QEMU_NAME, VIRTIOFSD_NAME } from './processes/vm-processes';

/**
 * When virtiofsd's exit is seen first, how long to wait for QEMU's before blaming virtiofsd
 * (QEMU's death makes virtiofsd exit too; an adopted QEMU's exit is polled every 200 ms).
 */
const VIRTIOFSD_ATTRIBUTION_MS = 500;

/** A VM booted (or adopted) by QemuHypervisor. */
export class QemuVm implements Vm {
  readonly id: string;
  readonly size: VmSize;
  readonly devices: VmDevices;
  readonly restoredNics?: ReadonlyArray<InterfaceInfo | undefined>;
  readonly shareDir: string;
  readonly agent: Agent;
  readonly pid: number;
  readonly exited: Promise<VmExit>;
  private readonly paths: VmPaths;
  private readonly virtiofsdPids: number[];
  /** The jail supervisors of QEMU and the virtiofsds (jailed-process.ts), gone after them. */
  private readonly supervisorPids: number[];
  private readonly jitBufferBytes: number | undefined;
  private readonly clone: boolean;
  private expected = false;
  private gone = false;
  private destroying: Promise<void> | undefined;
  private readonly consoleTimer: NodeJS.Timeout;
  /** The post-boot reclaim while it runs (reclaimBootMemory). */
  private reclaiming: Promise<void> | undefined;
  /** The zero-page trim while it runs (trimIdleMemory). */
  private trimming: Promise<void> | undefined;
  /** True from a checkpoint's save until the VM runs on (saveTo, resumeAfterSave): no trim. */
  private saving = false;
  /** Its upper and image disks (QMP steps, what is behind each, the ready disk). */
  private readonly disks: QemuVmDisks;

  constructor(init: QemuVmInit) {
    this.id = init.id;
    this.size = init.size;
    this.devices = init.devices;
    if (init.restoredNics) this.restoredNics = init.restoredNics;
    this.paths = init.paths;
    this.shareDir = init.paths.shareDir;
    this.agent = init.agent;
    this.pid = init.qemuPid;
    this.virtiofsdPids = init.virtiofsdPids;
    this.supervisorPids = [init.qemuPid, ...init.virtiofsdPids]
      .map((p) => jailSupervisorOf(p, init.paths.dir))
      .filter((p) => p !== undefined);
    this.jitBufferBytes = init.jitBufferBytes;
    this.clone = init.clone ?? false;
    this.disks = new QemuVmDisks(
      {
        id: this.id,
        devices: this.devices,
        paths: this.paths,
        agent: this.agent,
        running: () => !this.gone && !this.destroying,
      },
      init,
    );
    this.consoleTimer = setInterval(() => {
      // The agent's status file too: its guest may write there without end.
      const files = [this.paths.consoleLog, this.paths.qemuLog, this.paths.virtiofsdLog, this.paths.volumesLog];
      for (const f of [...files, agentStatusFile(this.paths)]) trimLogFile(f, CONSOLE_MAX_BYTES, CONSOLE_KEEP_BYTES);
    }, CONSOLE_CHECK_MS);
    this.consoleTimer.unref();
    this.exited = Promise.race([
      init.processEnd.then((end) => ({ end, what: 'QEMU' })),
      init.virtiofsdEnd.then((end) => ({ end, what: 'virtiofsd' })),
    ]).then(async ({ end, what }) => {
      if (what === 'virtiofsd' && !this.expected) {
        // virtiofsd also ends when QEMU dies (it hangs up), and its exit may be seen first: give
        // QEMU's exit a moment to show, and when it does, QEMU's end is the cause.
        const qemuEnd = await Promise.race([
          init.processEnd,
          new Promise<undefined>((r) => setTimeout(() => r(undefined), VIRTIOFSD_ATTRIBUTION_MS)),
        ]);
        if (qemuEnd) return this.onProcessEnd(qemuEnd, 'QEMU');
        // QEMU outlives its virtiofsd (the guest just waits on the file system): end it too.
        this.gone = true;
        this.agent.close();
        if (isOurProcess(this.pid, QEMU_NAME, this.paths.dir)) await killAndWait(this.pid);
        await init.processEnd;
      }
      return this.onProcessEnd(end, what);
    });
  }

  private async onProcessEnd(end: ProcessEnd, what: string): Promise<VmExit> {
    this.gone = true;
    clearInterval(this.consoleTimer);
    this.agent.close();
    // virtiofsd ends when QEMU hangs up; make sure it does, and that the jails' supervisors
    // followed their programs, so that nothing of the VM runs once its exit is known.
    await this.endVirtiofsds();
    await this.endJails();
    if (this.expected) return { expected: true, reason: 'destroyed' };
    const how = end.signal ? `killed by ${end.signal}` : end.code != null ? `exited with code ${end.code}` : 'exited';
    const lines = tailLines(this.paths.consoleLog, 20);
    const reason = `VM ${this.id}: ${what} ${how}${lines.length ? `; last console lines:\n${lines.join('\n')}` : ''}`;
    log.warn(reason);
    return { expected: false, reason };
  }

  private async qmp(command: string): Promise<void> {
    if (this.gone || this.destroying) throw new UnavailableError(`VM ${this.id} is not running`);
    await qmpCommand(this.paths.qmpSock, command);
  }

  /** @inheritdoc */
  holdReadyDisk(file: string, bytes: number): Promise<void> {
    return this.disks.holdReadyDisk(file, bytes);
  }

  /** @inheritdoc */
  takeReadyDisk(to: string, disk: WantedDisk): Promise<boolean> {
    return this.disks.takeReadyDisk(to, disk);
  }

  /** @inheritdoc */
  attachUpperDisk(file: string): Promise<void> {
    return this.disks.attachUpperDisk(file);
  }

  /** @inheritdoc */
  detachUpperDisk(): Promise<void> {
    return this.disks.detachUpperDisk();
  }

  /** The host file behind the image disk, when known (undefined: none, or a VM adopted from an earlier daemon). */
  get imageDiskFile(): string | undefined {
    return this.disks.imageDiskFile;
  }

  /** @inheritdoc */
  attachImageDisk(file: string): Promise<void> {
    return this.disks.attachImageDisk(file);
  }

  /** @inheritdoc */
  attachJoinedDisks(containerId: string, upperFile: string, imageFile: string): Promise<JoinedDiskNames> {
    return this.disks.attachJoinedDisks(containerId, upperFile, imageFile);
  }

  /** Where a joined container's two disks sit on the SCSI controller (QemuVmDisks.joinedDiskAddresses). */
  joinedDiskAddresses(containerId: string): Promise<JoinedDiskAddresses> {
    return this.disks.joinedDiskAddresses(containerId);
  }

  /** @inheritdoc */
  throttleJoinedDisk(containerId: string, limits: DiskThrottle): Promise<void> {
    return this.disks.throttleJoinedDisk(containerId, limits);
  }

  /** @inheritdoc */
  detachJoinedDisks(containerId: string): Promise<void> {
    return this.disks.detachJoinedDisks(containerId);
  }

  /** @inheritdoc */
  throttleUpperDisk(limits: DiskThrottle): Promise<void> {
    return this.disks.throttleUpperDisk(limits);
  }

  /**
   * Have this QEMU merge into the copy-on-write disk behind the upper disk what the qcow2
   * files under it hold, so that it stands on the raw file at the bottom alone; the guest
   * runs on meanwhile (a checkpoint's save, before it stops the VM: ./snapshots/checkpoint.ts).
   */
  flattenUpperDisk(): Promise<void> {
    return this.disks.flattenUpperDisk();
  }

  /** @inheritdoc */
  async placeCgroup(parent: string | undefined): Promise<void> {
    if (this.gone || this.destroying) throw new UnavailableError(`VM ${this.id} is not running`);
    await placeVmCgroup({ dir: this.paths.dir, size: this.size, pid: this.pid }, parent);
  }

  /** @inheritdoc */
  async saveBlockers(): Promise<string[]> {
    if (this.gone || this.destroying) throw new UnavailableError(`VM ${this.id} is not running`);
    // QEMU lists both kinds there: devices whose state cannot be saved (vhost-user-fs) and
    // the blockers devices add while in use (each 9p export the guest has mounted).
    const m = (await qmpCommand(this.paths.qmpSock, 'query-migrate')) as { 'blocked-reasons'?: unknown } | undefined;
    const reasons = m?.['blocked-reasons'];
    return Array.isArray(reasons) ? reasons.filter((r): r is string => typeof r === 'string') : [];
  }

  /**
   * Save the whole VM (its memory and devices) to `stateFile`, for a checkpoint. The
   * guest lets go of its rootfs share first (RELEASE_SHARE); reasons QEMU still gives for not
   * saving it (a volume's 9p share mounted) refuse the save, the share mounted again. Then the
   * VM is stopped and saved with all its RAM, and `whileStopped` runs (the disk's copy). The VM
   * stays stopped: resumeAfterSave runs it on; destroy ends it. A failure runs it on and
   * removes `stateFile`.
   */
  async saveTo(stateFile: string, whileStopped?: () => Promise<void>): Promise<void> {
    if (this.gone || this.destroying) throw new UnavailableError(`VM ${this.id} is not running`);
    if (!this.agent.releaseShare) throw new NotImplementedError('this agent cannot let go of its share');
    this.saving = true;
    try {
      await this.trimming;
      await this.agent.releaseShare();
      faultPoint('save-after-release-share');
      const blockers = await this.saveBlockers();
      if (blockers.length > 0) throw new UnavailableError(`its VM cannot be saved: ${blockers.join('; ')}`);
      faultKill('checkpoint-vm-dies', this.pid);
      await saveState(this.paths, stateFile, { allRam: true });
      faultPoint('save-after-state-written');
      await whileStopped?.();
    } catch (err) {
      await fs.promises.rm(stateFile, { force: true });
      await this.resumeAfterSave().catch((e: Error) =>
        log.warn(`VM ${this.id}: running on after a failed save: ${e.message}`),
      );
      throw err;
    }
  }

  /**
   * Run on after saveTo (QMP `cont` when stopped): the guest's clock set again (it stood still
   * while the VM was stopped) and its rootfs share mounted again.
   */
  async resumeAfterSave(): Promise<void> {
    try {
      const st = (await qmpCommand(this.paths.qmpSock, 'query-status')) as { status?: string } | undefined;
      if (st?.status !== 'running') await qmpCommand(this.paths.qmpSock, 'cont');
      await this.agent.activate?.({
        timeNs: BigInt(Date.now()) * 1_000_000n,
        entropy: randomBytes(64),
        mountShare: true,
      });
    } finally {
      this.saving = false;
    }
  }

  /** Freeze every vCPU (QMP `stop`). */
  async pause(): Promise<void> {
    await this.qmp('stop');
  }

  /** Thaw (QMP `cont`). */
  async resume(): Promise<void> {
    await this.qmp('cont');
  }

  /**
   * Hand back to the host what the boot left behind (post-boot-reclaim.ts): QEMU's mappings of the boot
   * `files` (kernel, initramfs) are paged out (and the files read into the page cache again,
   * unmapped, for the next boot), then the balloon is squeezed once. Runs in the
   * background; a failure costs memory only, so it is logged, never thrown.
   */
  reclaimBootMemory(files: string[]): void {
    this.reclaiming ??= (async () => {
      const paths = files.map((f) => {
        try {
          return fs.realpathSync(f);
        } catch {
          return f;
        }
      });
      const pagedOut = await pageOutMappings(this.pid, paths);
      await readIntoPageCache(paths);
      if (this.gone || this.destroying) return;
      await squeezeBalloon(this.paths.qmpSock, this.size.memoryMiB);
      log.debug(
        `VM ${this.id}: boot memory reclaimed (${Math.round(pagedOut / 1048576)} MiB of boot images paged out, balloon squeezed)`,
      );
    })().catch((err: Error) => {
      if (!this.gone && !this.destroying) log.warn(`VM ${this.id}: reclaiming boot memory failed: ${err.message}`);
    });
  }

  /** Resolves when the post-boot reclaim (if any) has finished; never rejects. */
  async reclaimed(): Promise<void> {
    await this.reclaiming;
  }

  /**
   * The zero-page trim of an idle VM (idle-trim.ts), after the post-boot reclaim. The caller
   * must be the VM's only user meanwhile (the pool's warming step is). A failure costs memory
   * only: logged, never thrown. Concurrent calls share one trim.
   */
  trimIdleMemory(): Promise<void> {
    this.trimming ??= this.trimOnce().finally(() => (this.trimming = undefined));
    return this.trimming;
  }

  private async trimOnce(): Promise<void> {
    const stale = () => this.gone || this.destroying !== undefined || this.saving;
    try {
      await this.reclaimed();
      if (stale()) return;
      await trimIdleVm(this, this.paths, { clone: this.clone, jitBufferBytes: this.jitBufferBytes }, stale);
    } catch (err) {
      if (!stale()) log.warn(`VM ${this.id}: trimming idle memory failed: ${(err as Error).message}`);
    }
  }

  /** PSS of QEMU plus virtiofsd and their jails' supervisors, in bytes. */
  async memoryUsage(): Promise<number> {
    return [this.pid, ...this.virtiofsdPids, ...this.supervisorPids].reduce((sum, pid) => sum + pssBytes(pid), 0);
  }

  /** Each virtiofsd of this VM gone: a short wait (it ends when QEMU hangs up), then SIGKILL. */
  private async endVirtiofsds(): Promise<void> {
    for (const pid of this.virtiofsdPids) {
      if (isOurProcess(pid, VIRTIOFSD_NAME, this.paths.dir) && !(await waitGone(pid, 300))) await killAndWait(pid);
    }
  }

  /** The jails' supervisors of this VM's QEMU and virtiofsd gone (they end with their programs). */
  private async endJails(): Promise<void> {
    const dir = this.paths.dir;
    await endSupervisors(
      this.supervisorPids.filter((p) => isOurProcess(p, QEMU_NAME, dir) || isOurProcess(p, VIRTIOFSD_NAME, dir)),
    );
  }

  /**
   * QMP `quit`, SIGKILL after a short grace (a clone: SIGKILL at once); virtiofsd likewise;
   * then unmount what is under the share directory and remove the runtime directory.
   * Idempotent.
   */
  destroy(): Promise<void> {
    this.destroying ??= this.doDestroy();
    return this.destroying;
  }

  private async doDestroy(): Promise<void> {
    log.debug(`VM ${this.id}: destroying`);
    this.expected = true;
    clearInterval(this.consoleTimer);
    this.agent.close();
    const dir = this.paths.dir;
    if (isOurProcess(this.pid, QEMU_NAME, dir)) {
      if (this.clone) {
        // A clone has no virtiofsd to hang up on and nothing of its own to save (its RAM is a
        // private mapping of the template's file, its files went to the host as written): it is
        // killed at once, without a QMP session for `quit` (a connection, the greeting, two
        // commands) on every container removal. But a copy-on-write disk's cluster tables are
        // in QEMU's memory until a flush: QMP `stop` writes them out first (its answer comes
        // once every block device is flushed), or a fork's writes since its last flush are lost.
        if (this.disks.mayHoldOverlay)
          await qmpCommand(this.paths.qmpSock, 'stop', undefined, OVERLAY_FLUSH_MS).catch((err: Error) =>
            log.warn(`VM ${this.id}: flushing its disk before its end: ${err.message}`),
          );
        await killAndWait(this.pid);
      } else {
        try {
          await qmpCommand(this.paths.qmpSock, 'quit', undefined, 500);
        } catch {
          // QEMU often hangs up before answering quit; the wait below decides
        }
        if (!(await waitGone(this.pid, 500))) await killAndWait(this.pid);
      }
    }
    await this.endVirtiofsds();
    await this.endJails();
    if (isRunning(this.pid)) throw new UnavailableError(`VM ${this.id}: QEMU (pid ${this.pid}) does not die`);
    // The exit watchers do not keep Node's event loop alive; this timer does while we wait.
    let keepAlive: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise((r) => (keepAlive = setTimeout(r, 5000)))]);
    clearTimeout(keepAlive);
    await removeRuntimeDir(dir);
    await this.disks.discardReadyDisk();
  }
}
