/**
 * The fake agent of one fake VM handle (the Agent contract of src/vm/types.ts), including the
 * device operations: interfaces and routes on the guest's fake network, mounts as separate
 * file trees inside a container.
 */
import { Writable, type Readable } from 'node:stream';
import * as path from 'node:path';
import type {
  Agent,
  AgentProcess,
  AgentVersion,
  ContainerMount,
  ContainerSpec,
  ExitStatus,
  GuestProcessTable,
  InterfaceConfig,
  InterfaceInfo,
  ProcessSpec,
  RouteSpec,
  SeccompFilter,
} from '../../../src/vm/types';
import { encodeSeccomp } from '../../../src/vm/agent/seccomp';
import { encodeInterface, encodeMount, encodeRoute } from '../../../src/vm/agent/device-ops';
import { PROTOCOL_VERSION } from '../../../src/vm/agent/protocol';
import {
  ConflictError,
  InvalidArgumentError,
  NotFoundError,
  NotImplementedError,
  UnavailableError,
} from '../../../src/errors';
import { ProgramExit, SIGKILL, str, type FakeProcessContext } from './programs';
import { FakeGuestProcess, type FakeContainer, type FakeGuest, type FakeMount } from './guest';

/** Host handle on one fake process (what the agent client returns). */
function fakeAgentProcess(gp: FakeGuestProcess): AgentProcess {
  gp.attachOutputs();
  const stdout = gp.stdout as Readable;
  const stdin = gp.spec.stdin
    ? new Writable({
        highWaterMark: 16 * 1024,
        write: (chunk: Buffer, _enc, cb) => {
          if (gp.running) gp.input(Buffer.from(chunk));
          cb();
        },
        final: (cb) => {
          gp.closeStdin();
          cb();
        },
      })
    : null;
  // Avoid unhandled 'error' events on streams nobody listens to.
  stdout.on('error', () => undefined);
  gp.stderr?.on('error', () => undefined);
  stdin?.on('error', () => undefined);
  const exited = new Promise<ExitStatus>((resolve, reject) => {
    gp.onDone(() => {
      if (gp.status) resolve(gp.status);
      else reject(gp.failure);
    });
  });
  exited.catch(() => undefined);
  return {
    processId: gp.spec.processId,
    containerId: gp.spec.containerId,
    pid: gp.pid,
    stdout,
    stderr: gp.stderr,
    stdin,
    exited,
  };
}

/** Thrown by FakeAgent.check when agents are set to hang; the methods turn it into a promise that never settles. */
const HANG = Symbol('hang');

/** The fake agent of one VM handle. */
export class FakeAgent implements Agent {
  private closed = false;

  constructor(private readonly guest: FakeGuest) {
    // With `hypervisor.hangAgents`, every request stays unanswered (a guest that stopped
    // responding): wrap each method so the HANG marker becomes a promise that never settles.
    const methods = [
      'ping',
      'createContainer',
      'destroyContainer',
      'startProcess',
      'signalProcess',
      'resizeTerminal',
      'writeFile',
      'readFile',
      'reattach',
      'shutdown',
      'processTable',
      'setSeccomp',
      'configureInterface',
      'addRoute',
      'listInterfaces',
      'mount',
      'unmount',
    ] as const;
    for (const name of methods) {
      const orig = (this[name] as (...a: unknown[]) => Promise<unknown>).bind(this);
      (this as unknown as Record<string, unknown>)[name] = (...a: unknown[]) =>
        orig(...a).catch((e: unknown) => (e === HANG ? new Promise(() => undefined) : Promise.reject(e)));
    }
  }

  private check(what: string): void {
    this.guest.calls.push(what);
    if (this.guest.hypervisor.hangAgents && !what.startsWith('version')) throw HANG;
    if (this.closed) throw new UnavailableError('agent channel closed');
    if (!this.guest.alive) throw new UnavailableError(`VM ${this.guest.id} is not running`);
  }

  async version(): Promise<AgentVersion> {
    this.check('version');
    return { protocol: PROTOCOL_VERSION, agent: 'fake-agent' };
  }

  async ping(): Promise<void> {
    this.check('ping');
  }

  async createContainer(spec: ContainerSpec): Promise<void> {
    this.check(`createContainer ${spec.id}`);
    const hv = this.guest.hypervisor;
    if (hv.failNext.createContainer) {
      hv.failNext.createContainer = false;
      throw new InvalidArgumentError(`cannot mount ${spec.rootfs}: injected failure`);
    }
    if (this.guest.containers.has(spec.id)) throw new ConflictError(`container ${spec.id} exists`);
    if (spec.podPause ? spec.rootfs !== undefined || spec.upperDisk !== undefined : spec.rootfs === undefined)
      throw new InvalidArgumentError(
        "the pod's pause takes no rootfs nor upper disk, and any other container a rootfs",
      );
    // The pod's pause has no image: an empty root (the real one holds /pause and mount points).
    const files = new Map<string, Buffer>();
    if (!spec.podPause) for (const [p, c] of Object.entries(hv.rootfsFiles)) files.set(p, Buffer.from(c));
    this.guest.containers.set(spec.id, { spec, files, mounts: new Map() });
  }

  async destroyContainer(containerId: string): Promise<void> {
    this.check(`destroyContainer ${containerId}`);
    if (!this.guest.containers.has(containerId)) throw new NotFoundError('no such container');
    for (const p of this.guest.processes.values()) {
      if (p.spec.containerId === containerId) p.signal(SIGKILL);
    }
    this.guest.containers.delete(containerId);
  }

  async startProcess(spec: ProcessSpec): Promise<AgentProcess> {
    this.check(`startProcess ${spec.processId} ${spec.args.join(' ')}`);
    const c = this.guest.containers.get(spec.containerId);
    if (!c) throw new NotFoundError(`no container ${spec.containerId}`);
    if (this.guest.processes.get(spec.processId)?.running) throw new ConflictError(`process ${spec.processId} exists`);
    if (!spec.cwd.startsWith('/')) throw new InvalidArgumentError('the working directory must be an absolute path');
    const adj = spec.oomScoreAdj;
    if (adj !== undefined && (!Number.isInteger(adj) || adj < -1000 || adj > 1000))
      throw new InvalidArgumentError(`invalid oom_score_adj ${adj}: it must be between -1000 and 1000`);
    const hv = this.guest.hypervisor;
    const arg0 = spec.args[0] ?? '';
    const prog = hv.programs.get(path.basename(arg0));
    // runc's words, as the real agent (process.c): a PATH search, a path that is missing, a file that is no program.
    if (arg0.includes('/') && c.files.has(arg0)) throw new InvalidArgumentError(`exec: "${arg0}": permission denied`);
    if (!prog && !arg0.includes('/')) throw new NotFoundError(`exec: "${arg0}": executable file not found in $PATH`);
    if (!prog) throw new NotFoundError(`exec: "${arg0}": stat ${arg0}: no such file or directory`);
    const gp = new FakeGuestProcess(this.guest, spec, this.guest.allocPid());
    this.guest.processes.set(spec.processId, gp);
    const handle = fakeAgentProcess(gp);
    const guest = this.guest;
    const ctx: FakeProcessContext = {
      programs: hv.programs,
      args: spec.args,
      env: spec.env,
      cwd: spec.cwd,
      user: spec.user,
      terminal: spec.terminal,
      pid: gp.pid,
      size: () => (spec.terminal ? { rows: gp.rows, cols: gp.cols } : { rows: 0, cols: 0 }),
      write: (d: string | Buffer) => gp.emit('stdout', str(d)),
      writeErr: (d: string | Buffer) => gp.emit('stderr', str(d)),
      read: () => gp.read(),
      sleep: (ms: number) => gp.sleep(ms),
      trap: (s: number, a: ((s: number) => void) | 'ignore' | 'default') => {
        if (a === 'default') gp.handlers.delete(s);
        else gp.handlers.set(s, a);
      },
      readFile: (p: string) => {
        if (p === '/proc/self/oom_score_adj') return Buffer.from(`${spec.oomScoreAdj ?? 0}\n`);
        const { tree, key } = resolve(c, path.posix.resolve(spec.cwd, p));
        return tree.get(key);
      },
      exit: (status) => gp.exitNow(status),
      processes: () =>
        [...guest.processes.values()]
          .filter((x) => x.running && x.spec.containerId === spec.containerId)
          .map((x) => ({ pid: x.pid, args: x.spec.args, user: x.spec.user })),
    };
    void (async () => {
      let status: ExitStatus;
      try {
        status = { exitCode: (await prog(ctx)) & 255 };
      } catch (e) {
        if (e instanceof ProgramExit) status = e.status;
        else status = { exitCode: 1 };
      }
      gp.finish(status);
      // An init's exit kills the rest of its container, as PID 1 of a namespace would.
      if (gp.spec.processId === this.initOf(spec.containerId)) {
        for (const p of guest.processes.values())
          if (p !== gp && p.spec.containerId === spec.containerId) p.signal(SIGKILL);
      }
    })();
    return handle;
  }

  private initOf(containerId: string): string | undefined {
    for (const p of this.guest.processes.values()) if (p.spec.containerId === containerId) return p.spec.processId;
    return undefined;
  }

  async signalProcess(processId: string, signal: number): Promise<void> {
    this.check(`signalProcess ${processId} ${signal}`);
    const p = this.guest.processes.get(processId);
    if (!p || !p.running) throw new NotFoundError(`no process ${processId}`);
    if (!Number.isInteger(signal) || signal < 1 || signal > 64)
      throw new InvalidArgumentError(`invalid signal ${signal}`);
    p.signal(signal);
  }

  async resizeTerminal(processId: string, rows: number, cols: number): Promise<void> {
    this.check(`resizeTerminal ${processId} ${rows} ${cols}`);
    const p = this.guest.processes.get(processId);
    if (!p || !p.running) throw new NotFoundError(`no process ${processId}`);
    if (!p.spec.terminal) throw new InvalidArgumentError(`process ${processId} has no terminal`);
    p.rows = rows;
    p.cols = cols;
    p.signal(28 /* WINCH */);
  }

  async writeFile(containerId: string, p: string, data: Buffer, _mode: number): Promise<void> {
    this.check(`writeFile ${containerId} ${p}`);
    const c = this.guest.containers.get(containerId);
    if (!c) throw new NotFoundError(`no container ${containerId}`);
    checkPath(p);
    const { tree, key, mount } = resolve(c, p);
    if (mount?.readOnly) throw new InvalidArgumentError(`open ${p}: Read-only file system`);
    tree.set(key, Buffer.from(data));
  }

  async readFile(containerId: string, p: string, maxBytes: number): Promise<Buffer> {
    this.check(`readFile ${containerId} ${p}`);
    const c = this.guest.containers.get(containerId);
    if (!c) throw new NotFoundError(`no container ${containerId}`);
    const dyn = this.guest.hypervisor.procFiles(this.guest, p);
    checkPath(p);
    const { tree, key } = resolve(c, p);
    const data = dyn ?? tree.get(key);
    if (!data) throw new NotFoundError(`${p}: no such file or directory`);
    if (data.length > maxBytes) throw new InvalidArgumentError(`${p} is larger than ${maxBytes} bytes`);
    return Buffer.from(data);
  }

  /** Checked and kept as the real agent would (it is recorded; no fake program makes system calls). */
  async setSeccomp(
    containerId: string,
    filter: SeccompFilter | null,
    opts: { ifSupported?: boolean } = {},
  ): Promise<boolean> {
    this.check(`setSeccomp ${containerId} ${filter ? filter.defaultAction : 'none'}`);
    if (this.guest.hypervisor.olderAgents) {
      if (opts.ifSupported) return false;
      throw new NotImplementedError('the guest agent predates SET_SECCOMP');
    }
    const c = this.guest.containers.get(containerId);
    if (!c) throw new NotFoundError('no such container');
    encodeSeccomp(containerId, filter); // the client's checks of every value
    if (filter) c.seccomp = filter;
    else delete c.seccomp;
    return true;
  }

  /** The container's running processes, as the real agent reads them from /proc (fake figures). */
  async processTable(containerId: string): Promise<GuestProcessTable> {
    this.check(`processTable ${containerId}`);
    if (this.guest.hypervisor.olderAgents) throw new NotImplementedError('the guest agent predates PROCESS_TABLE');
    if (!this.guest.containers.has(containerId)) throw new NotFoundError('no such container');
    const mine = [...this.guest.processes.values()].filter((p) => p.running && p.spec.containerId === containerId);
    const init = mine[0];
    const ticks = (ms: number) => Math.round(ms / 10);
    return {
      clockTicks: 100,
      uptimeMs: Date.now() - this.guest.bootedAt,
      memTotalKiB: this.guest.size.memoryMiB * 1024,
      truncated: false,
      tasks: mine
        .map((p) => ({
          pid: p.pid,
          ppid: p === init ? 1 : init.pid,
          pgid: p.pid,
          sid: p.pid,
          tpgid: 0,
          uid: p.spec.user.uid,
          gid: p.spec.user.gid,
          state: 'S',
          startTicks: ticks(p.startedAt - this.guest.bootedAt),
          utime: 0,
          stime: 0,
          vszKiB: 2048,
          rssKiB: 1024,
          tty: p.spec.terminal ? 136 << 8 : 0,
          threads: 1,
          nice: 0,
          comm: path.basename(p.spec.args[0] ?? '').slice(0, 15),
          args: [...p.spec.args],
        }))
        .sort((a, b) => a.pid - b.pid),
    };
  }

  async reattach(): Promise<AgentProcess[]> {
    this.check('reattach');
    const out: AgentProcess[] = [];
    for (const p of this.guest.processes.values()) {
      if (p.running) out.push(fakeAgentProcess(p));
    }
    return out;
  }

  async shutdown(): Promise<void> {
    this.check('shutdown');
    this.guest.die({ expected: true, reason: 'guest powered off' });
  }

  async configureInterface(config: InterfaceConfig): Promise<void> {
    this.check(`configureInterface ${config.name}`);
    encodeInterface(config); // the real client's checks
    const i = this.guest.interfaces.find((x) => x.name === config.name);
    if (!i) throw new NotFoundError(`interface ${config.name}: No such device`);
    if (config.mac !== undefined && config.mac.toLowerCase() !== i.mac) {
      throw new InvalidArgumentError(`interface ${config.name} does not have the expected hardware address`);
    }
    if (config.setMac !== undefined) i.mac = config.setMac.toLowerCase();
    // An address replaces every one the interface had (its secondary ones too); 0.0.0.0 removes them all.
    if (config.address !== undefined) delete i.secondary;
    if (config.address === '0.0.0.0') {
      delete i.address;
      delete i.prefix;
    } else if (config.address !== undefined) Object.assign(i, { address: config.address, prefix: config.prefix });
    if (config.secondary?.length) i.secondary = config.secondary.map((s) => ({ ...s }));
    if (config.address6 === '::') {
      delete i.address6;
      delete i.prefix6;
    } else if (config.address6 !== undefined) Object.assign(i, { address6: config.address6, prefix6: config.prefix6 });
    if (config.mtu !== undefined) i.mtu = config.mtu;
    if (config.up !== undefined) i.up = config.up;
    // As the kernel does: an interface brought down loses its IPv6 addresses.
    if (config.up === false) {
      delete i.address6;
      delete i.prefix6;
    }
    // As the kernel does: an interface down or without its address loses its routes.
    if (config.address === '0.0.0.0' || config.up === false)
      this.guest.routes = this.guest.routes.filter((r) => r.device !== config.name);
  }

  async addRoute(route: RouteSpec): Promise<void> {
    this.check(`addRoute ${route.destination}/${route.prefix}`);
    encodeRoute(route);
    if (route.device !== undefined && !this.guest.interfaces.some((x) => x.name === route.device))
      throw new NotFoundError(`add route: No such device`);
    if (this.guest.routes.some((r) => r.destination === route.destination && r.prefix === route.prefix))
      throw new ConflictError('add route: File exists');
    this.guest.routes.push({ ...route });
  }

  async listInterfaces(): Promise<InterfaceInfo[]> {
    this.check('listInterfaces');
    return this.guest.interfaces.map((i) => ({
      ...i,
      ...(i.secondary ? { secondary: i.secondary.map((s) => ({ ...s })) } : {}),
    }));
  }

  async mount(m: ContainerMount): Promise<void> {
    this.check(`mount ${m.containerId} ${m.fstype} ${m.path}`);
    encodeMount(m);
    const c = this.guest.containers.get(m.containerId);
    if (!c) throw new NotFoundError(`no container ${m.containerId}`);
    let files = new Map<string, Buffer>();
    if (m.fstype === 'virtiofs') {
      if (m.source !== this.guest.devices.volumes?.tag)
        throw new NotFoundError(`virtio-fs tag ${m.source}: No such file or directory`);
      const key = `${m.source}/${m.subpath ?? ''}`;
      files = this.guest.volumeTrees.get(key) ?? new Map();
      this.guest.volumeTrees.set(key, files);
    } else if (m.fstype === 'diskdir') {
      // The real agent's rule: only a container created on an upper disk has one.
      if (c.spec.upperDisk === undefined)
        throw new InvalidArgumentError(`diskdir: container ${m.containerId} has no upper disk`);
      const key = `${c.spec.upperDisk}/${m.subpath!}`;
      files = this.guest.diskTrees.get(key) ?? new Map();
      this.guest.diskTrees.set(key, files);
    }
    c.mounts.set(m.path, { files, readOnly: m.readOnly ?? false });
  }

  async unmount(containerId: string, p: string): Promise<void> {
    this.check(`unmount ${containerId} ${p}`);
    checkPath(p);
    const c = this.guest.containers.get(containerId);
    if (!c) throw new NotFoundError(`no container ${containerId}`);
    if (!c.mounts.delete(p)) throw new NotFoundError(`unmount ${p}: No such file or directory`);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.guest.processes.values()) p.detachOutputs();
  }
}

/** The agent's path rule (files.c): absolute, no "..", not ending in "/". */
function checkPath(p: string): void {
  if (!p.startsWith('/') || p.length < 2 || p.endsWith('/') || p.split('/').includes('..')) {
    throw new InvalidArgumentError(`path must be absolute without ..: ${p}`);
  }
}

/** The file tree a container path lives in: the deepest mount above it, else the rootfs. */
function resolve(c: FakeContainer, p: string): { tree: Map<string, Buffer>; key: string; mount?: FakeMount } {
  let best: string | undefined;
  for (const m of c.mounts.keys()) if (p.startsWith(`${m}/`) && (!best || m.length > best.length)) best = m;
  if (!best) return { tree: c.files, key: p };
  const mount = c.mounts.get(best)!;
  return { tree: mount.files, key: p.slice(best.length), mount };
}
