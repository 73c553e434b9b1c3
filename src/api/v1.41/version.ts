/**
 * API version negotiation, as dockerd does it: requests may be prefixed with `/v<major>.<minor>`;
 * versions above the newest served (1.45) get 400 "client version X is too new. Maximum
 * supported API version is 1.45"; versions below the minimum get 400 too. The request's
 * version is kept for the handlers (versions/index.ts, apiVersionOf).
 */
import type { RequestHandler } from 'express';
import { InvalidArgumentError } from '../../errors';
import { compareApiVersions as compare, DEFAULT_API_VERSION, MAX_API_VERSION } from './versions';

/** The Docker Engine API version podvisor announces (/version, /_ping) and serves unversioned paths as. */
export const API_VERSION = DEFAULT_API_VERSION;
/** The oldest API version accepted (dockerd 26.1's minimum). */
export const MIN_API_VERSION = '1.24';

/** Strip `/vX.Y` from the URL (remembered in res.locals.apiVersion) or reject bad versions. */
export const versionPrefix: RequestHandler = (req, res, next) => {
  const m = /^\/v(\d+\.\d+)(\/.*)?$/.exec(req.url.split('?')[0]);
  res.locals.apiVersion = API_VERSION;
  if (!m) return next();
  const v = m[1];
  if (compare(v, MAX_API_VERSION) > 0) {
    next(
      new InvalidArgumentError(`client version ${v} is too new. Maximum supported API version is ${MAX_API_VERSION}`),
    );
    return;
  }
  if (compare(v, MIN_API_VERSION) < 0) {
    next(
      new InvalidArgumentError(
        `client version ${v} is too old. Minimum supported API version is ${MIN_API_VERSION}, ` +
          'please upgrade your client to a newer version',
      ),
    );
    return;
  }
  res.locals.apiVersion = v;
  req.url = req.url.slice(m[1].length + 2) || '/';
  if (!req.url.startsWith('/')) req.url = '/' + req.url;
  next();
};
