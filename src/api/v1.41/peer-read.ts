/**
 * Waiting, after a hijacked stream's 101, until the client has read it.
 *
 * docker-py reads the 101 of attach and exec start through http.client, whose buffered reader
 * takes up to 8 KiB from the socket in one recv, and then reads the stream from the socket
 * itself (`_get_raw_response_socket`): output that reached the socket before that recv came in
 * the same read as the 101 and is lost with the reader's buffer. dockerd hardly ever meets it
 * (runc's exec start takes longer than the client's read); a short exec of ours does: `id -u`
 * answered nothing, once in eight runs under load.
 *
 * So the stream's first bytes wait until the client has read everything written before them.
 * Node cannot ask the kernel that; host/hijack-wait (podvisor-hijack-wait, C, built by the
 * bootstrap) gets the socket as its standard input and asks SIOCOUTQ until it is 0, for at
 * most `PEER_READ_BOUND_MS` (a client that does not read its 101 delays its own stream by that
 * much, nothing more; a busy Python client, 5 threads on the interpreter, took over 200 ms to
 * read it). The helper runs while the process starts in the guest, so an exec waits
 * for it only when the process has output sooner than the helper ends (~1-2 ms).
 *
 * Per transport:
 *  - unix socket: SIOCOUTQ counts the bytes the peer has not read: the wait is exact.
 *  - TLS (tcp:// with --tls): no wait. The 101 is written alone, so it is a TLS record of its
 *    own, and OpenSSL's read (Python's ssl) returns at most one record: the client's buffered
 *    reader never gets the stream's first bytes with the 101.
 *  - plain TCP (--insecure-tcp only): SIOCOUTQ counts the bytes not yet acknowledged, so the
 *    wait ends once the 101 is received, not read; a client slower than that can still merge
 *    them (as it can with dockerd).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { logger } from '../../util/log';
import { PACKAGE_ROOT } from '../../util/package-info';

const log = logger('api');

/** The longest a stream's first bytes wait for the client to read the 101. */
export const PEER_READ_BOUND_MS = 1000;

/** The helper where scripts/bootstrap.sh builds it (host/out), or undefined when it is not there. */
export function hijackWaitBinary(root: string = PACKAGE_ROOT): string | undefined {
  const bin = path.join(root, 'host', 'out', 'podvisor-hijack-wait');
  try {
    fs.accessSync(bin, fs.constants.X_OK);
    return bin;
  } catch {
    return undefined;
  }
}

/** The descriptor of a plain unix or TCP socket of this process; undefined for TLS or no socket. */
function fdOf(s: Duplex): number | undefined {
  if (s instanceof TLSSocket) return undefined;
  const fd = (s as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

let warned = false;

/**
 * Resolves once the client of `socket` has read everything written to it so far, or after
 * `boundMs`; never rejects. Call it once those writes are in the kernel (a write's callback).
 * TLS sockets, destroyed sockets and a missing helper resolve at once (the last logs once).
 */
export function peerHasRead(
  socket: Duplex,
  boundMs: number = PEER_READ_BOUND_MS,
  bin: string | undefined = hijackWaitBinary(),
): Promise<void> {
  const fd = socket.destroyed ? undefined : fdOf(socket);
  if (fd === undefined) return Promise.resolve();
  if (!bin) {
    if (!warned)
      log.warn(
        'host/out/podvisor-hijack-wait is missing (scripts/bootstrap.sh builds it): a short exec may lose its output to docker-py',
      );
    warned = true;
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    // The helper is bounded by boundMs itself; this is for a helper that never ran.
    const timer = setTimeout(done, boundMs + 1000);
    function done(): void {
      clearTimeout(timer);
      resolve();
    }
    try {
      // The descriptor (not the socket object: Node would stop reading a stream it hands to a
      // child) is the helper's fd 0; spawn dups it there and leaves ours as it is.
      const child = spawn(bin, [String(boundMs)], { stdio: [fd, 'ignore', 'ignore'] });
      child.once('error', done);
      child.once('exit', (code) => {
        if (code === 1) log.debug(`a client had not read its 101 after ${boundMs} ms: its stream starts anyway`);
        done();
      });
    } catch {
      done();
    }
  });
}
