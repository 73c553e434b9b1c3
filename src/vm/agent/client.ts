/**
 * AgentClient: the host's client of the guest agent over its two channels (QEMU chardev
 * unix sockets for the VM's virtio-serial ports, or the agent itself in host test mode).
 *
 * connect() opens both sockets (retrying until the deadline while the socket file is not
 * there yet) and SYNCs each channel (connect.ts: openChannels, openWithin), then does the
 * VERSION handshake; it rejects with UnavailableError on timeout, close or a protocol
 * mismatch. Afterwards every request is a control frame answered ACK or ERROR; process output
 * arrives as stream frames routed by process handle to ProcessChannel objects.
 *
 * The framing, request matching, stream routing and failure path are AgentMux's (mux.ts); the
 * requests are encoded and checked by the *-ops.ts modules beside it (container-ops.ts,
 * device-ops.ts, socket-ops.ts, ...); this class sends them, with the checks that need its
 * state (the agent's last opcode, containers without their filter, process ids in use).
 *
 * Nothing from the guest is trusted: every frame is checked (FrameDecoder, TlvReader, credit
 * ledgers), and anything malformed, any frame for an unknown process or request, closes the
 * client like a dead channel. When either channel closes, every pending request and every
 * process's `exited` rejects with UnavailableError("agent channel closed ..."), and its
 * streams are destroyed with that error: a guest that dies mid-stream gives errors, never
 * hangs.
 */
import type {
  ActivateRequest,
  Agent,
  ArchiveRequest,
  AgentProcess,
  AgentProcessInfo,
  AgentVersion,
  CgroupMemory,
  DiskUsage,
  ContainerMount,
  ContainerSpec,
  GuestProcessTable,
  InterfaceConfig,
  InterfaceInfo,
  OutputResume,
  ProcessSpec,
  ResourceLimits,
  RouteSpec,
  SeccompFilter,
  SocketAcceptRequest,
  SocketListenRequest,
  ShareSocketEvent,
  SocketAnswerRequest,
  SocketDialRequest,
  FileEventRequest,
} from '../types';
import { ConflictError, InvalidArgumentError, NotImplementedError, UnavailableError } from '../../errors';
import { decodeInterfaces, encodeInterface, encodeMount, encodeRoute } from './device-ops';
import { encodeSeccomp } from './seccomp';
import { encodeArchive } from './archive';
import {
  decodePeer,
  decodeSocketEvent,
  encodeFileEvent,
  encodeSocketAccept,
  encodeSocketAnswer,
  encodeSocketDial,
  encodeSocketListen,
  encodeSocketRefusal,
} from './socket-ops';
import { openWithin } from './connect';
import type { AgentMux } from './mux';
import type { ProcessChannel } from './process';
import { decodeProcessTable } from './process-table';
import { decodeListed, resumeOutput } from './resume';
import { checkId, putLimits } from './requests';
import {
  checkProcess,
  encodeActivate,
  encodeContainer,
  encodeProcess,
  encodeReadFile,
  encodeResize,
  encodeSignal,
  encodeUnmount,
  encodeWriteFile,
} from './container-ops';
import { Limits, Op, PROTOCOL_VERSION, Tag } from './protocol';
import { protocolError, TlvWriter, type TlvReader } from './tlv';

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

/** The real Agent implementation. */
export class AgentClient implements Agent {
  /** The highest opcode the agent serves, from its VERSION answer (ACTIVATE before LAST_OP). */
  private lastOp: number = Op.ACTIVATE;
  /** Containers whose setSeccomp failed before it was sent: they start no process. */
  private readonly unfiltered = new Set<string>();

  private constructor(private readonly mux: AgentMux) {}

  /** Connect, sync both channels and check the protocol version. */
  static async connect(opts: AgentConnectOptions): Promise<AgentClient> {
    const window = opts.window ?? DEFAULT_WINDOW;
    if (window < Limits.MIN_WINDOW || window > Limits.MAX_WINDOW) throw new InvalidArgumentError('window out of range');
    return openWithin(opts, window, async (mux) => {
      const client = new AgentClient(mux);
      const v = await client.version();
      if (v.protocol !== PROTOCOL_VERSION) {
        client.close();
        throw new UnavailableError(
          `guest agent speaks protocol ${v.protocol}, this podvisor needs ${PROTOCOL_VERSION}: rebuild the guest (bash guest/build.sh)`,
        );
      }
      return client;
    });
  }

  // ---- Agent ------------------------------------------------------------------------------

  /** @inheritdoc */
  async version(): Promise<AgentVersion> {
    const r = await this.mux.request(Op.VERSION, new TlvWriter().u32(Tag.PROTOCOL, PROTOCOL_VERSION));
    const v = this.mux.decode(() => ({
      protocol: r.needU32(Tag.PROTOCOL),
      agent: r.str(Tag.AGENT, 256) ?? '',
      lastOp: r.u32(Tag.LAST_OP),
    }));
    if (v.lastOp !== undefined) this.lastOp = v.lastOp;
    return v.lastOp === undefined ? { protocol: v.protocol, agent: v.agent } : v;
  }

  /** @inheritdoc */
  async ping(): Promise<void> {
    await this.mux.request(Op.PING, new TlvWriter());
  }

  /** @inheritdoc */
  async createContainer(spec: ContainerSpec): Promise<void> {
    await this.mux.request(Op.CREATE_CONTAINER, encodeContainer(spec));
  }

  /** @inheritdoc */
  async setSeccomp(
    containerId: string,
    filter: SeccompFilter | null,
    opts: { ifSupported?: boolean } = {},
  ): Promise<boolean> {
    checkId(containerId, 'container id');
    // An older agent would take the unknown opcode for garbage and never answer.
    if (this.lastOp < Op.SET_SECCOMP && opts.ifSupported) return false;
    let payload: TlvWriter;
    try {
      if (this.lastOp < Op.SET_SECCOMP)
        throw new NotImplementedError('the guest agent predates SET_SECCOMP: it cannot apply a seccomp profile');
      payload = encodeSeccomp(containerId, filter);
    } catch (err) {
      // A start may be queued right behind this request (pipelined): no process of the
      // container may run without its filter (the agent fails closed the same way).
      if (filter) this.unfiltered.add(containerId);
      throw err;
    }
    this.unfiltered.delete(containerId);
    await this.mux.request(Op.SET_SECCOMP, payload);
    return true;
  }

  /** @inheritdoc */
  async updateResources(containerId: string, limits: ResourceLimits): Promise<void> {
    checkId(containerId, 'container id');
    await this.mux.request(Op.UPDATE_RESOURCES, putLimits(new TlvWriter().str(Tag.CONTAINER_ID, containerId), limits));
  }

  /** @inheritdoc */
  async cgroupMemory(containerId: string): Promise<CgroupMemory> {
    checkId(containerId, 'container id');
    const r = await this.mux.request(Op.MEMORY_STATS, new TlvWriter().str(Tag.CONTAINER_ID, containerId));
    return {
      usage: r.needU64(Tag.MEMORY_USAGE),
      limit: r.needU64(Tag.MEMORY_LIMIT),
      cache: r.u64(Tag.MEMORY_CACHE) ?? 0,
    };
  }

  /** @inheritdoc */
  async diskUsage(containerId: string): Promise<DiskUsage> {
    checkId(containerId, 'container id');
    // An older agent would take the unknown opcode for garbage and never answer.
    if (this.lastOp < Op.DISK_USAGE) throw new NotImplementedError('the guest agent predates DISK_USAGE');
    const r = await this.mux.request(Op.DISK_USAGE, new TlvWriter().str(Tag.CONTAINER_ID, containerId));
    return { used: r.needU64(Tag.DISK_USED), total: r.needU64(Tag.DISK_TOTAL) };
  }

  /** @inheritdoc */
  async processTable(containerId: string): Promise<GuestProcessTable> {
    checkId(containerId, 'container id');
    // An older agent would take the unknown opcode for garbage and never answer.
    if (this.lastOp < Op.PROCESS_TABLE) throw new NotImplementedError('the guest agent predates PROCESS_TABLE');
    const r = await this.mux.request(Op.PROCESS_TABLE, new TlvWriter().str(Tag.CONTAINER_ID, containerId));
    return this.mux.decode(() => decodeProcessTable(r));
  }

  /** @inheritdoc */
  async destroyContainer(containerId: string): Promise<void> {
    checkId(containerId, 'container id');
    this.unfiltered.delete(containerId);
    await this.mux.request(Op.DESTROY_CONTAINER, new TlvWriter().str(Tag.CONTAINER_ID, containerId));
  }

  /** @inheritdoc */
  async startProcess(spec: ProcessSpec): Promise<AgentProcess> {
    checkProcess(spec);
    if (this.unfiltered.has(spec.containerId))
      throw new InvalidArgumentError(
        `container ${spec.containerId} has no seccomp filter: its profile was not applied`,
      );
    if (this.mux.hasProcessId(spec.processId)) throw new ConflictError(`process id ${spec.processId} is in use`);
    return this.requestProcess(Op.START_PROCESS, encodeProcess(spec, this.mux.window), spec);
  }

  /** @inheritdoc */
  async archive(req: ArchiveRequest): Promise<AgentProcess> {
    if (this.lastOp < Op.ARCHIVE) throw new NotImplementedError('the guest agent predates ARCHIVE');
    if (this.mux.hasProcessId(req.processId)) throw new ConflictError(`process id ${req.processId} is in use`);
    const w = encodeArchive(req, this.mux.window);
    return this.requestProcess(Op.ARCHIVE, w, { ...req, terminal: false, stdin: req.kind === 'put' });
  }

  /** @inheritdoc */
  async listenSocket(req: SocketListenRequest): Promise<void> {
    if (this.lastOp < Op.SOCKET_ACCEPT) throw new NotImplementedError('the guest agent predates SOCKET_LISTEN');
    await this.mux.request(Op.SOCKET_LISTEN, encodeSocketListen(req));
  }

  /** @inheritdoc */
  async acceptSocket(req: SocketAcceptRequest): Promise<AgentProcess> {
    if (this.lastOp < Op.SOCKET_ACCEPT) throw new NotImplementedError('the guest agent predates SOCKET_ACCEPT');
    if (this.mux.hasProcessId(req.processId)) throw new ConflictError(`process id ${req.processId} is in use`);
    const w = encodeSocketAccept(req, this.mux.window);
    return this.requestProcess(Op.SOCKET_ACCEPT, w, { ...req, terminal: false, stdin: true }, (r, proc) => {
      proc.peer = decodePeer(r);
    });
  }

  /** @inheritdoc */
  async socketEvent(): Promise<ShareSocketEvent> {
    if (this.lastOp < Op.SOCKET_DIAL) throw new NotImplementedError('the guest agent predates SOCKET_EVENT');
    const r = await this.mux.request(Op.SOCKET_EVENT, new TlvWriter());
    return this.mux.decode(() => decodeSocketEvent(r));
  }

  /** @inheritdoc */
  async answerSocket(req: SocketAnswerRequest): Promise<AgentProcess> {
    if (this.mux.hasProcessId(req.processId)) throw new ConflictError(`process id ${req.processId} is in use`);
    const w = encodeSocketAnswer(req, this.mux.window);
    return this.requestProcess(Op.SOCKET_ANSWER, w, { ...req, terminal: false, stdin: true });
  }

  /** @inheritdoc */
  async refuseSocket(token: number, errno: number): Promise<void> {
    await this.mux.request(Op.SOCKET_ANSWER, encodeSocketRefusal(token, errno));
  }

  /** @inheritdoc */
  async dialSocket(req: SocketDialRequest): Promise<AgentProcess> {
    if (this.mux.hasProcessId(req.processId)) throw new ConflictError(`process id ${req.processId} is in use`);
    const w = encodeSocketDial(req, this.mux.window);
    return this.requestProcess(Op.SOCKET_DIAL, w, { ...req, terminal: false, stdin: true });
  }

  /** @inheritdoc */
  async fileEvent(e: FileEventRequest): Promise<void> {
    if (this.lastOp < Op.FILE_EVENT) throw new NotImplementedError('the guest agent predates FILE_EVENT');
    await this.mux.request(Op.FILE_EVENT, encodeFileEvent(e));
  }

  /** Send a request that starts a process (w is its payload but the handle), registered before the request: output may arrive before the ACK. */
  private async requestProcess(
    op: number,
    w: TlvWriter,
    p: { processId: string; containerId: string; terminal: boolean; stdin: boolean },
    more?: (r: TlvReader, proc: ProcessChannel) => void,
  ): Promise<AgentProcess> {
    const proc = this.mux.newProcess({
      processId: p.processId,
      containerId: p.containerId,
      terminal: p.terminal,
      stdin: p.stdin,
    });
    w.u32(Tag.HANDLE, proc.handle);
    try {
      const r = await this.mux.request(op, w);
      proc.setPid(this.mux.decode(() => r.needU32(Tag.PID)));
      if (more) this.mux.decode(() => more(r, proc));
      return proc;
    } catch (e) {
      this.mux.drop(proc);
      throw e;
    }
  }

  /** @inheritdoc */
  async signalProcess(processId: string, signal: number): Promise<void> {
    await this.mux.request(Op.SIGNAL, encodeSignal(processId, signal));
  }

  /** @inheritdoc */
  async resizeTerminal(processId: string, rows: number, cols: number): Promise<void> {
    await this.mux.request(Op.RESIZE, encodeResize(processId, rows, cols));
  }

  /** @inheritdoc */
  async writeFile(containerId: string, path: string, data: Buffer, mode: number): Promise<void> {
    await this.mux.request(Op.WRITE_FILE, encodeWriteFile(containerId, path, data, mode));
  }

  /** @inheritdoc */
  async readFile(containerId: string, path: string, maxBytes: number): Promise<Buffer> {
    const { w, limit } = encodeReadFile(containerId, path, maxBytes);
    const r = await this.mux.request(Op.READ_FILE, w);
    const data = r.bytes(Tag.DATA);
    if (!data) throw this.mux.violation(protocolError('READ_FILE answer without data'));
    if (data.length > limit)
      throw this.mux.violation(protocolError(`READ_FILE answered ${data.length} bytes, asked at most ${limit}`));
    return Buffer.from(data);
  }

  /** @inheritdoc */
  async configureInterface(config: InterfaceConfig): Promise<void> {
    await this.mux.request(Op.CONFIGURE_INTERFACE, encodeInterface(config));
  }

  /** @inheritdoc */
  async addRoute(route: RouteSpec): Promise<void> {
    await this.mux.request(Op.ADD_ROUTE, encodeRoute(route));
  }

  /** @inheritdoc */
  async listInterfaces(): Promise<InterfaceInfo[]> {
    const r = await this.mux.request(Op.LIST_INTERFACES, new TlvWriter());
    return this.mux.decode(() => decodeInterfaces(r));
  }

  /** @inheritdoc */
  async mount(m: ContainerMount): Promise<void> {
    checkId(m.containerId, 'container id');
    await this.mux.request(Op.MOUNT, encodeMount(m));
  }

  /** @inheritdoc */
  async unmount(containerId: string, path: string): Promise<void> {
    await this.mux.request(Op.UNMOUNT, encodeUnmount(containerId, path));
  }

  /** @inheritdoc */
  async cleanPod(): Promise<void> {
    await this.mux.request(Op.CLEAN_POD, new TlvWriter());
  }

  /** @inheritdoc */
  async activate(a: ActivateRequest): Promise<void> {
    await this.mux.request(Op.ACTIVATE, encodeActivate(a));
  }

  /** @inheritdoc */
  async releaseShare(): Promise<void> {
    if (this.lastOp < Op.RELEASE_SHARE) throw new NotImplementedError('the guest agent predates RELEASE_SHARE');
    await this.mux.request(Op.RELEASE_SHARE, new TlvWriter());
  }

  /** @inheritdoc */
  async renameContainer(containerId: string, newId: string, hostname?: string): Promise<void> {
    if (this.lastOp < Op.RENAME_CONTAINER) throw new NotImplementedError('the guest agent predates RENAME_CONTAINER');
    const w = new TlvWriter().str(Tag.CONTAINER_ID, containerId).str(Tag.NEW_ID, newId);
    if (hostname !== undefined) w.str(Tag.HOSTNAME, hostname);
    await this.mux.request(Op.RENAME_CONTAINER, w);
  }

  /** @inheritdoc */
  async readyDisk(guestName: string): Promise<void> {
    if (this.lastOp < Op.DROP_READY_DISK) throw new NotImplementedError('the guest agent predates READY_DISK');
    await this.mux.request(Op.READY_DISK, new TlvWriter().str(Tag.UPPER_DISK, guestName));
  }

  /** @inheritdoc */
  async dropReadyDisk(): Promise<void> {
    if (this.lastOp < Op.DROP_READY_DISK) return;
    await this.mux.request(Op.DROP_READY_DISK, new TlvWriter());
  }

  /** @inheritdoc */
  async reattach(resume?: (p: AgentProcessInfo) => OutputResume | undefined): Promise<AgentProcess[]> {
    const r = await this.mux.request(Op.LIST_PROCESSES, new TlvWriter());
    const listed = this.mux.decode(() => decodeListed(r));
    const out: AgentProcess[] = [];
    const fresh: ProcessChannel[] = [];
    for (const l of listed) {
      const known = this.mux.process(l.handle);
      if (known) {
        out.push(known);
        continue;
      }
      const want = resume?.({ processId: l.processId, containerId: l.containerId, pid: l.pid, terminal: l.terminal });
      if (want) {
        await resumeOutput(l, want, {
          request: (w) => this.mux.request(Op.RESUME_OUTPUT, w),
          decode: (fn) => this.mux.decode(fn),
          closed: () => this.mux.closed,
        });
      }
      const proc = this.mux.adopt(l);
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
      await this.mux.request(Op.SHUTDOWN, new TlvWriter());
    } catch (e) {
      // The guest may power off before its ACK reaches us: a closed channel is success here.
      if (!(e instanceof UnavailableError) || !/channel closed/.test(e.message)) throw e;
    }
  }

  /** @inheritdoc */
  close(): void {
    this.mux.fail(new UnavailableError('agent channel closed by the host'));
  }

  /** True once the channels are closed (for whatever reason). */
  get closed(): boolean {
    return this.mux.closed;
  }
}
