/**
 * Who a host client is, for a connection it made to a listener of the daemon's: the uid and
 * gid SO_PEERCRED shows and the supplementary groups SO_PEERGROUPS shows, as the kernel
 * recorded them at the client's connect.
 *
 * A guest's socket in a share is listened for on the host by the daemon (./share-sockets.ts);
 * the agent then connects to the guest's socket for the host client, as these ids, so the
 * server in the container sees what it sees under runc, where the client connects itself.
 * Node reads neither option, so host/connect-as does, reading them and changing nothing: one
 * such process stays (`podvisor-connect-as --peers`), given the number of the daemon's
 * descriptor of each connection, whose copy it takes (pidfd_getfd) and answers with the
 * socket's inode and ids; the inode is checked against the daemon's own descriptor, so an
 * answer is about the connection meant. Where that cannot be (the helper cannot take the copy:
 * a Yama scope that forbids it, say), a process per connection is given the connection as its
 * fd 3 (`--peer`). Reading /proc/<pid>/status of the client instead would read a pid after the
 * fact, which may be another process's by then.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import type * as net from 'node:net';
import type { PeerCredentials } from '../../vm/types';
import { connectAsBinary } from './connect-as';

/** The most groups carried (the agent's PV_MAX_GROUPS); the helper sends none when the client has more. */
const MAX_GROUPS = 64;
/** The largest uid or gid: 2^32-1 is no id. */
const MAX_ID = 0xfffffffe;
/** The longest line the helper writes: 66 ids of at most 10 digits, spaces and the newline. */
const MAX_LINE = 66 * 11 + 1;

/** How long the staying helper has to answer one question before it is ended. */
const ASK_DEADLINE_MS = 5000;

/**
 * The helper's line, "UID GID[ GROUP...]\n", as PeerCredentials; undefined when it is anything
 * else (a stray byte, an id out of range, more than 64 groups): no connection is made then.
 */
export function parsePeerLine(line: string): PeerCredentials | undefined {
  if (line.length > MAX_LINE || !/^\d{1,10}(?: \d{1,10})+\n$/.test(line)) return undefined;
  const ids = line.trimEnd().split(' ').map(Number);
  if (ids.length > MAX_GROUPS + 2 || ids.some((id) => id > MAX_ID)) return undefined;
  const [uid, gid, ...groups] = ids;
  return { uid: uid!, gid: gid!, groups };
}

/**
 * Who connected on `socket` (a connection the daemon accepted on a unix listener). Rejects when
 * it cannot be told (no helper built, the helper failed, or what it said is not an answer): the
 * caller then refuses the connection rather than make it as root.
 */
export async function peerOf(
  socket: net.Socket,
  bin: string | undefined = connectAsBinary(),
): Promise<PeerCredentials> {
  const fd = descriptorOf(socket);
  if (bin && fd !== undefined) {
    const peer = await peersHelper(bin)
      .ask(fd)
      .catch(() => undefined);
    if (peer) return peer;
  }
  return peerOfOwnHelper(socket, bin);
}

/** The daemon's descriptor of `socket` (libuv's), or undefined when it has none. */
function descriptorOf(socket: net.Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : undefined;
}

/** The answer of `--peers`: the socket's inode and the ids; undefined when it is not one. */
export function parsePeersAnswer(line: string): { ino: bigint; peer: PeerCredentials } | undefined {
  const m = /^ok (\d{1,20}) (\d[\d ]*\n)$/.exec(line);
  const peer = m ? parsePeerLine(m[2]!) : undefined;
  return m && peer ? { ino: BigInt(m[1]!), peer } : undefined;
}

/**
 * The staying `--peers` helper: asks are answered in their order, one line each. A helper that
 * ends fails what is pending; the next ask starts another.
 */
class PeersHelper {
  private readonly child: ChildProcess;
  private readonly pending: Array<(line: string | undefined) => void> = [];
  private buf = '';
  ended = false;

  constructor(bin: string) {
    this.child = spawn(bin, ['--peers'], { stdio: ['pipe', 'pipe', 'ignore'] });
    this.child.stdin!.on('error', () => undefined);
    this.child.stdout!.setEncoding('latin1');
    this.child.stdout!.on('data', (d: string) => this.onData(d));
    const end = (): void => {
      this.ended = true;
      for (const p of this.pending.splice(0)) p(undefined);
    };
    this.child.once('error', end);
    this.child.once('close', end);
    // It must not keep the daemon's event loop alive by itself.
    this.child.unref();
    (this.child.stdout as unknown as { unref?: () => void }).unref?.();
    (this.child.stdin as unknown as { unref?: () => void }).unref?.();
  }

  private onData(d: string): void {
    this.buf += d;
    if (this.buf.length > 4096) return void this.child.kill('SIGKILL');
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl + 1);
      this.buf = this.buf.slice(nl + 1);
      this.pending.shift()?.(line);
    }
  }

  /** End it: what is pending fails. */
  close(): void {
    this.child.stdin!.destroy();
    this.child.kill('SIGKILL');
  }

  /** Who is at the other end of the daemon's descriptor `fd`; rejects when the helper cannot say. */
  ask(fd: number): Promise<PeerCredentials> {
    if (this.ended) return Promise.reject(new Error('the peers helper ended'));
    const ino = BigInt(fs.fstatSync(fd, { bigint: true }).ino);
    const answer = new Promise<PeerCredentials>((resolve, reject) => {
      this.pending.push((line) => {
        const a = line === undefined ? undefined : parsePeersAnswer(line);
        // The answer must be about the socket meant (the descriptor was not another's by then).
        if (a && a.ino === ino) resolve(a.peer);
        else reject(new Error(`the peers helper said ${JSON.stringify(line ?? 'nothing')}`));
      });
      this.child.stdin!.write(`${fd}\n`);
    });
    // A helper that does not answer in time is ended (what is pending fails, and the caller
    // asks a helper of its own): a connection never waits on it for ever.
    const timer = setTimeout(() => this.close(), ASK_DEADLINE_MS);
    timer.unref();
    return answer.finally(() => clearTimeout(timer));
  }
}

let helper: { bin: string; h: PeersHelper } | undefined;

/** End the staying helper, if one runs (the next peerOf starts another). */
export function closePeersHelper(): void {
  helper?.h.close();
  helper = undefined;
}

function peersHelper(bin: string): PeersHelper {
  if (!helper || helper.bin !== bin || helper.h.ended) helper = { bin, h: new PeersHelper(bin) };
  return helper.h;
}

/** A helper process of its own for this connection (`--peer`, the connection as its fd 3). */
function peerOfOwnHelper(socket: net.Socket, bin: string | undefined): Promise<PeerCredentials> {
  if (!bin)
    return Promise.reject(new Error('host/out/podvisor-connect-as is missing (scripts/bootstrap.sh builds it)'));
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(bin, ['--peer'], { stdio: ['ignore', 'pipe', 'pipe', socket] });
    } catch (e) {
      reject(e as Error);
      return;
    }
    let out = '';
    let err = '';
    child.stdout!.setEncoding('latin1');
    child.stderr!.setEncoding('latin1');
    child.stdout!.on('data', (d: string) => {
      out += d;
      if (out.length > MAX_LINE) child.kill('SIGKILL');
    });
    child.stderr!.on('data', (d: string) => (err = (err + d).slice(0, 64)));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const peer = code === 0 ? parsePeerLine(out) : undefined;
      if (peer) resolve(peer);
      else reject(new Error(`cannot tell who connected (${signal ?? `exit ${code}`} ${err.trim()})`));
    });
  });
}
