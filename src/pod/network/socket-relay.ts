/**
 * A host unix socket bind-mounted into a container as a single file (`-v
 * /run/podvisor/docker.sock:/var/run/docker.sock`, `-v $SSH_AUTH_SOCK:/ssh-agent`).
 *
 * A socket cannot cross the VM's edge through the volume share, so the guest agent binds a
 * listening stream socket of its own at the target path (Agent.listenSocket, mode and owner from
 * the host socket's), and the host keeps one Agent.acceptSocket pending on it. Each
 * connection a process of the container makes arrives as a process without a pid whose stdout
 * is what the peer writes and whose stdin is what it reads, under the agent channel's credits
 * both ways; the host then connects to the host socket the user named and pipes the two,
 * half-close included. The guest names nothing: the host opens the path pinned at create with
 * no symlink followed (../mounts/bind-sources.ts), for each connection, and connects to that inode
 * through its fd, as the uid, gid and groups of the process that connected in the guest
 * (AgentProcess.peer; ./connect-as.ts), so the service's SO_PEERCRED shows what it shows under
 * runc, and a socket that user may not open is refused (the guest's connection ends at once). A service that makes its socket again at the same path is reached again; a
 * path that a container turned into a symlink (through a bind of a parent directory) is not
 * followed, and the connection ends at once.
 * A host socket that is gone or refuses ends the guest's connection at once; either side's end
 * ends the other's; the guest's connection ending (its container destroyed too) closes the
 * host's. The loop of accepts ends when its container is destroyed or the VM goes.
 *
 * Across a daemon restart the guest's listener stays (the agent keeps it, with the
 * connections of the earlier daemon): the next daemon, re-adopting the VM, ends those
 * connections (their host side died with the earlier daemon) and resumes the loop of accepts
 * on the same listener (resumeHostSocket).
 */
import * as crypto from 'node:crypto';
import * as net from 'node:net';
import type { Agent, AgentProcess } from '../../vm/types';
import { InvalidArgumentError } from '../../errors';
import { logger } from '../../util/log';
import type { Duplex } from 'node:stream';
import { openBindSource } from '../mounts/bind-sources';
import { connectHostSocket } from './connect-as';
import type { PodBindMount } from '../mounts/mount-types';

const log = logger('pod');

/** One socket bind of a container. */
export interface SocketBind {
  containerId: string;
  /** The bind mount of the host socket (its source as the user gave it, and as pinned at create). */
  mount: PodBindMount;
  /** Absolute path inside the container. */
  target: string;
  /** Permission bits of the socket in the container (the host socket's). */
  mode: number;
  /** Its owner in the container (the host socket's): its mode then means what it means on the host. */
  owner?: { uid: number; gid: number };
  /** Its number, unique in the container (the mount's index). */
  listener: number;
}

/**
 * Connections of one socket bind open at once, at most: the next accept waits for one to end,
 * so a guest that connects without end (or a hostile agent answering every accept at once)
 * holds at most this many of the daemon's fds per bind; further connections wait in the
 * guest's listen backlog.
 */
export const MAX_CONNECTIONS_PER_BIND = 128;

/**
 * Process ids of connections: unique in the daemon, so in every VM, and apart from those of an
 * earlier daemon that a re-adopted VM still lists (this daemon's tag is in them).
 */
let nextConnection = 0;
const DAEMON_TAG = crypto.randomBytes(4).toString('hex');
const CONNECTION_PREFIX = 'sock-';

/**
 * Make the socket in the container and start relaying its connections to the host socket.
 * Resolves once the guest listens; rejects InvalidArgumentError when the VM's agent cannot bind
 * sockets, and with the agent's error when the socket cannot be made at the target.
 */
export async function bindHostSocket(agent: Agent, b: SocketBind): Promise<void> {
  if (!agent.listenSocket || !agent.acceptSocket)
    throw new InvalidArgumentError(`this VM's guest agent cannot bind the socket ${b.mount.source}`);
  await agent.listenSocket({
    containerId: b.containerId,
    path: b.target,
    mode: b.mode,
    listener: b.listener,
    ...(b.owner ? { owner: b.owner } : {}),
  });
  void acceptLoop(agent, b);
}

/**
 * After a daemon restart: relay the connections of a listener the guest already has (made by
 * bindHostSocket under an earlier daemon). A listener that is not there (the mount is no
 * socket bind, the container is gone) ends the loop at its first accept.
 */
export function resumeHostSocket(agent: Agent, b: SocketBind): void {
  if (!agent.acceptSocket) return;
  void acceptLoop(agent, b);
}

/**
 * After a daemon restart: end the connections an earlier daemon relayed, among the processes
 * the re-adopted VM lists (their host side went with that daemon), so the container's clients
 * see their end instead of a connection that never answers again.
 */
export function endStaleConnections(agent: Agent, procs: AgentProcess[], containerId: string): void {
  const ignore = (): void => undefined;
  for (const p of procs) {
    if (p.containerId !== containerId || !p.processId.startsWith(CONNECTION_PREFIX)) continue;
    if (p.processId.startsWith(`${CONNECTION_PREFIX}${DAEMON_TAG}-`)) continue; // this daemon's own
    p.stdout.on('error', ignore).resume();
    p.stderr?.on('error', ignore).resume();
    p.stdin?.on('error', ignore).end();
    p.exited.catch(ignore);
    agent.signalProcess(p.processId, 9).catch(ignore);
  }
}

async function acceptLoop(agent: Agent, b: SocketBind): Promise<void> {
  const accept = agent.acceptSocket!.bind(agent);
  let open = 0;
  let slotFreed: (() => void) | undefined;
  for (;;) {
    while (open >= MAX_CONNECTIONS_PER_BIND) await new Promise<void>((resolve) => (slotFreed = resolve));
    let conn: AgentProcess;
    try {
      conn = await accept({
        containerId: b.containerId,
        listener: b.listener,
        processId: `${CONNECTION_PREFIX}${DAEMON_TAG}-${(nextConnection++).toString(36)}-${b.containerId.slice(0, 64)}`,
      });
    } catch (e) {
      // The container was destroyed or the VM went: nothing is left to accept.
      log.debug(`socket ${b.target} of ${b.containerId}: no more connections (${(e as Error).message})`);
      return;
    }
    open++;
    void relay(agent, conn, b, () => {
      open--;
      slotFreed?.();
      slotFreed = undefined;
    });
  }
}

/**
 * Pipe one guest connection and a new connection to the host socket, both ways. The socket is
 * opened at its pinned path with no symlink followed, and connected to through that fd (held
 * until connect(2) is done); a source that is gone, changed, or no socket ends the guest's
 * connection at once.
 */
async function relay(agent: Agent, conn: AgentProcess, b: SocketBind, ended: () => void): Promise<void> {
  let fh: Awaited<ReturnType<typeof openBindSource>>['fh'] | undefined;
  let host: Duplex;
  try {
    const found = await openBindSource(b.mount);
    fh = found.fh;
    if (found.kind !== 'socket') throw new Error(`${b.mount.source} is no longer a socket`);
    // As the process that connected in the guest (./connect-as.ts): what runc's would be.
    host = await connectHostSocket(fh, conn.peer);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    // A socket the container's user may not open is its answer, not the bind's fault.
    if (err.code !== 'EACCES') noteRefused(b, err);
    const dead = new net.Socket();
    pipeGuestConnection(agent, conn, dead, ended);
    dead.destroy(err);
    return;
  } finally {
    await fh?.close().catch(() => undefined);
  }
  pipeGuestConnection(agent, conn, host, ended);
}

/** Binds whose refusal was logged already: once per bind, however often the guest connects. */
const refusedLogged = new WeakSet<PodBindMount>();

function noteRefused(b: SocketBind, e: Error): void {
  if (refusedLogged.has(b.mount)) return;
  refusedLogged.add(b.mount);
  log.warn(`socket ${b.target} of ${b.containerId}: not connected to ${b.mount.source}: ${e.message}`);
}

/**
 * Pipe a guest connection (a process without a pid of the agent's) and a host socket, both
 * ways, half-close included, until either ends; `ended` once the guest's connection is over.
 * The host socket may still be connecting (made with allowHalfOpen): refused, gone or reset,
 * the guest's connection ends at once, both ways.
 */
export function pipeGuestConnection(
  agent: Agent,
  conn: AgentProcess,
  host: Duplex & { connecting?: boolean },
  ended: () => void,
): void {
  const toGuest = conn.stdin!;
  const fromGuest = conn.stdout;
  const ignore = (): void => undefined;
  toGuest.on('error', ignore);
  fromGuest.on('error', ignore);
  conn.stderr?.resume().on('error', ignore);
  let over = false;
  const endGuest = (): void => {
    if (over) return;
    over = true;
    fromGuest.unpipe(host);
    fromGuest.resume();
    if (!toGuest.writableEnded) toGuest.end();
    agent.signalProcess(conn.processId, 9).catch(ignore);
  };
  const pipe = (): void => {
    fromGuest.pipe(host); // the guest's end of writing ends the host's (half-close)
    host.pipe(toGuest); // and the host service's ends the guest's
  };
  if (host.connecting) host.once('connect', pipe);
  else pipe();
  host.on('error', endGuest);
  // A net.Socket says whether it closed on an error; any stream closed before its end did too.
  host.on('close', (hadError?: boolean) => {
    if (hadError || !host.readableEnded) endGuest();
  });
  conn.exited.catch(ignore).finally(() => {
    over = true; // nothing left to end in the guest
    host.destroy();
    ended();
  });
}
