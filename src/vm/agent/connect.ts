/**
 * Opening the agent's two channels: connecting to a channel's unix socket (QEMU's chardev
 * server, which exists only once QEMU has started), the SYNC handshake that starts a
 * session on it (guest/include/podvisor_agent.h, "SYNC"), and the AgentMux over both.
 */
import * as crypto from 'node:crypto';
import * as net from 'node:net';
import { PodvisorError, UnavailableError } from '../../errors';
import { encodeFrame, FrameDecoder, SyncScanner } from './codec';
import { AgentMux } from './mux';
import { connectVmSocket } from '../../util/jailed-files';
import { FrameType, isCtlFrameFromAgent, isIoFrameFromAgent, Limits } from './protocol';

/** Connect to a unix socket, retrying while it is absent or refusing, until the deadline. */
export async function connectUnix(path: string, deadline: number, track: net.Socket[]): Promise<net.Socket> {
  for (;;) {
    try {
      return await new Promise<net.Socket>((resolve, reject) => {
        // QEMU made it, in a directory it writes: never through a symlink (src/util/jailed-files.ts).
        const s = connectVmSocket(path);
        track.push(s);
        s.once('connect', () => {
          s.removeListener('error', reject);
          // Until the client's own handlers are attached, an error must not go unhandled.
          s.on('error', () => undefined);
          resolve(s);
        });
        s.once('error', reject);
      });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ECONNREFUSED') || Date.now() > deadline) {
        throw new UnavailableError(`cannot connect to agent socket ${path}: ${(e as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** A fresh SYNC nonce, for both channels of one host connection (see syncChannel). */
export function newSyncNonce(): Buffer {
  return crypto.randomBytes(Limits.NONCE_SIZE);
}

/** How long a SYNC may go unanswered before it is sent again (syncChannel). */
const SYNC_RESEND_MS = 3000;

/**
 * Send SYNC with `nonce` and wait for the SYNC_REPLY carrying it; returns the bytes after it.
 * Both channels of one connection are synced with the same nonce: the agent takes a SYNC whose
 * nonce differs from the other channel's session as a new host's, and ends that session.
 * While unanswered the SYNC is sent again every SYNC_RESEND_MS: a frame an earlier host left
 * a few bytes short can take the first one's start (the agent then scans for the next SYNC);
 * the agent ignores a repeat of the SYNC that began its session (an older one answers it
 * again: AgentMux skips that answer).
 */
export function syncChannel(s: net.Socket, name: string, nonce: Buffer): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const scanner = new SyncScanner(nonce);
    const frame = encodeFrame(FrameType.SYNC, 0, 0, nonce);
    const resend = setInterval(() => {
      if (!s.destroyed) s.write(frame);
    }, SYNC_RESEND_MS);
    const cleanup = () => {
      clearInterval(resend);
      s.removeListener('data', onData);
      s.removeListener('close', onClose);
      s.removeListener('error', onError);
    };
    const onData = (chunk: Buffer) => {
      const rest = scanner.push(chunk);
      if (rest === undefined) return;
      cleanup();
      s.pause();
      resolve(rest);
    };
    const onClose = () => {
      cleanup();
      reject(new UnavailableError(`agent channel closed during sync (${name})`));
    };
    const onError = (e: Error) => {
      cleanup();
      reject(new UnavailableError(`agent channel closed during sync (${name}: ${e.message})`));
    };
    s.on('data', onData);
    s.on('close', onClose);
    s.on('error', onError);
    s.write(frame);
  });
}

/**
 * Connect to both channels' sockets (each retried until `deadline`), SYNC them, and start the
 * AgentMux over them with output credit `window`. Every socket made is pushed to `track`, so
 * a caller that gives up can destroy them.
 */
export async function openChannels(
  ctlPath: string,
  ioPath: string,
  deadline: number,
  window: number,
  track: net.Socket[],
): Promise<AgentMux> {
  const [ctlSock, ioSock] = await Promise.all([
    connectUnix(ctlPath, deadline, track),
    connectUnix(ioPath, deadline, track),
  ]);
  const nonce = newSyncNonce();
  const [ctlRest, ioRest] = await Promise.all([
    syncChannel(ctlSock, 'control', nonce),
    syncChannel(ioSock, 'stream', nonce),
  ]);
  const mux = new AgentMux(
    {
      name: 'control',
      socket: ctlSock,
      decoder: new FrameDecoder({
        channel: 'control',
        maxPayload: Limits.MAX_CTL_PAYLOAD,
        allowedType: isCtlFrameFromAgent,
      }),
    },
    {
      name: 'stream',
      socket: ioSock,
      decoder: new FrameDecoder({
        channel: 'stream',
        maxPayload: Limits.MAX_IO_PAYLOAD,
        allowedType: isIoFrameFromAgent,
      }),
    },
    window,
    nonce,
  );
  mux.start(ctlRest, ioRest);
  return mux;
}

/**
 * Open both channels (openChannels) and run `handshake` on their AgentMux, all within
 * `timeoutMs`. Rejects with UnavailableError when that time passes, a socket cannot be
 * reached or the handshake fails otherwise than with a PodvisorError; every socket made is
 * destroyed then.
 */
export async function openWithin<T>(
  opts: { ctlPath: string; ioPath: string; timeoutMs: number },
  window: number,
  handshake: (mux: AgentMux) => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  const sockets: net.Socket[] = [];
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new UnavailableError(`agent did not answer within ${opts.timeoutMs} ms (${opts.ctlPath})`)),
      opts.timeoutMs,
    );
  });
  try {
    const attempt = (async () => handshake(await openChannels(opts.ctlPath, opts.ioPath, deadline, window, sockets)))();
    attempt.catch(() => undefined);
    return await Promise.race([attempt, timeout]);
  } catch (e) {
    for (const s of sockets) s.destroy();
    throw e instanceof PodvisorError ? e : new UnavailableError(`cannot reach the agent: ${(e as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}
