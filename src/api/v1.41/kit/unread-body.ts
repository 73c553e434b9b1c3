/**
 * An error answered while the client is still sending its request body (`docker cp`'s tar to
 * `PUT /containers/{id}/archive` refused before a byte of it is read). Go's net/http, which
 * dockerd runs on, reads up to 256 KiB of a body the handler left unread before it writes the
 * response, so such a client reads the error. Answering at once instead lets the client's next
 * write meet a closed socket, and the docker CLI prints "write: broken pipe" instead of the
 * error. `afterUnreadBody` waits, within the same bounds, for the body to arrive.
 */
import type { IncomingMessage } from 'node:http';

/** What Go's net/http reads of a body left unread before it answers (its `maxPostHandlerReadBytes`). */
export const UNREAD_BODY_LIMIT = 256 * 1024;
/** How long to wait for that much to arrive. */
export const UNREAD_BODY_MS = 2000;

/**
 * Run `then` once the request's body has been read to its end, `limit` more bytes of it have
 * been read, or `ms` have passed; at once when the body was read already or nothing reads it.
 */
export function afterUnreadBody(
  req: IncomingMessage,
  then: () => void,
  limit = UNREAD_BODY_LIMIT,
  ms = UNREAD_BODY_MS,
): void {
  if (req.complete || req.destroyed || req.readableEnded) {
    then();
    return;
  }
  let read = 0;
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    req.off('data', onData);
    req.off('end', finish);
    req.off('close', finish);
    req.off('error', finish);
    then();
  };
  const onData = (chunk: Buffer) => {
    read += chunk.length;
    if (read >= limit) finish();
  };
  const timer = setTimeout(finish, ms);
  timer.unref();
  req.on('data', onData);
  req.once('end', finish);
  req.once('close', finish);
  req.once('error', finish);
  req.resume();
}
