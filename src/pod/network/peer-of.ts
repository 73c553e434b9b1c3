/**
 * Who a host client is, for a connection it made to a listener of the daemon's: the uid and
 * gid SO_PEERCRED shows and the supplementary groups SO_PEERGROUPS shows, as the kernel
 * recorded them at the client's connect.
 *
 * A guest's socket in a share is listened for on the host by the daemon (./share-sockets.ts);
 * the agent then connects to the guest's socket for the host client, as these ids, so the
 * server in the container sees what it sees under runc, where the client connects itself.
 * Node reads neither option, so host/connect-as does (`podvisor-connect-as --peer`, the
 * connection as its fd 3; it reads them and changes nothing). Reading /proc/<pid>/status of
 * the client instead would read a pid after the fact, which may be another process's by then.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type * as net from 'node:net';
import type { PeerCredentials } from '../../vm/types';
import { connectAsBinary } from './connect-as';

/** The most groups carried (the agent's PV_MAX_GROUPS); the helper sends none when the client has more. */
const MAX_GROUPS = 64;
/** The largest uid or gid: 2^32-1 is no id. */
const MAX_ID = 0xfffffffe;
/** The longest line the helper writes: 66 ids of at most 10 digits, spaces and the newline. */
const MAX_LINE = 66 * 11 + 1;

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
export function peerOf(socket: net.Socket, bin: string | undefined = connectAsBinary()): Promise<PeerCredentials> {
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
