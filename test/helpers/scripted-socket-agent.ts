/**
 * A scripted agent for the daemon's half of sockets in a VM's volume share
 * (src/pod/network/share-sockets.ts): the test pushes the guest kernel's socket events and reads the
 * answers, refusals and dials the relay makes; with the small file and socket helpers the
 * share-sockets tests share.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { PassThrough } from 'node:stream';
import type { AgentProcess, ExitStatus, PeerCredentials, ShareSocketEvent } from '../../src/vm/types';

/** The volume share's tag in these tests. */
export const TAG = 'podvisor-vol';

/** A relayed connection as the scripted agent holds it. */
export interface FakeConn {
  proc: AgentProcess;
  fromGuest: PassThrough;
  toGuest: PassThrough;
  exit: (s: ExitStatus) => void;
}

/** A scripted agent: events are pushed by the test; answers, refusals and dials are recorded. */
export class ScriptedAgent {
  private queue: ShareSocketEvent[] = [];
  private waiter?: (e: ShareSocketEvent) => void;
  private ended?: (e: Error) => void;
  refusals: { token: number; errno: number }[] = [];
  answers: { token: number; conn: FakeConn }[] = [];
  dials: { path: string; conn: FakeConn }[] = [];
  /** Whether a dial finds a guest socket listening. */
  guestListens = true;
  /** While set, answers wait for it (the guest's side of each connect is slow to come). */
  gate?: Promise<void>;
  private changed: (() => void)[] = [];
  private nextToken = 1;

  /** Events pushed and not yet asked for by the relay. */
  get pending(): number {
    return this.queue.length;
  }

  /** Push an event; a connect may name its caller (`peer`, as the guest kernel reports it). */
  push(kind: ShareSocketEvent['kind'], p: string, tag = TAG, peer?: PeerCredentials): number {
    const ev: ShareSocketEvent = { kind, token: this.nextToken++, tag, path: p, ...(peer ? { peer } : {}) };
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w(ev);
    } else this.queue.push(ev);
    return ev.token;
  }

  end(): void {
    this.ended?.(new Error('session over'));
  }

  /** Resolves once `pred` holds (checked after every answer, refusal or dial). */
  async until(pred: () => boolean): Promise<void> {
    while (!pred()) await new Promise<void>((r) => this.changed.push(r));
  }

  private notify(): void {
    const c = this.changed;
    this.changed = [];
    for (const f of c) f();
  }

  private conn(processId: string): FakeConn {
    const fromGuest = new PassThrough();
    const toGuest = new PassThrough();
    let exit!: (s: ExitStatus) => void;
    const exited = new Promise<ExitStatus>((r) => (exit = r));
    const proc: AgentProcess = {
      processId,
      containerId: 'c1',
      pid: 0,
      stdout: fromGuest,
      stderr: new PassThrough(),
      stdin: toGuest,
      exited,
    };
    return { proc, fromGuest, toGuest, exit };
  }

  readonly agent = {
    socketEvent: (): Promise<ShareSocketEvent> =>
      new Promise<ShareSocketEvent>((resolve, reject) => {
        const ev = this.queue.shift();
        if (ev) return resolve(ev);
        this.waiter = resolve;
        this.ended = reject;
      }),
    answerSocket: async (req: { token: number; processId: string }): Promise<AgentProcess> => {
      await this.gate;
      const c = this.conn(req.processId);
      this.answers.push({ token: req.token, conn: c });
      this.notify();
      return c.proc;
    },
    refuseSocket: async (token: number, errno: number): Promise<void> => {
      this.refusals.push({ token, errno });
      this.notify();
    },
    dialSocket: async (req: { path: string; processId: string }): Promise<AgentProcess> => {
      if (!this.guestListens) {
        this.notify();
        throw new Error('Connection refused');
      }
      const c = this.conn(req.processId);
      this.dials.push({ path: req.path, conn: c });
      this.notify();
      return c.proc;
    },
    signalProcess: async (): Promise<void> => undefined,
  };
}

/** A socket file nothing listens on (a server that exited without removing it), mode `mode`. */
export function bareSocketFile(file: string, mode: number): void {
  execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', file]);
  fs.chmodSync(file, mode);
}

/** Socket files nothing listens on, made by one process (mode 0755). */
export function bareSocketFiles(files: string[]): void {
  execFileSync('python3', [
    '-c',
    'import socket,sys\nfor f in sys.argv[1:]: socket.socket(socket.AF_UNIX).bind(f)',
    ...files,
  ]);
}

/** Resolves once `pred` holds, checked every 10 ms; false when it still does not after `ms`. */
export async function eventually(pred: () => boolean, ms = 5000): Promise<boolean> {
  for (const end = Date.now() + ms; !pred(); await new Promise((r) => setTimeout(r, 10)))
    if (Date.now() > end) return false;
  return true;
}

/** How many fds this process has open. */
export function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** The first `n` characters `stream` gives. */
export function read(stream: NodeJS.ReadableStream, n: number): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const on = (b: Buffer): void => {
      got += b.toString();
      if (got.length >= n) {
        stream.off('data', on);
        resolve(got);
      }
    };
    stream.on('data', on);
  });
}
