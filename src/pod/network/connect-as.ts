/**
 * Connecting to a host unix socket for a process of a container, as that process.
 *
 * Under runc the container's process connects itself: the host service reads its uid and gid
 * with SO_PEERCRED (and its groups with SO_PEERGROUPS), and the kernel checks the socket
 * file's mode and owner against them. Here the connection arrives through the guest agent,
 * with the ids the guest reports (PeerCredentials), and the root daemon connects on the
 * host. So unless those ids are the daemon's own, the connect is made by host/connect-as
 * (podvisor-connect-as, C, built by the bootstrap), a child that takes the ids for good
 * (groups, gid, uid, no_new_privs: no capability left for any uid but 0), connects to the
 * socket file the daemon opened (its O_PATH fd, the child's fd 3) and then relays the
 * connection's bytes through its standard input and output, half-close included: Node can
 * neither change credentials per connection nor take a socket back from a child. A socket
 * the container's user could not open under runc (mode and owner) is refused with EACCES.
 *
 * What the guest reports is its word: a guest root can claim any ids, which is no more than a
 * root container can do under runc (docs/security.md). The ids are range-checked where they
 * are decoded (src/vm/agent/socket-ops.ts) and again by the helper.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import { Duplex } from 'node:stream';
import type { PeerCredentials } from '../../vm/types';
import { at } from '../../util/beneath';
import { logger } from '../../util/log';
import { PACKAGE_ROOT } from '../../util/package-info';

const log = logger('pod');

/** The helper where scripts/bootstrap.sh builds it (host/out), or undefined when it is not there. */
export function connectAsBinary(root: string = PACKAGE_ROOT): string | undefined {
  const bin = path.join(root, 'host', 'out', 'podvisor-connect-as');
  try {
    fs.accessSync(bin, fs.constants.X_OK);
    return bin;
  } catch {
    return undefined;
  }
}

/** Whether a connection made as `peer` needs the helper: any ids but the daemon's own. */
export function needsHelper(peer: PeerCredentials | undefined): boolean {
  if (!peer) return false;
  return peer.uid !== process.getuid?.() || peer.gid !== process.getgid?.();
}

/** An Error with the errno's code (ECONNREFUSED, EACCES...), as a failed net connect has. */
function errnoError(errno: number, what: string): NodeJS.ErrnoException {
  const code = Object.entries(osConstants.errno).find(([, n]) => n === errno)?.[0] ?? 'ECONNREFUSED';
  return Object.assign(new Error(`${what}: ${code}`), { code, errno: -errno });
}

/**
 * Connect to the socket file held by `file` (an O_PATH handle of the daemon's; the caller
 * closes it once this settles) as `peer`: the daemon itself when `peer` is absent or its own
 * ids, else through host/connect-as. Resolves once connected, with a stream whose reads are
 * the service's bytes and whose writes go to it (end() shuts the write side); rejects with the
 * connect's errno as `code` (EACCES for a socket those ids may not open, ECONNREFUSED, ...).
 */
export function connectHostSocket(
  file: fs.promises.FileHandle,
  peer: PeerCredentials | undefined,
  bin: string | undefined = connectAsBinary(),
): Promise<Duplex> {
  if (!needsHelper(peer)) return connectDirect(at(file));
  if (!bin) {
    log.warn(
      'host/out/podvisor-connect-as is missing (scripts/bootstrap.sh builds it): a container user cannot reach host sockets',
    );
    return Promise.reject(errnoError(osConstants.errno.ECONNREFUSED, 'no connect-as helper'));
  }
  return connectThroughHelper(bin, file.fd, peer!);
}

function connectDirect(p: string): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const host = net.createConnection({ path: p, allowHalfOpen: true });
    host.once('connect', () => {
      host.off('error', reject);
      resolve(host);
    });
    host.once('error', reject);
  });
}

/** The largest status line the helper writes ("<errno>\n"). */
const MAX_STATUS = 16;

function connectThroughHelper(bin: string, fd: number, peer: PeerCredentials): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const args = [peer.uid, peer.gid, ...peer.groups].map(String);
    let child: ChildProcess;
    try {
      child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe', fd] });
    } catch (e) {
      reject(errnoError(osConstants.errno.ECONNREFUSED, `connect-as: ${(e as Error).message}`));
      return;
    }
    let status = '';
    let settled = false;
    const fail = (errno: number): void => {
      if (settled) return;
      settled = true;
      child.kill('SIGKILL');
      reject(errnoError(errno, 'connect'));
    };
    child.once('error', () => fail(osConstants.errno.ECONNREFUSED));
    // Until the connection is handed on, a helper that ended without a status refused it
    // ('close': after its output was read; its 'exit' may come before the status is).
    child.once('close', () => fail(osConstants.errno.ECONNREFUSED));
    for (const s of [child.stdin!, child.stdout!, child.stderr!]) s.on('error', () => undefined);
    child.stdout!.pause();
    child.stderr!.setEncoding('latin1');
    child.stderr!.on('data', (d: string) => {
      status += d;
      if (status.length > MAX_STATUS) return fail(osConstants.errno.ECONNREFUSED);
      if (!status.endsWith('\n') || settled) return;
      const n = /^(\d{1,4})\n$/.exec(status) ? Number(status.trim()) : NaN;
      if (n !== 0) return fail(Number.isInteger(n) && n > 0 && n < 4096 ? n : osConstants.errno.ECONNREFUSED);
      settled = true;
      resolve(new HelperConnection(child));
    });
  });
}

/**
 * The helper's relayed connection as one stream: reads are its stdout, writes its stdin,
 * end() its stdin's end (the helper then shuts the socket's write side); destroy() kills it.
 * A helper that ends in a reset (exit status 3) or is killed destroys the stream with an
 * error, so the other side ends at once, as a reset net.Socket's does.
 */
class HelperConnection extends Duplex {
  constructor(private readonly child: ChildProcess) {
    super({ allowHalfOpen: true });
    const out = child.stdout!;
    out.on('data', (b: Buffer) => {
      if (!this.push(b)) out.pause();
    });
    out.on('end', () => this.push(null));
    const ended = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (code !== 0 && !this.destroyed) this.destroy(new Error(`connection reset (${signal ?? code})`));
    };
    if (child.exitCode !== null || child.signalCode !== null)
      process.nextTick(() => ended(child.exitCode, child.signalCode));
    else child.once('exit', ended);
  }

  override _read(): void {
    this.child.stdout!.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    this.child.stdin!.write(chunk, (e) => done(e ?? null));
  }

  override _final(done: (e?: Error | null) => void): void {
    this.child.stdin!.end(() => done());
  }

  override _destroy(e: Error | null, done: (e: Error | null) => void): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    done(e);
  }
}
