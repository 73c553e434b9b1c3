/**
 * dockerd's wording of storage's failures, made from their fields (src/translate/errors.ts),
 * and the status each keeps: what `docker rmi`, `docker login`, `docker inspect` and
 * `docker pull` print.
 */
import { dockerMessage } from '../../../src/translate/errors';
import { httpStatusOf } from '../../../src/api/v1.41/errors';
import {
  ImageDeleteConflictError,
  LoginRefusedError,
  NoSuchImageError,
  ReferenceInUseError,
} from '../../../src/storage/errors';
import { pullError } from '../../../src/storage/pull';
import { RegistryError } from '../../../src/storage/registry/client';
import { parseReference } from '../../../src/storage/reference';

const IMAGE = `sha256:${'ab12'.repeat(16)}`;
const CONTAINER = 'cd34'.repeat(16);

test.each([
  [new NoSuchImageError('nope:latest'), 404, 'No such image: nope:latest'],
  [
    new ImageDeleteConflictError(IMAGE, false, { kind: 'running-container', containerId: CONTAINER }),
    409,
    'conflict: unable to delete ab12ab12ab12 (cannot be forced) - image is being used by running container cd34cd34cd34',
  ],
  [
    new ImageDeleteConflictError(IMAGE, true, { kind: 'stopped-container', containerId: CONTAINER }),
    409,
    'conflict: unable to delete ab12ab12ab12 (must be forced) - image is being used by stopped container cd34cd34cd34',
  ],
  [
    new ImageDeleteConflictError(IMAGE, true, { kind: 'other-references' }),
    409,
    'conflict: unable to delete ab12ab12ab12 (must be forced) - image is referenced in multiple repositories',
  ],
  [
    new ReferenceInUseError('busybox', IMAGE, CONTAINER),
    409,
    'conflict: unable to remove repository reference "busybox" (must force) - container cd34cd34cd34 is using its referenced image ab12ab12ab12',
  ],
  [
    new LoginRefusedError('http://127.0.0.1:5001/v2/', 401),
    500,
    'login attempt to http://127.0.0.1:5001/v2/ failed with status: 401 Unauthorized',
  ],
  [
    new LoginRefusedError('https://r.example/v2/', 503),
    500,
    'login attempt to https://r.example/v2/ failed with status: 503',
  ],
])('%p -> %d %s', (err, status, message) => {
  expect(httpStatusOf(err)).toBe(status);
  expect(dockerMessage(err)).toBe(message);
  // Below the Docker layer the message is storage's own, not dockerd's.
  expect(err.message).not.toBe(message);
});

describe('pull failures', () => {
  const hub = parseReference('nosuch/repo:1');
  const local = parseReference('127.0.0.1:5000/nosuch:latest');
  const denied = [{ code: 'DENIED', message: 'requested access to the resource is denied' }];
  const unknown = [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }];
  test.each([
    [
      new RegistryError('401', 401),
      hub,
      401,
      "pull access denied for nosuch/repo, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
    ],
    [
      new RegistryError('403', 403, denied),
      hub,
      403,
      "pull access denied for nosuch/repo, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
    ],
    [
      new RegistryError('404', 404),
      local,
      404,
      'manifest for 127.0.0.1:5000/nosuch:latest not found: manifest unknown: manifest unknown',
    ],
    [
      new RegistryError('404', 404, unknown),
      local,
      404,
      'manifest for 127.0.0.1:5000/nosuch:latest not found: manifest unknown: manifest unknown',
    ],
    [new RegistryError('bad gateway', 502), local, 500, 'error from registry: bad gateway'],
  ])('%p for %p -> %d %s', (raw, ref, status, message) => {
    const err = pullError(raw, ref) as Parameters<typeof httpStatusOf>[0];
    expect(httpStatusOf(err)).toBe(status);
    expect(dockerMessage(err)).toBe(message);
  });
});
