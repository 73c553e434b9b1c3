/**
 * The one place where errors become HTTP responses, in Docker's wire format:
 * `{"message": "..."}` with the status dockerd uses. The error classes (src/errors.ts) know
 * nothing of HTTP; this table gives each the status dockerd's errdefs would answer.
 */
import type { ErrorRequestHandler } from 'express';
import {
  ConflictError,
  ForbiddenError,
  InvalidArgumentError,
  NotFoundError,
  NotImplementedError,
  NotModifiedError,
  PodvisorError,
  ResourceExhaustedError,
  UnauthorizedError,
  UnavailableError,
} from '../../errors';
import { PayloadTooLargeError, RequestTimeoutError } from './limits';
import { dockerMessage } from '../../translate/errors';
import { logger } from '../../util/log';

const log = logger('api');

/** Error class -> HTTP status (dockerd's httpstatus.FromError for the matching errdefs kind). */
const STATUS_OF: ReadonlyArray<[abstract new (...args: never[]) => PodvisorError, number]> = [
  [NotFoundError, 404],
  [ConflictError, 409],
  [InvalidArgumentError, 400],
  [NotModifiedError, 304],
  [UnauthorizedError, 401],
  [ForbiddenError, 403],
  [NotImplementedError, 501],
  [ResourceExhaustedError, 429],
  [UnavailableError, 500],
  [PayloadTooLargeError, 413],
  [RequestTimeoutError, 408],
];

/** The HTTP status dockerd would answer for a podvisor error (500 for a class it does not know). */
export function httpStatusOf(err: PodvisorError): number {
  for (const [cls, status] of STATUS_OF) if (err instanceof cls) return status;
  return 500;
}

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
  // when the Content-Type is that string, and would otherwise print the raw JSON.
  res.status(status).setHeader('Content-Type', 'application/json');
  res.send(Buffer.from(JSON.stringify({ message }) + '\n'));
};
