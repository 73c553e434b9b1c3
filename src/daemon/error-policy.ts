/**
 * What the daemon does with an error nothing caught: an `uncaughtException` or an
 * `unhandledRejection`.
 *
 * Node's default ends the process. Most such errors in a daemon that relays sockets for
 * guests are a socket's or a server's `error` event that found no listener: an ECONNRESET,
 * EPIPE or EMFILE on a connection that a guest (or a host client) ended badly. Every such
 * emitter of the guest-facing relays has a handler, but one missed would otherwise let a
 * guest end the daemon, and with it every API client and every other VM's relay. So:
 *
 *  - a system error (one with an errno `code` such as ECONNRESET, and a `syscall`, or a code
 *    of the `ERR_STREAM_*`/`ERR_SOCKET_*` families): logged, and the daemon keeps serving.
 *    Such an error is raised from an emitter with no listener, after the system call failed:
 *    no code of ours was half-way through changing its state when it was thrown;
 *  - an unhandled rejection: logged, and the daemon keeps serving. A rejected promise that
 *    nobody awaited unwound only its own async function, as an awaited one would have;
 *  - anything else thrown (a TypeError, an assertion of ours): logged with its stack, and the
 *    daemon exits with status 1. Such an error may have stopped a synchronous update half-way
 *    (a map changed, its counter not), and serving on with state that may be wrong is worse
 *    than a restart: a restarted daemon re-adopts every running VM (docs/architecture.md).
 */
import { logger } from '../util/log';

const log = logger('daemon');

/** Node's error codes of sockets and streams that, like errno codes, report the peer's doing. */
const OPERATIONAL_CODE = /^(E[A-Z0-9]+|ERR_STREAM_[A-Z_]+|ERR_SOCKET_[A-Z_]+|ERR_SERVER_[A-Z_]+)$/;

/** Whether an uncaught `err` is a system or socket error the daemon may log and serve on after (see the module comment). */
export function isOperationalError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === 'string' && OPERATIONAL_CODE.test(code);
}

/** What the policy decided for an uncaught exception: serve on, or exit. */
export type UncaughtVerdict = 'serve' | 'exit';

/** Log an uncaught exception; whether the daemon serves on or exits (the caller exits). */
export function judgeUncaught(err: unknown): UncaughtVerdict {
  if (isOperationalError(err)) {
    const e = err as NodeJS.ErrnoException;
    log.error(`uncaught ${e.code}${e.syscall ? ` (${e.syscall})` : ''}: ${e.message}; serving on`);
    return 'serve';
  }
  log.error(`uncaught exception, exiting: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return 'exit';
}

/** Log an unhandled rejection; the daemon serves on. */
export function judgeRejection(reason: unknown): void {
  log.error(
    `unhandled rejection, serving on: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`,
  );
}

/** Install the policy on this process (once, at the daemon's start). */
export function installErrorPolicy(exit: (code: number) => void = (code) => process.exit(code)): void {
  process.on('uncaughtException', (err) => {
    if (judgeUncaught(err) === 'exit') exit(1);
  });
  process.on('unhandledRejection', (reason) => judgeRejection(reason));
}
