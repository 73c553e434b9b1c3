/**
 * The HTTP transport's error table (src/api/http-status.ts) names every error class of
 * src/errors.ts with the status dockerd answers for that kind, and both HTTP fronts answer
 * with it: the Docker API bare for 304, the native API 409 with a message for NotModified.
 */
import express from 'express';
import request from 'supertest';
import * as errors from '../../../src/errors';
import { HTTP_STATUS_OF, PayloadTooLargeError, RequestTimeoutError, httpStatusOf } from '../../../src/api/http-status';
import { dockerErrorHandler } from '../../../src/api/v1.41/errors';
import { nativeErrorHandler, nativeStatusOf } from '../../../src/api/native/errors';

/** dockerd's status for each kind of error (httpstatus.FromError over errdefs). */
const EXPECTED: Record<string, number> = {
  NotFoundError: 404,
  ConflictError: 409,
  InvalidArgumentError: 400,
  NotModifiedError: 304,
  UnauthorizedError: 401,
  ForbiddenError: 403,
  NotImplementedError: 501,
  ResourceExhaustedError: 429,
  UnavailableError: 500,
  PlainError: 500,
};

/** Every class src/errors.ts exports that is a PodvisorError (the abstract base left out). */
const CLASSES = Object.entries(errors).filter(
  ([name, v]) => typeof v === 'function' && v.prototype instanceof errors.PodvisorError && name !== 'PodvisorError',
) as Array<[string, new (m: string) => errors.PodvisorError]>;

test('src/errors.ts has the classes this test knows, and no other', () => {
  expect(CLASSES.map(([name]) => name).sort()).toEqual(Object.keys(EXPECTED).sort());
});

test.each(CLASSES)('%s has a row of its own in the table, with dockerd status', (name, cls) => {
  expect(HTTP_STATUS_OF.some(([c]) => c === cls)).toBe(true);
  expect(httpStatusOf(new cls('x'))).toBe(EXPECTED[name]);
});

test("the transport's own errors: 413 and 408", () => {
  expect(httpStatusOf(new PayloadTooLargeError('x'))).toBe(413);
  expect(httpStatusOf(new RequestTimeoutError('x'))).toBe(408);
});

test('a subclass takes its parent row; an unknown PodvisorError is a 500', () => {
  class NoSuchThing extends errors.NotFoundError {}
  class Odd extends errors.PodvisorError {}
  expect(httpStatusOf(new NoSuchThing('x'))).toBe(404);
  expect(httpStatusOf(new Odd('x'))).toBe(500);
});

test.each(CLASSES)('%s: the native API answers the same status, but 409 for NotModified', (name, cls) => {
  expect(nativeStatusOf(new cls('x'))).toBe(name === 'NotModifiedError' ? 409 : EXPECTED[name]);
});

/** An app whose one route throws `err`, answered by `handler`. */
function appThrowing(err: Error, handler: express.ErrorRequestHandler): express.Express {
  const app = express();
  app.get('/x', () => {
    throw err;
  });
  app.use(handler);
  return app;
}

test.each(CLASSES)('%s through both fronts: the status, and each front its own body', async (name, cls) => {
  const docker = await request(appThrowing(new cls('it failed'), dockerErrorHandler)).get('/x');
  const native = await request(appThrowing(new cls('it failed'), nativeErrorHandler)).get('/x');
  expect(docker.status).toBe(EXPECTED[name]);
  expect(native.status).toBe(name === 'NotModifiedError' ? 409 : EXPECTED[name]);
  // A 304 has no body; every other status dockerd's JSON message.
  expect(name === 'NotModifiedError' ? docker.text : docker.body).toEqual(
    name === 'NotModifiedError' ? '' : { message: 'it failed' },
  );
  expect(native.body).toEqual({ message: 'it failed' });
});
