/**
 * VM templates: boot a VM once, save it, and start each new VM of the same shape from the saved
 * state instead of booting a kernel (Kata's VM templating, hyperd's template factory).
 *
 * A template is booted with its guest RAM in a file (`memory-backend-file,share=on`) and its
 * files over virtio-9p (QEMU cannot save a VM with a vhost-user-fs device, but it can save one
 * whose 9p shares the guest has not mounted; the agent mounts a 9p share only when the host
 * activates the VM). Once its agent has answered, the host hangs up, stops the VM and saves its
 * device state with `x-ignore-shared`: the RAM stays in the file and the state file is a few
 * hundred KiB. QEMU then exits.
 *
 * A clone is a new QEMU with the same machine and devices (its own sockets, taps and share
 * directories), its RAM the template's file mapped privately (`share=off`: the pages stay shared
 * with the template's page cache until the clone writes them) and `-incoming defer`; QMP
 * `migrate-incoming` loads the state, and the guest resumes where the template stopped. The
 * hypervisor then activates it (Agent.activate: clock, random pool, rootfs share) and gives its
 * NICs their own addresses.
 *
 * Templates are keyed by everything a clone must share with its template: guest kernel and
 * initramfs (path and modification time), kernel command line, size, devices, acceleration and
 * code-buffer mode. They live under `<execRoot>/templates/<key>/` for the daemon's lifetime:
 * removed when it shuts down, and swept (with any template QEMU a killed daemon left) before
 * the first template of the next one. A running clone keeps its mapping of a removed file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import type { Agent, VmDeviceRequest, VmSize } from '../../types';
import type { GuestImages } from '../../guest-images';
import { planDevices } from '../../devices';
import { UnavailableError } from '../../../errors';
import { logger } from '../../../util/log';
import { qemuArgs } from '../cmdline';
import type { QemuProgram } from '../binaries';
import { makeRuntimeDir, vmPathsAt, type VmPaths } from '../runtime-dir';
import { isRunning, killAndWait, programArgv } from '../processes/processes';
import { killSpawned } from '../confinement/jailed-process';
import { liveProcesses, QEMU_NAME } from '../processes/vm-processes';
import { saveState } from './migration';
import { removeTreeOnOneDevice, tailLines, unmountBelow } from '../host-files';
import type { AgentConnector } from '../agent-connector';
import { faultPoint } from '../fault';
import { savedVmsHaveBalloon } from '../memory/ram-shim';
import { spawnConfinedQemu } from '../confinement/confinement';
import { removeVmCgroup } from '../confinement/vm-cgroup';
import { activeJail } from '../confinement/jail';
import { agentStatusBytes, waitForHostLeft } from '../agent-status';

const log = logger('vm');

/** Everything a clone shares with its template. */
export interface TemplateShape {
  size: VmSize;
  devices: Required<VmDeviceRequest>;
  guest: GuestImages;
  cmdline: string;
  accel: 'kvm' | 'tcg';
  splitWx: boolean;
}

/** A saved template: clones map `ramFile` and load `stateFile`. */
export interface SavedTemplate {
  key: string;
  dir: string;
  ramFile: string;
  stateFile: string;
  /** Milliseconds from spawn to saved, for the log and the bench. */
  buildMs: number;
}

/** What VmTemplates needs from the hypervisor. */
export interface VmTemplatesOptions {
  /** `<execRoot>`; templates live in `<execRoot>/templates`. */
  execRoot: string;
  /** The QEMU of templates and clones (binaries.ts: QemuTools.cloneQemu). */
  qemu: () => QemuProgram;
  connectAgent: AgentConnector;
  /** Deadline of a template's boot, to its agent's handshake. */
  bootTimeoutMs: number;
}

/** How long a failed template build keeps new requests of its shape on cold boots. */
const FAILED_RETRY_MS = 60_000;
/**
 * How long a template with NICs runs after its agent answered before it is saved. Each NIC
 * turns its carrier off and on while it is probed, before the agent starts, and the guest's
 * linkwatch handles such events at most once a second (HZ); one still pending when the template
 * is saved is never handled in its clones (seen: every NIC of a 4-NIC clone brought up with
 * carrier 1 and operstate "down", so IFF_RUNNING off and `ip link` state DOWN; the cause in
 * the restored guest is not known). 500 ms after the answer was enough on this machine; a
 * second covers the whole rate-limit window.
 */
export const LINK_SETTLE_MS = 1000;

/** The directory holding the templates of exec root `execRoot`. */
export function templatesRoot(execRoot: string): string {
  return path.join(execRoot, 'templates');
}

/** The key of a shape: a hash of every field a clone must share with its template. */
export function templateKey(shape: TemplateShape): string {
  const stamp = (f: string) => {
    try {
      return `${f}@${fs.statSync(f).mtimeMs}`;
    } catch {
      return f;
    }
  };
  const parts = [
    stamp(shape.guest.kernel),
    stamp(shape.guest.initrd),
    (shape.guest.machineOpts ?? []).join(','),
    shape.cmdline,
    shape.accel,
    String(shape.splitWx),
    `${shape.size.memoryMiB}M`,
    `${shape.size.cpus}c`,
    `${shape.devices.nics}n`,
    shape.devices.volumes ? 'vol' : '',
    shape.devices.upperDisk ? 'disk' : '',
    shape.devices.imageDisk ? 'image' : '',
  ];
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 12);
}

/** Builds templates on demand, one per shape, and removes them all at shutdown. */
export class VmTemplates {
  private readonly root: string;
  private readonly ready = new Map<string, Promise<SavedTemplate>>();
  private readonly failedAt = new Map<string, number>();
  private swept: Promise<void> | undefined;
  private closed = false;
  /** The QEMUs of the builds under way: close() kills them. */
  private readonly buildingQemus = new Set<ChildProcess>();

  constructor(private readonly opts: VmTemplatesOptions) {
    this.root = templatesRoot(opts.execRoot);
  }

  /**
   * The template of `shape`, built on the first request (later ones wait for that build).
   * Rejects when it cannot be built; a shape whose build failed is not tried again for a
   * minute, so each request then falls back to a cold boot at once.
   */
  get(shape: TemplateShape): Promise<SavedTemplate> {
    if (this.closed) return Promise.reject(new UnavailableError('the daemon is shutting down'));
    const key = templateKey(shape);
    const failed = this.failedAt.get(key);
    if (failed !== undefined && Date.now() - failed < FAILED_RETRY_MS)
      return Promise.reject(
        new UnavailableError(
          `the template of this VM shape failed to build ${Math.round((Date.now() - failed) / 1000)} s ago`,
        ),
      );
    let p = this.ready.get(key);
    if (!p) {
      p = this.sweepOnce().then(() => this.build(key, shape));
      this.ready.set(key, p);
      p.catch((err: Error) => {
        log.warn(`VM template ${key}: ${err.message}`);
        this.ready.delete(key);
        this.failedAt.set(key, Date.now());
      });
    }
    return p;
  }

  /** Forget the template of `key` (a clone of it failed to restore): the next request rebuilds it. */
  discard(key: string): void {
    const p = this.ready.get(key);
    this.ready.delete(key);
    void p?.then(
      (t) => fs.promises.rm(t.dir, { recursive: true, force: true }),
      () => undefined,
    );
  }

  /** Shutdown: cut the builds under way short (their QEMU is killed), then remove every template. */
  async close(): Promise<void> {
    this.closed = true;
    for (const q of this.buildingQemus) q.kill('SIGKILL');
    await Promise.allSettled([...this.ready.values()]);
    this.ready.clear();
    await this.sweepOnce();
    await fs.promises.rm(this.root, { recursive: true, force: true });
  }

  /**
   * Once per daemon, before its first template (and at its start: QemuHypervisor): kill the
   * template QEMUs a killed daemon left and remove its templates.
   */
  sweepOnce(): Promise<void> {
    this.swept ??= (async () => {
      for (const pid of templateProcesses(this.root)) {
        log.info(`killing template QEMU ${pid} left by an earlier daemon`);
        await killAndWait(pid);
      }
      await unmountBelow(this.root).catch(() => undefined);
      await fs.promises.rm(this.root, { recursive: true, force: true });
    })();
    return this.swept;
  }

  private async build(key: string, shape: TemplateShape): Promise<SavedTemplate> {
    const started = Date.now();
    const id = randomBytes(6).toString('hex');
    const dir = path.join(this.root, key);
    const paths = vmPathsAt(dir);
    const ramFile = path.join(dir, 'ram');
    const stateFile = path.join(dir, 'state');
    fs.mkdirSync(this.root, { recursive: true, mode: 0o700 });
    fs.rmSync(dir, { recursive: true, force: true });
    const devices = planDevices(id, shape.devices, paths);
    makeRuntimeDir(paths, devices.volumes !== undefined);
    // The template's QEMU writes its RAM file beside its state, outside `run/`: it must exist
    // to be bound in its jail.
    fs.writeFileSync(ramFile, '', { mode: 0o600, flag: 'wx' });
    let qemu: ChildProcess | undefined;
    let agent: Agent | undefined;
    try {
      const program = this.opts.qemu();
      qemu = await spawnConfinedQemu(
        program,
        qemuArgs({
          id,
          size: shape.size,
          accel: shape.accel,
          kernel: shape.guest.kernel,
          initrd: shape.guest.initrd,
          cmdline: shape.cmdline,
          paths,
          devices,
          splitWx: shape.splitWx,
          machineOpts: shape.guest.machineOpts,
          transport: '9p',
          ram: { file: ramFile, share: true },
          tapFds: activeJail() !== undefined,
          ninePBalloon: savedVmsHaveBalloon(program),
        }),
        paths.qemuLog,
        [],
        {
          paths,
          readOnly: [shape.guest.kernel, shape.guest.initrd],
          readWrite: [ramFile],
          size: shape.size,
          accel: shape.accel,
          taps: devices.nics.map((n) => n.tap),
          ninep: true,
        },
      );
      faultPoint('template-after-qemu-spawn');
      this.buildingQemus.add(qemu);
      if (this.closed) qemu.kill('SIGKILL');
      const exited = new Promise<never>((_, reject) =>
        qemu!.once('exit', (code, signal) =>
          reject(new Error(`QEMU exited (${signal ?? code}) before the template was saved`)),
        ),
      );
      exited.catch(() => undefined);
      agent = await Promise.race([
        this.opts.connectAgent({ ctlPath: paths.ctlSock, ioPath: paths.ioSock, timeoutMs: this.opts.bootTimeoutMs }),
        exited,
      ]);
      await Promise.race([agent.ping(), exited]);
      const answered = Date.now();
      faultPoint('template-after-agent-connect');
      // Saved only once the agent has seen the host leave both channels: a clone then starts
      // with both disconnected, and its host's connection is the agent's next event. The
      // agent's status port tells (agent-status.ts).
      const status = agentStatusBytes(paths);
      agent.close();
      agent = undefined;
      await Promise.race([waitForHostLeft(paths, 5000, "the template's agent", status), exited]);
      const settle = devices.nics.length > 0 ? answered + LINK_SETTLE_MS - Date.now() : 0;
      if (settle > 0) await Promise.race([new Promise((r) => setTimeout(r, settle)), exited]);
      await Promise.race([saveState(paths, stateFile), exited]);
      await killSpawned(qemu);
      await removeVmCgroup(dir);
      // Only the RAM and the state are kept; the clone brings its own sockets, logs and shares.
      for (const f of fs.readdirSync(dir))
        if (f !== 'ram' && f !== 'state') fs.rmSync(path.join(dir, f), { recursive: true, force: true });
      const t: SavedTemplate = { key, dir, ramFile, stateFile, buildMs: Date.now() - started };
      this.buildingQemus.delete(qemu);
      log.info(
        `VM template ${key} saved in ${t.buildMs} ms (${shape.size.memoryMiB} MiB, ${shape.devices.nics} NICs${shape.devices.volumes ? ', volume share' : ''})`,
      );
      return t;
    } catch (err) {
      agent?.close();
      if (qemu) this.buildingQemus.delete(qemu);
      if (qemu?.pid) await killSpawned(qemu);
      await removeVmCgroup(dir);
      const tail = consoleTail(paths);
      await removeTreeOnOneDevice(dir).catch(() => fs.rmSync(dir, { recursive: true, force: true }));
      throw new UnavailableError(`cannot build the VM template: ${(err as Error).message}${tail}`);
    }
  }
}

/** QEMU processes of templates under `root`: their QMP socket is there (a clone's RAM file is there too, but its socket is in its VM directory). */
function templateProcesses(root: string): number[] {
  const prefix = root + path.sep;
  return liveProcesses()
    .filter(
      ({ pid, argv }) =>
        path.basename(programArgv(argv)[0] ?? '').endsWith(QEMU_NAME) &&
        argv.some((a) => a.includes(prefix) && a.includes('/qmp.sock')) &&
        isRunning(pid),
    )
    .map(({ pid }) => pid);
}

/** The last console lines of a failed template boot, for the error message. */
function consoleTail(paths: VmPaths): string {
  const lines = tailLines(paths.consoleLog, 10);
  return lines.length ? `\nlast console lines:\n${lines.join('\n')}` : '';
}
