/**
 * The one place where errors become HTTP responses, in Docker's wire format:
 * `{"message": "..."}` with the status dockerd uses. The error classes (src/errors.ts) know
 * nothing of HTTP; the HTTP transport's one table (../http-status.ts) gives each the status
 * dockerd's errdefs would answer, and this module renders Docker's body (and 304 bare).
 */
import type { ErrorRequestHandler } from 'express';
import { PodvisorError } from '../../errors';
import { httpStatusOf } from '../http-status';
import { dockerMessage } from '../../translate/errors';
import { logger } from '../../util/log';
import { afterUnreadBody } from './kit/unread-body';

const log = logger('api');

// The table is shared with the native API (../http-status.ts); re-exported for the tests and
// callers that know it from here.
export { httpStatusOf };

/** The 4xx status an express/body-parser error carries, if any. */
function clientStatus(err: unknown): number | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const s = (err as { status?: unknown; statusCode?: unknown }).status ?? (err as { statusCode?: unknown }).statusCode;
  return typeof s === 'number' && s >= 400 && s < 500 ? s : undefined;
}

/** Express error middleware: PodvisorError -> its status; anything else -> logged 500. */
export const dockerErrorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  let status = 500;
  let message: string;
  if (err instanceof PodvisorError) {
    status = httpStatusOf(err);
    message = dockerMessage(err) ?? err.message;
  } else if (err && typeof err === 'object' && (err as { type?: string }).type === 'entity.parse.failed') {
    // body-parser's JSON syntax error: dockerd answers 400 with the decoder's message.
    status = 400;
    message = `invalid character in JSON body: ${(err as Error).message}`;
  } else if (clientStatus(err) !== undefined) {
    // Express and body-parser errors caused by the request (a %-escape that does not decode,
    // a body over a route's limit): their 4xx, not a 500.
    status = clientStatus(err)!;
    message = (err as Error).message;
  } else {
    message = err instanceof Error ? err.message : String(err);
    log.error(`${req.method} ${req.originalUrl}: unexpected error: ${err instanceof Error ? err.stack : message}`);
  }
  if (res.headersSent) {
    // A streaming response already started: the best we can do is end it.
    res.end();
    return;
  }
  if (status === 304) {
    res.status(304).end();
    return;
  }
  // Exactly `application/json` (no charset): the docker CLI only decodes the error body
  // when the Content-Type is that string, and would otherwise print the raw JSON. Written once
  // the body the client may still be sending has arrived (./kit/unread-body.ts).
  afterUnreadBody(req, () => {
    if (res.headersSent || res.destroyed) return;
    res.status(status).setHeader('Content-Type', 'application/json');
    res.send(Buffer.from(JSON.stringify({ message }) + '\n'));
  });
};
