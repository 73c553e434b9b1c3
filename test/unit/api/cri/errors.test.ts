/** The CRI transport's error mapper: each transport-neutral error class to its gRPC status. */
import * as grpc from '@grpc/grpc-js';
import { AlreadyExistsError, grpcCodeOf, toServiceError } from '../../../../src/api/cri/errors';
import {
  ConflictError,
  ForbiddenError,
  InvalidArgumentError,
  NotFoundError,
  NotImplementedError,
  NotModifiedError,
  ResourceExhaustedError,
  UnauthorizedError,
  UnavailableError,
} from '../../../../src/errors';
import { ManifestNotFoundError, NoSuchImageError } from '../../../../src/storage/errors';
import { BlockedRegistryError } from '../../../../src/storage/registry/registries-conf';

test.each([
  [new NotFoundError('x'), grpc.status.NOT_FOUND],
  [new NoSuchImageError('busybox'), grpc.status.NOT_FOUND],
  [new ManifestNotFoundError('busybox:x', undefined), grpc.status.NOT_FOUND],
  [new InvalidArgumentError('x'), grpc.status.INVALID_ARGUMENT],
  [new ConflictError('x'), grpc.status.FAILED_PRECONDITION],
  [new AlreadyExistsError('x'), grpc.status.ALREADY_EXISTS],
  [new NotModifiedError('x'), grpc.status.FAILED_PRECONDITION],
  [new NotImplementedError('x'), grpc.status.UNIMPLEMENTED],
  [new UnavailableError('x'), grpc.status.UNAVAILABLE],
  [new UnauthorizedError('x'), grpc.status.UNAUTHENTICATED],
  [new ForbiddenError('x'), grpc.status.PERMISSION_DENIED],
  [new BlockedRegistryError('x'), grpc.status.PERMISSION_DENIED],
  [new ResourceExhaustedError('x'), grpc.status.RESOURCE_EXHAUSTED],
  [new Error('boom'), grpc.status.INTERNAL],
  ['a string', grpc.status.INTERNAL],
])('%s is %s', (err, code) => {
  expect(grpcCodeOf(err)).toBe(code);
});

test('the service error carries the code and the message as details', () => {
  expect(toServiceError(new NotFoundError('no such image: x'), 'runtime.v1.ImageService/ImageStatus')).toEqual({
    code: grpc.status.NOT_FOUND,
    details: 'no such image: x',
    message: 'no such image: x',
  });
});
