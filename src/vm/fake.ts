/**
 * A complete in-memory implementation of the VM contracts (src/vm/types.ts) for unit tests
 * of the layers above (src/pod, src/api). No process, file or socket is created.
 *
 * A `FakeHypervisor` owns `FakeGuest`s (what would live inside QEMU). A `FakeVm` is a
 * handle on a guest with its own `FakeAgent`; `adopt()` makes a new handle and agent on a
 * guest that is still "running", which is how a daemon restart is simulated:
 *
 *   const hv = new FakeHypervisor();
 *   const vm = await hv.createVm({ memoryMiB: 256, cpus: 1 });
 *   await vm.agent.createContainer({ id: 'c1', rootfs: 'containers/c1/rootfs' });
 *   const p = await vm.agent.startProcess({ containerId: 'c1', processId: 'init', args: ['echo', 'hi'], ... });
 *   // p.stdout yields "hi\n"; p.exited resolves { exitCode: 0 }
 *   vm.agent.close(); const again = await hv.adopt(vm.id); await again!.agent.reattach();
 *   hv.crash(vm.id, 'kernel panic');   // every process rejects UnavailableError, vm.exited resolves
 *
 * Processes run small scripted programs from a registry (`FAKE_PROGRAMS`, extendable per
 * hypervisor with `hv.programs.set(name, fn)`): true, false, echo, cat, sleep, sh -c (a tiny
 * interpreter: `;`, `exit N`, `trap '' TERM`, `>&2`), env, pwd, id, hostname, ps, stty size,
 * yes, head, and two test helpers: `trap-term` (prints "got TERM" and exits 0 on SIGTERM) and
 * `ignore-term` (ignores SIGTERM; only SIGKILL ends it). Output streams are flow-controlled:
 * a program's write waits while the consumer does not read. Default signal dispositions are
 * the kernel's: a signal kills with 128 + n unless trapped or ignored (SIGCHLD, SIGWINCH,
 * SIGURG, SIGCONT are ignored). With a terminal, `\n` becomes `\r\n`, input is echoed and
 * Ctrl-C sends SIGINT.
 */
import { Readable, Writable } from 'node:stream';
import * as path from 'node:path';
import type {
  Agent,
  AgentProcess,
  AgentVersion,
  ContainerSpec,
  ExitStatus,
  Hypervisor,
  HypervisorCapabilities,
  ProcessSpec,
  ProcessUser,
  Vm,
  VmExit,
  VmFactory,
  VmSize,
} from './types';
import { ConflictError, InvalidArgumentError, NotFoundError, UnavailableError } from '../errors';

const SIGINT = 2;
const SIGKILL = 9;
const SIGTERM = 15;
/** Signals whose default action is to do nothing. */
const IGNORED_BY_DEFAULT = new Set([17 /* CHLD */, 18 /* CONT */, 23 /* URG */, 28 /* WINCH */]);

/** What a fake program sees: its argv, environment and I/O. */
export interface FakeProcessContext {
  readonly args: string[];
  readonly env: string[];
  readonly cwd: string;
  readonly user: ProcessUser;
  readonly terminal: boolean;
  readonly pid: number;
  /** Terminal size (rows, cols); 0 when there is no terminal. */
  size(): { rows: number; cols: number };
  /** Write to stdout; resolves when the consumer has room (flow control). */
  write(data: string | Buffer): Promise<void>;
  /** Write to stderr (to stdout with a terminal). */
  writeErr(data: string | Buffer): Promise<void>;
  /** Next chunk of stdin, or null at EOF (always null when stdin is closed). */
  read(): Promise<Buffer | null>;
  /** Sleep, in milliseconds. */
  sleep(ms: number): Promise<void>;
  /** Handle a signal: a function (called instead of dying), 'ignore', or 'default'. */
  trap(signal: number, action: ((signal: number) => void) | 'ignore' | 'default'): void;
  /** Files of the container (read-only view used by `cat`, `hostname`). */
  readFile(p: string): Buffer | undefined;
  /** The processes of this VM, for `ps`. */
  processes(): Array<{ pid: number; args: string[]; user: ProcessUser }>;
  /** Programs a shell in this VM can run. */
  readonly programs: ReadonlyMap<string, FakeProgram>;
}

/** A fake program: resolves with its exit code. */
export type FakeProgram = (ctx: FakeProcessContext) => Promise<number>;

/** Thrown inside programs to end them at once with a status (exit N, or death by signal). */
class ProgramExit {
  constructor(readonly status: ExitStatus) {}
}

function str(b: string | Buffer): Buffer {
  return typeof b === 'string' ? Buffer.from(b) : b;
}

async function readAll(ctx: FakeProcessContext): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let c = await ctx.read(); c; c = await ctx.read()) parts.push(c);
  return Buffer.concat(parts);
}

/** Split a tiny shell script into commands on `;`, `&&`-free, honouring single/double quotes. */
export function splitShell(script: string): string[][] {
  const commands: string[][] = [];
  let words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: string | null = null;
  for (let i = 0; i < script.length; i++) {
    const ch = script[i];
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && i + 1 < script.length) cur += script[++i];
      else cur += ch;
      continue;
    }
    if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < script.length) {
      cur += script[++i];
      inWord = true;
    } else if (ch === ';' || ch === '\n') {
      if (inWord) words.push(cur);
      if (words.length) commands.push(words);
      words = [];
      cur = '';
      inWord = false;
    } else if (ch === ' ' || ch === '\t') {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  if (words.length) commands.push(words);
  return commands;
}

const SIGNAL_NAMES: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, KILL: 9, USR1: 10, USR2: 12, TERM: 15 };

/** The built-in programs. */
export const FAKE_PROGRAMS: ReadonlyMap<string, FakeProgram> = new Map<string, FakeProgram>([
  ['true', async () => 0],
  ['false', async () => 1],
  ['echo', async (ctx) => {
    let a = ctx.args.slice(1);
    let nl = '\n';
    if (a[0] === '-n') {
      nl = '';
      a = a.slice(1);
    }
    await ctx.write(a.join(' ') + nl);
    return 0;
  }],
  ['cat', async (ctx) => {
    if (ctx.args.length > 1) {
      for (const f of ctx.args.slice(1)) {
        const data = ctx.readFile(f);
        if (!data) {
          await ctx.writeErr(`cat: can't open '${f}': No such file or directory\n`);
          return 1;
        }
        await ctx.write(data);
      }
      return 0;
    }
    for (let c = await ctx.read(); c; c = await ctx.read()) await ctx.write(c);
    return 0;
  }],
  ['sleep', async (ctx) => {
    await ctx.sleep(Number(ctx.args[1] ?? '0') * 1000);
    return 0;
  }],
  ['env', async (ctx) => {
    await ctx.write(ctx.env.map((e) => e + '\n').join(''));
    return 0;
  }],
  ['pwd', async (ctx) => {
    await ctx.write(ctx.cwd + '\n');
    return 0;
  }],
  ['id', async (ctx) => {
    await ctx.write(`uid=${ctx.user.uid} gid=${ctx.user.gid}${ctx.user.additionalGids.length ? ` groups=${ctx.user.additionalGids.join(',')}` : ''}\n`);
    return 0;
  }],
  ['hostname', async (ctx) => {
    await ctx.write(ctx.readFile('/etc/hostname') ?? 'localhost\n');
    return 0;
  }],
  ['ps', async (ctx) => {
    let out = 'PID   USER     TIME  COMMAND\n';
    for (const p of ctx.processes()) {
      out += `${String(p.pid).padStart(5)} ${String(p.user.uid === 0 ? 'root' : p.user.uid).padEnd(8)} 0:00 ${p.args.join(' ')}\n`;
    }
    await ctx.write(out);
    return 0;
  }],
  ['stty', async (ctx) => {
    if (!ctx.terminal) {
      await ctx.writeErr('stty: standard input: Not a tty\n');
      return 1;
    }
    const s = ctx.size();
    await ctx.write(`${s.rows} ${s.cols}\n`);
    return 0;
  }],
  ['yes', async (ctx) => {
    const line = (ctx.args[1] ?? 'y') + '\n';
    const chunk = line.repeat(Math.max(1, Math.floor(4096 / line.length)));
    for (;;) await ctx.write(chunk);
  }],
  ['head', async (ctx) => {
    // head -c N: the first N bytes of stdin.
    const n = ctx.args[1] === '-c' ? Number(ctx.args[2]) : Infinity;
    const data = (await readAll(ctx)).subarray(0, n);
    await ctx.write(data);
    return 0;
  }],
  ['trap-term', async (ctx) => {
    let got = false;
    ctx.trap(SIGTERM, () => {
      got = true;
    });
    await ctx.write('waiting\n');
    while (!got) await ctx.sleep(10);
    await ctx.write('got TERM\n');
    return 0;
  }],
  ['ignore-term', async (ctx) => {
    ctx.trap(SIGTERM, 'ignore');
    await ctx.write('ignoring TERM\n');
    for (;;) await ctx.sleep(1000);
  }],
  ['sh', async (ctx) => {
    if (ctx.args[1] !== '-c') {
      // An interactive-ish shell: run each stdin line as a script.
      let status = 0;
      let pending = '';
      for (let c = await ctx.read(); c; c = await ctx.read()) {
        pending += c.toString();
        let nl: number;
        while ((nl = pending.search(/\r|\n/)) >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          status = await runScript(ctx, line);
        }
      }
      return status;
    }
    return runScript(ctx, ctx.args[2] ?? '');
  }],
]);

/** The mini shell: runs `;`-separated commands, returns the last status. */
async function runScript(ctx: FakeProcessContext, script: string): Promise<number> {
  let status = 0;
  for (const cmd of splitShell(script)) {
    let words = cmd;
    let toErr = false;
    if (words[words.length - 1] === '>&2' || words[words.length - 1] === '1>&2') {
      toErr = true;
      words = words.slice(0, -1);
    }
    const [name, ...rest] = words;
    if (name === 'exit') throw new ProgramExit({ exitCode: Number(rest[0] ?? status) & 255 });
    if (name === 'trap') {
      const action = rest[0];
      for (const s of rest.slice(1)) {
        const n = SIGNAL_NAMES[s.replace(/^SIG/, '')] ?? Number(s);
        if (action === '') ctx.trap(n, 'ignore');
        else if (action === '-') ctx.trap(n, 'default');
        else {
          const inner = action;
          ctx.trap(n, () => {
            void runScript(ctx, inner).catch(() => undefined);
          });
        }
      }
      status = 0;
      continue;
    }
    const prog = ctx.programs.get(path.basename(name));
    if (!prog) {
      await ctx.writeErr(`sh: ${name}: not found\n`);
      status = 127;
      continue;
    }
    const sub: FakeProcessContext = toErr ? { ...ctx, args: words, write: ctx.writeErr } : { ...ctx, args: words };
    status = await prog(sub);
  }
  return status;
}

/** An output Readable fed by a program, paced by the consumer. */
class FakeOutput extends Readable {
  private waiters: Array<() => void> = [];
  constructor() {
    super({ highWaterMark: 16 * 1024 });
  }
  override _read(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  /** Wake writers waiting for room (the stream is going away). */
  wake(): void {
    this._read();
  }
  /** Push data; resolves when there is room again. */
  async put(data: Buffer): Promise<void> {
    if (this.destroyed || this.readableEnded) return;
    if (!this.push(data)) await new Promise<void>((r) => this.waiters.push(r));
  }
  finish(): void {
    if (!this.destroyed) this.push(null);
    this._read();
  }
}

/** One process inside a fake guest. */
class FakeGuestProcess {
  readonly handlers = new Map<number, ((s: number) => void) | 'ignore'>();
  /** Output waiting while no host handle is attached (after agent.close()). */
  private detached: Array<{ stream: 'stdout' | 'stderr'; data: Buffer }> = [];
  stdout: FakeOutput | null = null;
  stderr: FakeOutput | null = null;
  stdinQueue: Buffer[] = [];
  stdinEnded: boolean;
  stdinWaiter: (() => void) | null = null;
  rows: number;
  cols: number;
  status: ExitStatus | null = null;
  failure: Error | null = null;
  private exitListeners: Array<() => void> = [];
  private sleepers = new Set<() => void>();
  /** Set when a signal ends the process; programs then stop at their next await. */
  private killedBy: ExitStatus | null = null;

  constructor(
    readonly guest: FakeGuest,
    readonly spec: ProcessSpec,
    readonly pid: number,
  ) {
    this.stdinEnded = !spec.stdin;
    this.rows = spec.rows ?? 24;
    this.cols = spec.cols ?? 80;
  }

  /** Attach new host-side output streams (at start, or after a reattach). */
  attachOutputs(): void {
    this.stdout = new FakeOutput();
    this.stderr = this.spec.terminal ? null : new FakeOutput();
    for (const p of this.detached) (p.stream === 'stderr' && this.stderr ? this.stderr : this.stdout).push(p.data);
    this.detached = [];
    if (!this.running) this.endOutputs();
  }

  /** Drop the host-side streams (agent closed); output is kept until the next attach. */
  detachOutputs(): void {
    for (const o of [this.stdout, this.stderr]) {
      o?.destroy();
      o?.wake();
    }
    this.stdout = null;
    this.stderr = null;
  }

  async emit(stream: 'stdout' | 'stderr', data: Buffer): Promise<void> {
    this.checkAlive();
    await this.guest.gate();
    this.checkAlive();
    if (this.spec.terminal) {
      stream = 'stdout';
      data = Buffer.from(data.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
    }
    const out = stream === 'stdout' ? this.stdout : this.stderr;
    if (!out) {
      this.detached.push({ stream, data });
      return;
    }
    await out.put(data);
    this.checkAlive();
  }

  checkAlive(): void {
    if (this.killedBy) throw new ProgramExit(this.killedBy);
    if (this.failure) throw new ProgramExit({ exitCode: 255 });
  }

  async read(): Promise<Buffer | null> {
    for (;;) {
      this.checkAlive();
      if (this.stdinQueue.length) return this.stdinQueue.shift() as Buffer;
      if (this.stdinEnded) return null;
      await new Promise<void>((r) => (this.stdinWaiter = r));
    }
  }

  input(data: Buffer): void {
    if (this.spec.terminal) {
      // The line discipline: echo, and ^C becomes SIGINT.
      const s = data.toString('latin1');
      if (s.includes('\x03')) {
        this.signal(SIGINT);
        return;
      }
      void this.emit('stdout', data).catch(() => undefined);
    }
    this.stdinQueue.push(data);
    this.wakeStdin();
  }

  closeStdin(): void {
    this.stdinEnded = true;
    this.wakeStdin();
  }

  private wakeStdin(): void {
    const w = this.stdinWaiter;
    this.stdinWaiter = null;
    w?.();
  }

  sleep(ms: number): Promise<void> {
    this.checkAlive();
    return new Promise<void>((resolve, reject) => {
      const wake = () => {
        clearTimeout(t);
        this.sleepers.delete(wake);
        try {
          this.checkAlive();
          resolve();
        } catch (e) {
          reject(e);
        }
      };
      const t = setTimeout(wake, ms);
      this.sleepers.add(wake);
    }).then(() => this.guest.gate());
  }

  signal(sig: number): void {
    if (this.status || this.failure) return;
    const h = sig === SIGKILL ? undefined : this.handlers.get(sig);
    if (h === 'ignore') return;
    if (typeof h === 'function') {
      h(sig);
      return;
    }
    if (IGNORED_BY_DEFAULT.has(sig)) return;
    this.killedBy = { exitCode: 128 + sig, signal: sig };
    this.finish(this.killedBy);
  }

  /** Record the exit (once), end the outputs, wake everything that waits. */
  finish(status: ExitStatus): void {
    if (this.status || this.failure) return;
    this.status = status;
    this.endOutputs();
    this.wakeAll();
  }

  fail(err: Error): void {
    if (this.status || this.failure) return;
    this.failure = err;
    this.endOutputs();
    this.wakeAll();
  }

  private endOutputs(): void {
    this.stdout?.finish();
    this.stderr?.finish();
  }

  private wakeAll(): void {
    for (const s of [...this.sleepers]) s();
    this.wakeStdin();
    const l = this.exitListeners;
    this.exitListeners = [];
    for (const f of l) f();
  }

  onDone(f: () => void): void {
    if (this.status || this.failure) f();
    else this.exitListeners.push(f);
  }

  get running(): boolean {
    return !this.status && !this.failure;
  }
}

/** A fake container: its id, rootfs and small file tree. */
interface FakeContainer {
  spec: ContainerSpec;
  files: Map<string, Buffer>;
}

/** What lives "inside the VM": containers, processes, and whether it is up. */
export class FakeGuest {
  readonly containers = new Map<string, FakeContainer>();
  readonly processes = new Map<string, FakeGuestProcess>();
  alive = true;
  paused = false;
  exit: VmExit | null = null;
  private nextPid = 100;
  private pauseWaiters: Array<() => void> = [];
  private exitListeners: Array<(e: VmExit) => void> = [];
  /** Requests seen by this guest's agents, for assertions ("createContainer c1", ...). */
  readonly calls: string[] = [];

  constructor(
    readonly id: string,
    readonly size: VmSize,
    readonly hypervisor: FakeHypervisor,
  ) {}

  allocPid(): number {
    return this.nextPid++;
  }

  /** Resolves at once unless the VM is paused. */
  gate(): Promise<void> {
    if (!this.paused) return Promise.resolve();
    return new Promise((r) => this.pauseWaiters.push(r));
  }

  setPaused(p: boolean): void {
    this.paused = p;
    if (!p) {
      const w = this.pauseWaiters;
      this.pauseWaiters = [];
      for (const f of w) f();
    }
  }

  /** The VM process goes away: every process fails, listeners learn why. */
  die(exit: VmExit): void {
    if (!this.alive) return;
    this.alive = false;
    this.exit = exit;
    const err = new UnavailableError(`VM ${this.id} exited: ${exit.reason}`);
    for (const p of this.processes.values()) p.fail(err);
    this.setPaused(false);
    const l = this.exitListeners;
    this.exitListeners = [];
    for (const f of l) f(exit);
  }

  onExit(f: (e: VmExit) => void): void {
    if (this.exit) f(this.exit);
    else this.exitListeners.push(f);
  }
}

/** Host handle on one fake process (what the agent client returns). */
class FakeAgentProcess implements AgentProcess {
  readonly processId: string;
  readonly containerId: string;
  readonly pid: number;
  readonly stdout: Readable;
  readonly stderr: Readable | null;
  readonly stdin: Writable | null;
  readonly exited: Promise<ExitStatus>;

  constructor(gp: FakeGuestProcess) {
    this.processId = gp.spec.processId;
    this.containerId = gp.spec.containerId;
    this.pid = gp.pid;
    gp.attachOutputs();
    this.stdout = gp.stdout as Readable;
    this.stderr = gp.stderr;
    this.stdin = gp.spec.stdin
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
    this.stdout.on('error', () => undefined);
    this.stderr?.on('error', () => undefined);
    this.stdin?.on('error', () => undefined);
    this.exited = new Promise<ExitStatus>((resolve, reject) => {
      gp.onDone(() => {
        if (gp.status) resolve(gp.status);
        else reject(gp.failure);
      });
    });
    this.exited.catch(() => undefined);
  }
}

/** Thrown by FakeAgent.check when agents are set to hang; the methods turn it into a promise that never settles. */
const HANG = Symbol('hang');

/** The fake agent of one VM handle. */
export class FakeAgent implements Agent {
  private closed = false;

  constructor(private readonly guest: FakeGuest) {
    // With `hypervisor.hangAgents`, every request stays unanswered (a guest that stopped
    // responding): wrap each method so the HANG marker becomes a promise that never settles.
    for (const name of ['ping', 'createContainer', 'destroyContainer', 'startProcess', 'signalProcess', 'resizeTerminal', 'writeFile', 'readFile', 'reattach', 'shutdown'] as const) {
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
    return { protocol: 1, agent: 'fake-agent' };
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
    const files = new Map<string, Buffer>();
    for (const [p, c] of Object.entries(hv.rootfsFiles)) files.set(p, Buffer.from(c));
    this.guest.containers.set(spec.id, { spec, files });
  }

  async destroyContainer(containerId: string): Promise<void> {
    this.check(`destroyContainer ${containerId}`);
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
    const hv = this.guest.hypervisor;
    const name = path.basename(spec.args[0] ?? '');
    const prog = hv.programs.get(name);
    if (!prog) throw new InvalidArgumentError(`exec: "${spec.args[0]}": executable file not found in $PATH`);
    const gp = new FakeGuestProcess(this.guest, spec, this.guest.allocPid());
    this.guest.processes.set(spec.processId, gp);
    const handle = new FakeAgentProcess(gp);
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
      readFile: (p: string) => c.files.get(path.posix.resolve(spec.cwd, p)),
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
        for (const p of guest.processes.values()) if (p !== gp && p.spec.containerId === spec.containerId) p.signal(SIGKILL);
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
    if (!Number.isInteger(signal) || signal < 1 || signal > 64) throw new InvalidArgumentError(`invalid signal ${signal}`);
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
    if (!p.startsWith('/')) throw new InvalidArgumentError(`path must be absolute: ${JSON.stringify(p)}`);
    c.files.set(p, Buffer.from(data));
  }

  async readFile(containerId: string, p: string, maxBytes: number): Promise<Buffer> {
    this.check(`readFile ${containerId} ${p}`);
    const c = this.guest.containers.get(containerId);
    if (!c) throw new NotFoundError(`no container ${containerId}`);
    const dyn = this.guest.hypervisor.procFiles(this.guest, p);
    const data = dyn ?? c.files.get(p);
    if (!data) throw new NotFoundError(`${p}: no such file or directory`);
    if (data.length > maxBytes) throw new InvalidArgumentError(`${p} is larger than ${maxBytes} bytes`);
    return Buffer.from(data);
  }

  async reattach(): Promise<AgentProcess[]> {
    this.check('reattach');
    const out: AgentProcess[] = [];
    for (const p of this.guest.processes.values()) {
      if (p.running) out.push(new FakeAgentProcess(p));
    }
    return out;
  }

  async shutdown(): Promise<void> {
    this.check('shutdown');
    this.guest.die({ expected: true, reason: 'guest powered off' });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.guest.processes.values()) p.detachOutputs();
  }
}

/** A host handle on a fake guest. */
export class FakeVm implements Vm {
  readonly agent: FakeAgent;
  readonly exited: Promise<VmExit>;
  readonly pid: number;

  constructor(
    readonly guest: FakeGuest,
    readonly shareDir: string,
  ) {
    this.agent = new FakeAgent(guest);
    this.pid = 10000 + Number(guest.id.replace(/\D/g, '') || 0);
    this.exited = new Promise((r) => guest.onExit(r));
  }

  get id(): string {
    return this.guest.id;
  }

  get size(): VmSize {
    return this.guest.size;
  }

  async pause(): Promise<void> {
    if (!this.guest.alive) throw new UnavailableError(`VM ${this.id} is not running`);
    this.guest.setPaused(true);
  }

  async resume(): Promise<void> {
    if (!this.guest.alive) throw new UnavailableError(`VM ${this.id} is not running`);
    this.guest.setPaused(false);
  }

  async destroy(): Promise<void> {
    this.guest.die({ expected: true, reason: 'destroyed by the host' });
    this.guest.hypervisor.forget(this.id);
  }

  async memoryUsage(): Promise<number> {
    return this.guest.size.memoryMiB * 1024 * 1024 / 4;
  }

  /** Times trimIdleMemory was called (it changes nothing in the fake). */
  trims = 0;

  async trimIdleMemory(): Promise<void> {
    this.trims++;
  }
}

/** Construction options of the fake hypervisor. */
export interface FakeHypervisorOptions {
  capabilities?: Partial<HypervisorCapabilities>;
  /** Base of the fake share directories (nothing is created there). */
  shareRoot?: string;
  /** Milliseconds a boot takes (default 0). */
  bootDelayMs?: number;
}

/** Injectable failures for rollback tests. */
export interface FakeFailures {
  /** The next createVm rejects. */
  boot: boolean;
  /** The next createContainer rejects. */
  createContainer: boolean;
}

/** The fake hypervisor: boots fake guests, adopts surviving ones, crashes them on request. */
export class FakeHypervisor implements Hypervisor {
  readonly capabilities: HypervisorCapabilities;
  /** Programs that processes can run; tests may add their own. */
  readonly programs = new Map<string, FakeProgram>(FAKE_PROGRAMS);
  /** Files every new container starts with (path -> content). */
  rootfsFiles: Record<string, string> = {
    '/etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
    '/etc/group': 'root:x:0:\nwheel:x:10:user\nuser:x:1000:\nnogroup:x:65534:\n',
  };
  readonly failNext: FakeFailures = { boot: false, createContainer: false };
  /** When true, agents stop answering (requests never settle), as a hung guest. */
  hangAgents = false;
  /** Every guest ever booted, by id (also the dead ones). */
  readonly guests = new Map<string, FakeGuest>();
  /** Number of boots so far. */
  boots = 0;
  private nextId = 1;
  private readonly shareRoot: string;
  private readonly bootDelayMs: number;

  constructor(opts: FakeHypervisorOptions = {}) {
    this.capabilities = { accel: 'tcg', sharedDirectory: true, pause: true, reconnect: true, ...opts.capabilities };
    this.shareRoot = opts.shareRoot ?? '/nonexistent/fake-vms';
    this.bootDelayMs = opts.bootDelayMs ?? 0;
  }

  async createVm(size: VmSize): Promise<Vm> {
    if (this.bootDelayMs) await new Promise((r) => setTimeout(r, this.bootDelayMs));
    if (this.failNext.boot) {
      this.failNext.boot = false;
      throw new UnavailableError('VM did not boot: injected failure');
    }
    this.boots++;
    const id = `fakevm${this.nextId++}`;
    const guest = new FakeGuest(id, { ...size }, this);
    this.guests.set(id, guest);
    return new FakeVm(guest, path.join(this.shareRoot, id, 'share'));
  }

  async adopt(id: string): Promise<Vm | undefined> {
    const g = this.guests.get(id);
    if (!g || !g.alive) return undefined;
    return new FakeVm(g, path.join(this.shareRoot, id, 'share'));
  }

  async listRuntimeVms(): Promise<string[]> {
    return [...this.guests.values()].filter((g) => g.alive).map((g) => g.id);
  }

  /** The VM dies on its own (kernel panic, OOM of QEMU...). */
  crash(id: string, reason = 'crashed'): void {
    this.guests.get(id)?.die({ expected: false, reason });
  }

  /** Guests that are still running. */
  running(): FakeGuest[] {
    return [...this.guests.values()].filter((g) => g.alive);
  }

  /** Called by FakeVm.destroy. */
  forget(_id: string): void {
    // Dead guests stay in `guests` for assertions.
  }

  /** Synthetic /proc files for stats and top. */
  procFiles(guest: FakeGuest, p: string): Buffer | undefined {
    const memKiB = guest.size.memoryMiB * 1024;
    switch (p) {
      case '/proc/meminfo':
        return Buffer.from(`MemTotal:       ${memKiB} kB\nMemFree:        ${Math.floor(memKiB * 0.7)} kB\nMemAvailable:   ${Math.floor(memKiB * 0.8)} kB\nBuffers:        1024 kB\nCached:         ${Math.floor(memKiB * 0.05)} kB\n`);
      case '/proc/stat': {
        const t = Math.floor(process.uptime() * 100);
        return Buffer.from(`cpu  ${t} 0 ${Math.floor(t / 2)} ${t * 10} 0 0 0 0 0 0\ncpu0 ${t} 0 ${Math.floor(t / 2)} ${t * 10} 0 0 0 0 0 0\n`);
      }
      case '/proc/loadavg':
        return Buffer.from(`0.00 0.00 0.00 1/${guest.processes.size + 1} 100\n`);
      default:
        return undefined;
    }
  }
}

/** A VmFactory that boots on demand from a (fake) hypervisor. */
export class FakeFactory implements VmFactory {
  readonly handedOut: Vm[] = [];
  constructor(readonly hypervisor: Hypervisor) {}
  async getVm(size: VmSize): Promise<Vm> {
    const vm = await this.hypervisor.createVm(size);
    this.handedOut.push(vm);
    return vm;
  }
  async close(): Promise<void> {
    // Nothing is kept idle.
  }
}
