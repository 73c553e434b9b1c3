/**
 * API version negotiation, as dockerd does it: requests may be prefixed with `/v<major>.<minor>`;
 * versions above the one we speak get 400 "client version X is too new. Maximum supported API
 * version is 1.41"; versions below the minimum get 400 too.
 */
import type { RequestHandler } from 'express';
import { InvalidArgumentError } from '../../errors';

/** The Docker Engine API version podvisor speaks. */
export const API_VERSION = '1.41';
/** The oldest API version accepted (dockerd 20.10's minimum). */
export const MIN_API_VERSION = '1.12';

function compare(a: string, b: string): number {
  const [am, an] = a.split('.').map(Number);
  const [bm, bn] = b.split('.').map(Number);
  return am !== bm ? am - bm : an - bn;
}

/** Strip `/vX.Y` from the URL (remembered in res.locals.apiVersion) or reject bad versions. */
export const versionPrefix: RequestHandler = (req, res, next) => {
  const m = /^\/v(\d+\.\d+)(\/.*)?$/.exec(req.url.split('?')[0]);
  res.locals.apiVersion = API_VERSION;
  if (!m) return next();
  const v = m[1];
  if (compare(v, API_VERSION) > 0) {
    next(new InvalidArgumentError(`client version ${v} is too new. Maximum supported API version is ${API_VERSION}`));
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
