/**
 * Unix stream sockets in a VM's volume share (bind mounts and volumes), reachable across the
 * VM's edge both ways, as they are under runc where every side shares one kernel.
 *
 * A socket file in the share is the host's file. Our guest kernel reports two things about
 * such files (guest/kernel/patches/0006-9p-host-sockets.patch), one at a time through
 * Agent.socketEvent:
 *
 *   connect   a guest process connects to a socket file no guest socket is bound to: a host
 *             service's, or one another VM bound (which the host listens for, below). The
 *             host opens the file beneath the share it holds (no symlink, a socket or
 *             nothing) and connects to that inode as the caller's uid, gid and groups (the
 *             kernel reports them with the connect; ./connect-as.ts); refused, the guest's connect fails with
 *             the same errno; connected, the guest process is connected to the agent and the
 *             two connections are piped (./socket-relay.ts pipeGuestConnection).
 *   bound     a guest process bound a stream socket in the share. The host listens at that
 *             file on its side: a socket of its own bound under a random name in the same
 *             directory (the guest's file's mode and owner), renamed over the guest's file.
 *             Each connection to it (a host client, or another VM's through the host) is
 *             piped to a connection the agent makes to the guest's socket (Agent.dialSocket),
 *             as the client's uid, gid and groups (SO_PEERCRED and SO_PEERGROUPS of its
 *             connection, ./peer-of.ts), so the guest's server sees them as under runc.
 *             Once the guest's socket is gone, the host's listener is closed and the file
 *             left, as a socket whose server exited leaves it: connects are refused.
 *
 * The guest names files by the share's tag and a path from its root: both are checked here
 * against the share the host made (the path resolved beneath the share directory in one
 * openat2 call, src/util/resolve-beneath.ts), so a guest reaches no socket outside what it
 * was given.
 *
 * What a guest can make the host do is bounded:
 *  - at most MAX_EVENTS_IN_FLIGHT events (connect, bound, watch) are handled at once per VM:
 *    the next event is asked of the agent only once a slot is free, so the rest wait in the
 *    guest, whose kernel queues 256 and then drops BOUND and WATCH and lets a connect fail;
 *  - at most MAX_CONNECTIONS relayed connections at once (a slot is taken before the host
 *    connects or the agent dials, so connects still on their way count too; further connects
 *    are refused);
 *  - at most MAX_LISTENERS host listeners, one per path: a BOUND of a path the host already
 *    listens for is checked against the file there and changes nothing unless the guest's
 *    socket really replaced the host's (BOUNDs that come while a listener is being set up
 *    are folded into one check once it is);
 *  - every listener and connection has an `error` handler: a socket error ends that socket,
 *    never the daemon.
 * The host listeners of a VM end with it.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { constants as osConstants } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { AgentProcess, PeerCredentials, ShareSocketEvent, Vm } from '../../vm/types';
import { at, O_PATH, openChild, type BeneathPath } from '../../util/beneath';
import { openGuestParent } from '../../util/resolve-beneath';
import { WorkSlots } from '../../util/work-slots';
import { InvalidArgumentError } from '../../errors';
import { logger } from '../../util/log';
import { pipeGuestConnection } from './socket-relay';
import { connectHostSocket } from './connect-as';
import { peerOf } from './peer-of';
import { stopShareWatcher, watchShareFile } from './share-events';

const log = logger('pod');

/** Relayed connections of one VM open at once, at most (both directions together). */
export const MAX_CONNECTIONS = 256;

/**
 * Socket and watch events of one VM handled at once, at most: the next one is asked of the
 * agent only when one of these is done (see the module comment).
 */
export const MAX_EVENTS_IN_FLIGHT = 8;

/**
 * Host listeners of one VM at once, at most (each holds a listening socket and a directory):
 * a BOUND beyond them leaves the guest's socket on its own side, as before the relay.
 */
export const MAX_LISTENERS = 256;

/** One host listener standing in for a guest's socket. */
interface HostListener {
  server: net.Server;
  /** The directory the socket is in, held while the listener lives (the server's bound path is under it). */
  parent?: fs.promises.FileHandle;
  /** Set up (onBound is done with it): closing it is closeListener's, not onBound's. */
  ready: boolean;
  /** Closed, or to be closed once onBound is done with it (replaced by a newer BOUND, or the VM went). */
  closed: boolean;
  /** The host socket's inode once it has the guest's name: a BOUND finding it there changes nothing. */
  ino?: number;
  /** A check of the file at its path (a BOUND of a path already listened for) is under way. */
  checking: boolean;
  /** A BOUND of the same path came while this one was being set up or checked: check (again) once that is done. */
  recheck: boolean;
}

/** What one VM's relay keeps. */
interface ShareSockets {
  /** Containers of the VM with share mounts, newest last: a connection is made under one. */
  containers: string[];
  /** Host listeners by the guest's path. */
  listeners: Map<string, HostListener>;
  open: number;
  over: boolean;
  /** Events handled now (MAX_EVENTS_IN_FLIGHT). */
  slots: WorkSlots;
}

const relays = new WeakMap<Vm, ShareSockets>();

/** Process ids of relayed connections start so (a connection's process has no pid in the guest). */
const CONNECTION_PREFIX = 'ssock-';

/** Whether an agent process is a relayed connection of a share's socket (this daemon's or an earlier one's). */
export function isShareConnection(processId: string): boolean {
  return processId.startsWith(CONNECTION_PREFIX);
}
let nextConnection = 0;
/** This daemon's tag in its connections' ids: never one an earlier daemon's VM still lists. */
const DAEMON_TAG = randomBytes(3).toString('hex');

/**
 * Relay the socket files of `vm`'s volume share both ways, from now until the VM goes, with
 * `containerId` among the containers connections are made under. Called for each container
 * that mounts a share directory; the first call starts the VM's relay. A VM whose agent or
 * kernel cannot report socket events keeps sockets on its own side, as before.
 */
export function relayShareSockets(vm: Vm, containerId: string): void {
  const agent = vm.agent;
  if (!agent.socketEvent || !agent.answerSocket || !agent.refuseSocket || !agent.dialSocket) return;
  let state = relays.get(vm);
  if (state) {
    state.containers = state.containers.filter((c) => c !== containerId).concat(containerId);
    return;
  }
  state = {
    containers: [containerId],
    listeners: new Map(),
    open: 0,
    over: false,
    slots: new WorkSlots(MAX_EVENTS_IN_FLIGHT),
  };
  relays.set(vm, state);
  void eventLoop(vm, state);
}

async function eventLoop(vm: Vm, state: ShareSockets): Promise<void> {
  for (;;) {
    // A slot first: a guest that sends events faster than the host handles them waits.
    const release = await state.slots.take();
    let ev: ShareSocketEvent;
    try {
      ev = await vm.agent.socketEvent!();
    } catch (e) {
      release();
      // The VM went, or its kernel has no socket events.
      log.debug(`VM ${vm.id}: no more socket events (${(e as Error).message})`);
      state.over = true;
      for (const l of state.listeners.values()) closeListener(l);
      state.listeners.clear();
      stopShareWatcher(vm);
      return;
    }
    const work =
      ev.kind === 'connect'
        ? onConnect(vm, state, ev)
        : ev.kind === 'bound'
          ? onBound(vm, state, ev)
          : watchShareFile(vm, ev);
    void work.catch((e: Error) => log.debug(`VM ${vm.id}: ${ev.kind} ${ev.path}: ${e.message}`)).finally(release);
  }
}

/** The guest's path as a BeneathPath of the VM's volume share, or undefined when it is not one. */
function shared(vm: Vm, ev: ShareSocketEvent): BeneathPath | undefined {
  const share = vm.devices.volumes;
  if (!share || ev.tag !== share.tag || !ev.path.startsWith('/')) return undefined;
  return { root: share.hostDir, rel: ev.path.slice(1) };
}

function errnoOf(e: unknown): number {
  const code = (e as NodeJS.ErrnoException).code;
  const n = code ? (osConstants.errno as Record<string, number>)[code] : undefined;
  return n ?? osConstants.errno.ECONNREFUSED;
}

/** The socket file at `p`, held by an O_PATH fd (no symlink followed); rejects when it is not a socket (ECONNREFUSED) or is missing. */
async function openSocketFile(
  p: BeneathPath,
): Promise<{ parent: fs.promises.FileHandle; name: string; file: fs.promises.FileHandle }> {
  const { parent, name } = await openGuestParent(p);
  try {
    const file = await openChild(parent, name, 'socket', O_PATH);
    return { parent, name, file };
  } catch (e) {
    await parent.close();
    throw e;
  }
}

/** A process of the VM for a connection: under the newest container still there. */
async function underContainer(
  state: ShareSockets,
  make: (containerId: string, processId: string) => Promise<AgentProcess>,
): Promise<AgentProcess> {
  for (;;) {
    const containerId = state.containers[state.containers.length - 1];
    if (!containerId) throw Object.assign(new Error('no container left'), { code: 'ECONNREFUSED' });
    try {
      return await make(
        containerId,
        `${CONNECTION_PREFIX}${DAEMON_TAG}-${(nextConnection++).toString(36)}-${containerId.slice(0, 64)}`,
      );
    } catch (e) {
      if (!/no such container/.test((e as Error).message)) throw e;
      state.containers = state.containers.filter((c) => c !== containerId);
    }
  }
}

/** A guest process connects to a socket file of the share: connect on the host, then answer. */
async function onConnect(vm: Vm, state: ShareSockets, ev: ShareSocketEvent): Promise<void> {
  const agent = vm.agent;
  const refuse = (errno: number): Promise<void> => agent.refuseSocket!(ev.token, errno).catch(() => undefined);
  const p = shared(vm, ev);
  if (!p || state.open >= MAX_CONNECTIONS) return refuse(osConstants.errno.ECONNREFUSED);
  // The slot is taken now: the connects still on their way count against the limit too.
  const release = takeSlot(state);
  let host: Duplex;
  try {
    const f = await openSocketFile(p);
    // The inode held, through its fd: a file swapped since is not what is reached. As the
    // guest's caller (./connect-as.ts): the service sees its ids, and its mode and owner apply.
    host = await connectHostSocket(f.file, ev.peer).finally(() => void f.file.close().then(() => f.parent.close()));
    // Until it is piped (which handles its errors): a reset while the agent answers is not the daemon's end.
    host.on('error', () => undefined);
  } catch (e) {
    release();
    return refuse(errnoOf(e));
  }
  host.pause();
  let conn: AgentProcess;
  try {
    conn = await underContainer(state, (containerId, processId) =>
      agent.answerSocket!({ token: ev.token, containerId, processId }),
    );
  } catch (e) {
    log.debug(`VM ${vm.id}: connect to ${ev.path} not answered: ${(e as Error).message}`);
    release();
    host.destroy();
    await refuse(osConstants.errno.ECONNREFUSED);
    return;
  }
  pipeGuestConnection(agent, conn, host, release);
}

/** Take one of the VM's connection slots; what gives it back (once, however often called). */
function takeSlot(state: ShareSockets): () => void {
  state.open++;
  let held = true;
  return () => {
    if (held) state.open--;
    held = false;
  };
}

/**
 * A guest process bound a socket in the share: listen for it at its file on the host, unless
 * the host already does (one listener per path; see the module comment).
 */
async function onBound(vm: Vm, state: ShareSockets, ev: ShareSocketEvent): Promise<void> {
  const p = shared(vm, ev);
  if (!p || state.over) return;
  const old = state.listeners.get(ev.path);
  if (old) {
    // Being set up, or checked: this BOUND is folded into one check once that is done.
    if (!old.ready || old.checking) return void (old.recheck = true);
    old.checking = true;
    old.recheck = false;
    let ours: boolean;
    try {
      ours = await stillListening(old, p);
    } finally {
      old.checking = false;
    }
    if (state.listeners.get(ev.path) !== old || state.over) return;
    if (ours) return old.recheck ? onBound(vm, state, ev) : undefined;
    state.listeners.delete(ev.path);
    closeListener(old);
  }
  if (state.listeners.size >= MAX_LISTENERS) {
    log.debug(`VM ${vm.id}: socket ${ev.path} bound, but the VM has ${MAX_LISTENERS} host listeners already`);
    return;
  }
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  const l: HostListener = { server, ready: false, closed: false, checking: false, recheck: false };
  // Known from now on, while it is being set up: a newer BOUND of the same path is folded
  // into a check once it is, the VM's end closes it, and it counts against MAX_LISTENERS.
  state.listeners.set(ev.path, l);
  // A client may connect as soon as the name is ours (the rename below), before this function
  // ends: with the handler on from the start, no connection is left paused and unanswered.
  server.on('connection', (s: net.Socket) => void onHostConnection(vm, state, ev, l, s));
  // A listening socket's error (an accept that fails: EMFILE...) ends this listener, not the daemon.
  server.on('error', (e: Error) => {
    log.debug(`VM ${vm.id}: listener for ${ev.path}: ${e.message}`);
    if (state.listeners.get(ev.path) === l) state.listeners.delete(ev.path);
    closeListener(l);
  });
  try {
    await setUpListener(l, p);
  } catch (e) {
    log.debug(`VM ${vm.id}: cannot listen for ${ev.path}: ${(e as Error).message}`);
    l.closed = true;
  }
  l.ready = true;
  if (l.closed || state.over) {
    if (state.listeners.get(ev.path) === l) state.listeners.delete(ev.path);
    releaseListener(l);
    return;
  }
  if (l.recheck) return onBound(vm, state, ev);
}

/** Whether the file at `p` is still `l`'s own socket (the guest has not bound another there since). */
async function stillListening(l: HostListener, p: BeneathPath): Promise<boolean> {
  try {
    const f = await openSocketFile(p);
    try {
      return (await f.file.stat()).ino === l.ino;
    } finally {
      await f.file.close();
      await f.parent.close();
    }
  } catch {
    return false;
  }
}

/**
 * Bind `l`'s server under a random name beside the guest's socket file at `p`, then rename it
 * over that file and give it the file's owner and mode. Rejects (with nothing of ours left at
 * a name) when the file is not a socket, or `l` was closed before its rename.
 */
async function setUpListener(l: HostListener, p: BeneathPath): Promise<void> {
  const f = await openSocketFile(p);
  l.parent = f.parent;
  const tmp = `.podvisor-sock-${randomBytes(8).toString('hex')}`;
  try {
    await listen(l.server, at(f.parent, tmp));
    const ours = await fs.promises.lstat(at(f.parent, tmp));
    // The guest file's owner and mode before the name is ours (through the inode's fd: the
    // process-wide umask is not the guest's to set, even for a moment), and again after.
    await copyOwnership(f.file, f.parent, tmp, ours.ino);
    // A listener replaced meanwhile must not put its socket over its successor's.
    if (l.closed) throw new Error('replaced by a newer bind');
    // Over the guest's file: the name is a plain one in the held directory, never followed.
    await fs.promises.rename(at(f.parent, tmp), at(f.parent, f.name));
    l.ino = ours.ino;
    await copyOwnership(f.file, f.parent, f.name, ours.ino);
  } catch (e) {
    await fs.promises.unlink(at(f.parent, tmp)).catch(() => undefined);
    throw e;
  } finally {
    await f.file.close();
  }
}

/**
 * Give the host's socket at `name` (inode `ino`, reached again beneath the held `parent`, never
 * by a followed path) the guest's file's owner and mode, as they are now: a server that
 * chmods and chowns its socket after the bind (php-fpm's listen.owner and listen.mode) may
 * have done so on the guest's inode before the rename, or does it by name after, on ours.
 */
async function copyOwnership(
  guestFile: fs.promises.FileHandle,
  parent: fs.promises.FileHandle,
  name: string,
  ino: number,
): Promise<void> {
  const want = await guestFile.stat();
  const fh = await openChild(parent, name, 'socket', O_PATH);
  try {
    const st = await fh.stat();
    if (st.ino !== ino) throw new Error(`${name} was replaced meanwhile`);
    // Through the held inode's fd: a name swapped since is not what is changed.
    if (st.uid !== want.uid || st.gid !== want.gid) await fs.promises.chown(at(fh), want.uid, want.gid);
    if ((st.mode & 0o7777) !== (want.mode & 0o7777)) await fs.promises.chmod(at(fh), want.mode & 0o7777);
  } finally {
    await fh.close();
  }
}

/** Bind `server` at `path` (mode 0777 less the daemon's umask, until copyOwnership). */
function listen(server: net.Server, path: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, 511, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** A connection to a host listener: the agent connects to the guest's socket, and the two are piped. */
async function onHostConnection(
  vm: Vm,
  state: ShareSockets,
  ev: ShareSocketEvent,
  l: HostListener,
  s: net.Socket,
): Promise<void> {
  s.on('error', () => undefined);
  if (state.open >= MAX_CONNECTIONS) return void s.destroy();
  const release = takeSlot(state);
  let peer: PeerCredentials;
  try {
    // Who the client is, from its connection (the kernel's record of its connect): the agent
    // connects as them, so the guest's server sees the client's ids, as under runc.
    peer = await peerOf(s);
  } catch (e) {
    release();
    s.destroy();
    log.warn(`VM ${vm.id}: a connection to ${ev.path} refused: ${(e as Error).message}`);
    return;
  }
  let conn: AgentProcess;
  try {
    conn = await underContainer(state, (containerId, processId) =>
      vm.agent.dialSocket!({ containerId, processId, tag: ev.tag, path: ev.path, peer }),
    );
  } catch (e) {
    release();
    s.destroy();
    // The client's ids may not open the guest's socket (the agent's EACCES): this client is refused, the listener stays.
    if (e instanceof InvalidArgumentError) return;
    // Nothing in the guest listens there any more: connects to the file are refused from now on.
    if (state.listeners.get(ev.path) === l) state.listeners.delete(ev.path);
    closeListener(l);
    log.debug(`VM ${vm.id}: socket ${ev.path} no longer answers: ${(e as Error).message}`);
    return;
  }
  pipeGuestConnection(vm.agent, conn, s, release);
  s.resume();
}

/** Close a host listener: now when it is set up, else once onBound is done with it (its fds are in use). */
function closeListener(l: HostListener): void {
  if (l.closed) return;
  l.closed = true;
  if (l.ready) releaseListener(l);
}

function releaseListener(l: HostListener): void {
  // The server's bound name (a temporary one, renamed away) is under the held directory: the
  // directory is let go only once the server is closed.
  const parent = l.parent;
  l.parent = undefined;
  l.server.close(() => void parent?.close().catch(() => undefined));
}
