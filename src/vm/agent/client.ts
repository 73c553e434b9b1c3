/**
 * AgentClient: the host's client of the guest agent over its two channels (QEMU chardev
 * unix sockets for the VM's virtio-serial ports, or the agent itself in host test mode).
 *
 * connect() opens both sockets (retrying until the deadline while the socket file is not
 * there yet), SYNCs each channel, and does the VERSION handshake; it rejects with
 * UnavailableError on timeout, close or a protocol mismatch. Afterwards every request is a
 * control frame answered ACK or ERROR; process output arrives as stream frames routed by
 * process handle to ProcessChannel objects.
 *
 * Nothing from the guest is trusted: every frame is checked (FrameDecoder, TlvReader, credit
 * ledgers), and anything malformed, any frame for an unknown process or request, closes the
 * client like a dead channel. When either channel closes, every pending request and every
 * process's `exited` rejects with UnavailableError("agent channel closed ..."), and its
 * streams are destroyed with that error: a guest that dies mid-stream gives errors, never
 * hangs.
 */
import * as net from 'node:net';
import type {
  Agent,
  AgentProcess,
  AgentProcessInfo,
  AgentVersion,
  CgroupMemory,
  ContainerMount,
  ContainerSpec,
  ExitStatus,
  InterfaceConfig,
  InterfaceInfo,
  OutputResume,
  ProcessSpec,
  ResourceLimits,
  RouteSpec,
} from '../types';
import {
  ConflictError,
  InvalidArgumentError,
  PodvisorError,
  UnavailableError,
} from '../../errors';
import { logger } from '../../util/log';
import { encodeHeader, Frame, FrameDecoder } from './codec';
import { decodeInterfaces, encodeInterface, encodeMount, encodeRoute } from './device-ops';
import { ProcessChannel } from './process';
import { decodeListed, resumeOutput } from './resume';
import { connectUnix, syncChannel } from './connect';
import { agentError, checkId, checkPath, checkTermSize, putLimits } from './requests';
import {
  FrameType,
  isCtlFrameFromAgent,
  isIoFrameFromAgent,
  Limits,
  Op,
  PROTOCOL_VERSION,
  Stream,
  Tag,
} from './protocol';
import { protocolError, TlvReader, TlvWriter } from './tlv';

const log = logger('agent');

/** Options of AgentClient.connect. */
export interface AgentConnectOptions {
  /** Unix socket of the control channel. */
  ctlPath: string;
  /** Unix socket of the stream channel. */
  ioPath: string;
  /** Deadline for connecting, syncing and the version handshake. */
  timeoutMs: number;
  /** Output credit window per stream (default 256 KiB). */
  window?: number;
}

const DEFAULT_WINDOW = 256 * 1024;

interface Pending {
  op: number;
  resolve: (r: TlvReader) => void;
  reject: (e: Error) => void;
}

/** One channel's socket and parser. */
interface Channel {
  name: string;
  socket: net.Socket;
  decoder: FrameDecoder;
}

/** The real Agent implementation. */
export class AgentClient implements Agent {
  private readonly pending = new Map<number, Pending>();
  private readonly processes = new Map<number, ProcessChannel>();
  private nextRequest = 1;
  private nextHandle = 1;
  private closedBy: UnavailableError | undefined;
  private readonly window: number;

  private constructor(
    private readonly ctl: Channel,
    private readonly io: Channel,
    window: number,
  ) {
    this.window = window;
  }

  /** Connect, sync both channels and check the protocol version. */
  static async connect(opts: AgentConnectOptions): Promise<AgentClient> {
    const deadline = Date.now() + opts.timeoutMs;
    const window = opts.window ?? DEFAULT_WINDOW;
    if (window < Limits.MIN_WINDOW || window > Limits.MAX_WINDOW) throw new InvalidArgumentError('window out of range');
    const sockets: net.Socket[] = [];
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new UnavailableError(`agent did not answer within ${opts.timeoutMs} ms (${opts.ctlPath})`)),
        opts.timeoutMs,
      );
    });
    try {
      const attempt = (async () => {
        const [ctlSock, ioSock] = await Promise.all([
          connectUnix(opts.ctlPath, deadline, sockets),
          connectUnix(opts.ioPath, deadline, sockets),
        ]);
        const [ctlRest, ioRest] = await Promise.all([syncChannel(ctlSock, 'control'), syncChannel(ioSock, 'stream')]);
        const client = new AgentClient(
          {
            name: 'control',
            socket: ctlSock,
            decoder: new FrameDecoder({ channel: 'control', maxPayload: Limits.MAX_CTL_PAYLOAD, allowedType: isCtlFrameFromAgent }),
          },
          {
            name: 'stream',
            socket: ioSock,
            decoder: new FrameDecoder({ channel: 'stream', maxPayload: Limits.MAX_IO_PAYLOAD, allowedType: isIoFrameFromAgent }),
          },
          window,
        );
        client.start(ctlRest, ioRest);
        const v = await client.version();
        if (v.protocol !== PROTOCOL_VERSION) {
          client.close();
          throw new UnavailableError(
            `guest agent speaks protocol ${v.protocol}, this podvisor needs ${PROTOCOL_VERSION}: rebuild the guest (bash guest/build.sh)`,
          );
        }
        return client;
      })();
      attempt.catch(() => undefined);
      return await Promise.race([attempt, timeout]);
    } catch (e) {
      for (const s of sockets) s.destroy();
      throw e instanceof PodvisorError ? e : new UnavailableError(`cannot reach the agent: ${(e as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  // ---- Agent ------------------------------------------------------------------------------

  /** @inheritdoc */
  async version(): Promise<AgentVersion> {
    const r = await this.request(Op.VERSION, new TlvWriter().u32(Tag.PROTOCOL, PROTOCOL_VERSION));
    return this.decode(() => ({ protocol: r.needU32(Tag.PROTOCOL), agent: r.str(Tag.AGENT, 256) ?? '' }));
  }

  /** @inheritdoc */
  async ping(): Promise<void> {
    await this.request(Op.PING, new TlvWriter());
  }

  /** @inheritdoc */
  async createContainer(spec: ContainerSpec): Promise<void> {
    checkId(spec.id, 'container id');
    const w = new TlvWriter().str(Tag.CONTAINER_ID, spec.id).str(Tag.ROOTFS, spec.rootfs, Limits.MAX_PATH);
    if (spec.hostname !== undefined) w.str(Tag.HOSTNAME, spec.hostname, 64);
    if (spec.limits) putLimits(w, spec.limits);
    await this.request(Op.CREATE_CONTAINER, w);
  }

  /** @inheritdoc */
  async updateResources(containerId: string, limits: ResourceLimits): Promise<void> {
    checkId(containerId, 'container id');
    await this.request(Op.UPDATE_RESOURCES, putLimits(new TlvWriter().str(Tag.CONTAINER_ID, containerId), limits));
  }

  /** @inheritdoc */
  async cgroupMemory(containerId: string): Promise<CgroupMemory> {
    checkId(containerId, 'container id');
    const r = await this.request(Op.MEMORY_STATS, new TlvWriter().str(Tag.CONTAINER_ID, containerId));
    return { usage: r.needU64(Tag.MEMORY_USAGE), limit: r.needU64(Tag.MEMORY_LIMIT), cache: r.u64(Tag.MEMORY_CACHE) ?? 0 };
  }

  /** @inheritdoc */
  async destroyContainer(containerId: string): Promise<void> {
    checkId(containerId, 'container id');
    await this.request(Op.DESTROY_CONTAINER, new TlvWriter().str(Tag.CONTAINER_ID, containerId));
  }

  /** @inheritdoc */
  async startProcess(spec: ProcessSpec): Promise<AgentProcess> {
    checkId(spec.containerId, 'container id');
    checkId(spec.processId, 'process id');
    if (spec.args.length < 1 || spec.args.length > Limits.MAX_ARGS || spec.args[0] === '') {
      throw new InvalidArgumentError(`a process needs 1 to ${Limits.MAX_ARGS} arguments`);
    }
    if (spec.env.length > Limits.MAX_ENV) throw new InvalidArgumentError(`more than ${Limits.MAX_ENV} environment variables`);
    if (spec.user.additionalGids.length > Limits.MAX_GROUPS) {
      throw new InvalidArgumentError(`more than ${Limits.MAX_GROUPS} supplementary groups`);
    }
    if (!spec.cwd.startsWith('/')) throw new InvalidArgumentError('the working directory must be an absolute path');
    for (const p of this.processes.values()) {
      if (p.processId === spec.processId) throw new ConflictError(`process id ${spec.processId} is in use`);
    }
    const w = new TlvWriter()
      .str(Tag.CONTAINER_ID, spec.containerId)
      .str(Tag.PROCESS_ID, spec.processId)
      .strs(Tag.ARG, spec.args)
      .strs(Tag.ENV, spec.env)
      .str(Tag.CWD, spec.cwd, Limits.MAX_PATH)
      .u32(Tag.UID, spec.user.uid)
      .u32(Tag.GID, spec.user.gid)
      .u32(Tag.TERMINAL, spec.terminal ? 1 : 0)
      .u32(Tag.STDIN, spec.stdin ? 1 : 0)
      .u32(Tag.WINDOW, this.window);
    for (const g of spec.user.additionalGids) w.u32(Tag.GROUP, g);
    if (spec.terminal) w.u32(Tag.ROWS, checkTermSize(spec.rows ?? 24)).u32(Tag.COLS, checkTermSize(spec.cols ?? 80));
    if (w.length > Limits.MAX_CTL_PAYLOAD - 64) throw new InvalidArgumentError('process arguments and environment are too large');
    this.assertOpen();
    const handle = this.allocHandle();
    w.u32(Tag.HANDLE, handle);
    const proc = new ProcessChannel({
      handle,
      processId: spec.processId,
      containerId: spec.containerId,
      terminal: spec.terminal,
      stdin: spec.stdin,
      window: this.window,
      send: (type, aux, payload) => this.sendIo(type, aux, handle, payload),
    });
    // Registered before the request: output may arrive before the ACK.
    this.processes.set(handle, proc);
    try {
      const r = await this.request(Op.START_PROCESS, w);
      proc.setPid(this.decode(() => r.needU32(Tag.PID)));
      return proc;
    } catch (e) {
      if (this.processes.get(handle) === proc) this.processes.delete(handle);
      throw e;
    }
  }

  /** @inheritdoc */
  async signalProcess(processId: string, signal: number): Promise<void> {
    checkId(processId, 'process id');
    if (!Number.isInteger(signal) || signal < 1 || signal > 64) throw new InvalidArgumentError(`invalid signal ${signal}`);
    await this.request(Op.SIGNAL, new TlvWriter().str(Tag.PROCESS_ID, processId).u32(Tag.SIGNAL, signal));
  }

  /** @inheritdoc */
  async resizeTerminal(processId: string, rows: number, cols: number): Promise<void> {
    checkId(processId, 'process id');
    await this.request(
      Op.RESIZE,
      new TlvWriter().str(Tag.PROCESS_ID, processId).u32(Tag.ROWS, checkTermSize(rows)).u32(Tag.COLS, checkTermSize(cols)),
    );
  }

  /** @inheritdoc */
  async writeFile(containerId: string, path: string, data: Buffer, mode: number): Promise<void> {
    checkId(containerId, 'container id');
    checkPath(path);
    if (data.length > Limits.MAX_FILE_SIZE) throw new InvalidArgumentError(`file larger than ${Limits.MAX_FILE_SIZE} bytes`);
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new InvalidArgumentError(`invalid file mode ${mode}`);
    await this.request(
      Op.WRITE_FILE,
      new TlvWriter()
        .str(Tag.CONTAINER_ID, containerId)
        .str(Tag.PATH, path, Limits.MAX_PATH)
        .u32(Tag.MODE, mode)
        .bytes(Tag.DATA, data),
    );
  }

  /** @inheritdoc */
  async readFile(containerId: string, path: string, maxBytes: number): Promise<Buffer> {
    checkId(containerId, 'container id');
    checkPath(path);
    if (!Number.isInteger(maxBytes) || maxBytes < 0) throw new InvalidArgumentError(`invalid size limit ${maxBytes}`);
    const limit = Math.min(maxBytes, Limits.MAX_FILE_SIZE);
    const r = await this.request(
      Op.READ_FILE,
      new TlvWriter().str(Tag.CONTAINER_ID, containerId).str(Tag.PATH, path, Limits.MAX_PATH).u32(Tag.MAX_BYTES, limit),
    );
    const data = r.bytes(Tag.DATA);
    if (!data) throw this.violation(protocolError('READ_FILE answer without data'));
    if (data.length > limit) throw this.violation(protocolError(`READ_FILE answered ${data.length} bytes, asked at most ${limit}`));
    return Buffer.from(data);
  }

  /** @inheritdoc */
  async configureInterface(config: InterfaceConfig): Promise<void> {
    await this.request(Op.CONFIGURE_INTERFACE, encodeInterface(config));
  }

  /** @inheritdoc */
  async addRoute(route: RouteSpec): Promise<void> {
    await this.request(Op.ADD_ROUTE, encodeRoute(route));
  }

  /** @inheritdoc */
  async listInterfaces(): Promise<InterfaceInfo[]> {
    const r = await this.request(Op.LIST_INTERFACES, new TlvWriter());
    return this.decode(() => decodeInterfaces(r));
  }

  /** @inheritdoc */
  async mount(m: ContainerMount): Promise<void> {
    checkId(m.containerId, 'container id');
    await this.request(Op.MOUNT, encodeMount(m));
  }

  /** @inheritdoc */
  async unmount(containerId: string, path: string): Promise<void> {
    checkId(containerId, 'container id');
    checkPath(path);
    await this.request(Op.UNMOUNT, new TlvWriter().str(Tag.CONTAINER_ID, containerId).str(Tag.PATH, path, Limits.MAX_PATH));
  }

  /** @inheritdoc */
  async reattach(resume?: (p: AgentProcessInfo) => OutputResume | undefined): Promise<AgentProcess[]> {
    const r = await this.request(Op.LIST_PROCESSES, new TlvWriter());
    const listed = this.decode(() => decodeListed(r));
    const out: AgentProcess[] = [];
    const fresh: ProcessChannel[] = [];
    for (const l of listed) {
      const known = this.processes.get(l.handle);
      if (known) {
        out.push(known);
        continue;
      }
      const want = resume?.({ processId: l.processId, containerId: l.containerId, pid: l.pid, terminal: l.terminal });
      if (want) {
        await resumeOutput(l, want, {
          request: (w) => this.request(Op.RESUME_OUTPUT, w),
          decode: (fn) => this.decode(fn),
          closed: () => this.closedBy !== undefined,
        });
      }
      const proc = new ProcessChannel({
        ...l,
        window: this.window,
        send: (type, aux, payload) => this.sendIo(type, aux, l.handle, payload),
      });
      this.processes.set(l.handle, proc);
      this.nextHandle = Math.max(this.nextHandle, l.handle + 1);
      fresh.push(proc);
      out.push(proc);
    }
    // Only now may the agent send their output: these CREDIT frames attach them.
    for (const p of fresh) p.attach();
    return out;
  }

  /** @inheritdoc */
  async shutdown(): Promise<void> {
    try {
      await this.request(Op.SHUTDOWN, new TlvWriter());
    } catch (e) {
      // The guest may power off before its ACK reaches us: a closed channel is success here.
      if (!(e instanceof UnavailableError) || !/channel closed/.test(e.message)) throw e;
    }
  }

  /** @inheritdoc */
  close(): void {
    this.fail(new UnavailableError('agent channel closed by the host'));
  }

  /** True once the channels are closed (for whatever reason). */
  get closed(): boolean {
    return this.closedBy !== undefined;
  }

  // ---- plumbing ---------------------------------------------------------------------------

  private start(ctlRest: Buffer, ioRest: Buffer): void {
    for (const ch of [this.ctl, this.io]) {
      ch.socket.on('data', (chunk: Buffer) => this.onBytes(ch, chunk));
      ch.socket.on('error', (e) => this.fail(new UnavailableError(`agent channel closed (${ch.name}: ${e.message})`)));
      ch.socket.on('close', () => this.fail(new UnavailableError(`agent channel closed (${ch.name})`)));
      ch.socket.resume(); // paused by syncChannel so no byte was lost in between
    }
    if (ctlRest.length) this.onBytes(this.ctl, ctlRest);
    if (ioRest.length) this.onBytes(this.io, ioRest);
  }

  private onBytes(ch: Channel, chunk: Buffer): void {
    if (this.closedBy) return;
    try {
      for (const f of ch.decoder.push(chunk)) {
        if (ch === this.ctl) this.onCtlFrame(f);
        else this.onIoFrame(f);
        if (this.closedBy) return;
      }
    } catch (e) {
      const err = e instanceof UnavailableError ? e : protocolError((e as Error).message);
      this.violation(err);
    }
  }

  private onCtlFrame(f: Frame): void {
    if (f.aux !== 0) throw protocolError(`control frame with aux ${f.aux}`);
    if (f.type === FrameType.EXIT) {
      const r = TlvReader.parse(f.payload);
      const handle = r.needU32(Tag.HANDLE);
      const proc = this.processes.get(handle);
      if (!proc) throw protocolError(`exit event for unknown process handle ${handle}`);
      const code = r.needU32(Tag.EXIT_CODE);
      const signal = r.u32(Tag.SIGNAL);
      if (code > 255 || (signal !== undefined && (signal < 1 || signal > 64))) throw protocolError('exit status out of range');
      const status: ExitStatus = signal ? { exitCode: code, signal } : { exitCode: code };
      if (r.u32(Tag.OOM_KILLED) === 1) status.oomKilled = true;
      proc.onExit(status);
      this.forgetIfDone(proc);
      return;
    }
    if (f.type !== FrameType.ACK && f.type !== FrameType.ERROR) throw protocolError(`unexpected control frame ${f.type}`);
    const p = this.pending.get(f.id);
    if (!p) throw protocolError(`answer to unknown request ${f.id}`);
    this.pending.delete(f.id);
    let answer: TlvReader | Error;
    try {
      const r = TlvReader.parse(f.payload);
      answer = f.type === FrameType.ACK ? r : agentError(r);
    } catch (e) {
      p.reject(e as Error); // this request fails with the protocol error; fail() handles the rest
      throw e;
    }
    if (answer instanceof TlvReader) p.resolve(answer);
    else p.reject(answer);
  }

  private onIoFrame(f: Frame): void {
    const proc = this.processes.get(f.id);
    if (!proc) throw protocolError(`stream frame for unknown process handle ${f.id}`);
    switch (f.type) {
      case FrameType.DATA:
        if (f.payload.length === 0) throw protocolError('empty DATA frame');
        proc.onData(f.aux, f.payload);
        return;
      case FrameType.EOF:
        if (f.payload.length !== 0) throw protocolError('EOF frame with a payload');
        proc.onEof(f.aux);
        this.forgetIfDone(proc);
        return;
      case FrameType.CREDIT: {
        if (f.aux !== Stream.STDIN || f.payload.length !== 8) throw protocolError('malformed CREDIT frame');
        const limit = f.payload.readBigUInt64LE(0);
        if (limit > BigInt(Number.MAX_SAFE_INTEGER)) throw protocolError('credit out of range');
        proc.onStdinCredit(Number(limit));
        return;
      }
      default:
        throw protocolError(`unexpected stream frame ${f.type}`);
    }
  }

  private forgetIfDone(proc: ProcessChannel): void {
    if (proc.done && this.processes.get(proc.handle) === proc) this.processes.delete(proc.handle);
  }

  private request(op: number, w: TlvWriter): Promise<TlvReader> {
    return new Promise<TlvReader>((resolve, reject) => {
      if (this.closedBy) return reject(this.closedBy);
      const payload = w.toBuffer();
      if (payload.length > Limits.MAX_CTL_PAYLOAD) return reject(new InvalidArgumentError('request too large for the agent'));
      const id = this.nextRequest;
      this.nextRequest = this.nextRequest >= 0xffffffff ? 1 : this.nextRequest + 1;
      this.pending.set(id, { op, resolve, reject });
      this.ctl.socket.write(encodeHeader(op, 0, id, payload.length));
      if (payload.length) this.ctl.socket.write(payload);
    });
  }

  private sendIo(type: number, aux: number, handle: number, payload?: Buffer): void {
    if (this.closedBy) return;
    this.io.socket.write(encodeHeader(type, aux, handle, payload?.length ?? 0));
    if (payload?.length) this.io.socket.write(payload);
  }

  private allocHandle(): number {
    for (;;) {
      const h = this.nextHandle;
      this.nextHandle = this.nextHandle >= 0xffffffff ? 1 : this.nextHandle + 1;
      if (!this.processes.has(h)) return h;
    }
  }

  private assertOpen(): void {
    if (this.closedBy) throw this.closedBy;
  }

  /** Run a decoder over an answer; a malformed answer is a protocol violation. */
  private decode<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof UnavailableError) throw this.violation(e);
      throw e;
    }
  }

  /** A protocol violation: log it and close like a dead channel. Returns the error. */
  private violation(err: UnavailableError): UnavailableError {
    if (!this.closedBy) log.error(`${err.message}; closing the agent channels`);
    this.fail(err);
    return err;
  }

  private fail(err: UnavailableError): void {
    if (this.closedBy) return;
    this.closedBy = err;
    this.ctl.socket.destroy();
    this.io.socket.destroy();
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(err);
    const procs = [...this.processes.values()];
    this.processes.clear();
    for (const p of procs) p.fail(err);
  }
}
