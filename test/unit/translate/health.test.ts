/**
 * Docker's Healthcheck in and out: the create body's checks (dockerd's messages), the merge
 * with the image's HEALTHCHECK, CMD / CMD-SHELL / NONE, and Go's duration wording.
 */
import { goDuration, parseHealthConfig } from '../../../src/api/v1.41/docker/health';
import { healthSpecOf, mergeHealthConfig } from '../../../src/translate/request/policy/health';
import { InvalidArgumentError } from '../../../src/errors';
import { parseCreateBody } from '../../../src/api/v1.41/docker/create-body';
import { translateCreate } from '../../../src/api/v1.41/docker/create';
import type { CreateBody } from '../../../src/api/v1.41/docker/docker-schema';
import type { ImageRecord } from '../../../src/storage/types';

const MS = 1000000;

test("durations under 1ms and negative retries are refused with dockerd's words", () => {
  expect(() => parseHealthConfig({ Test: ['CMD', 'true'], Interval: 10 })).toThrow(
    new InvalidArgumentError('Interval in Healthcheck cannot be less than 1ms'),
  );
  expect(() => parseHealthConfig({ Timeout: -5 })).toThrow('Timeout in Healthcheck cannot be less than 1ms');
  expect(() => parseHealthConfig({ Retries: -1 })).toThrow('Retries in Healthcheck cannot be negative');
  expect(() => parseHealthConfig({ StartPeriod: 999 })).toThrow('StartPeriod in Healthcheck cannot be less than 1ms');
  expect(() => parseHealthConfig({ Test: 'true' })).toThrow(InvalidArgumentError);
  expect(parseHealthConfig({ Test: ['CMD', 'true'], Interval: 0, Retries: 0 })).toEqual({ Test: ['CMD', 'true'] });
  expect(parseHealthConfig(null)).toBeUndefined();
});

test("the user's fields win; the unset ones come from the image", () => {
  const image = { Test: ['CMD-SHELL', 'curl -f localhost'], Interval: 5000 * MS, Retries: 4 };
  expect(mergeHealthConfig(undefined, image)).toEqual(image);
  expect(mergeHealthConfig({ Interval: 1000 * MS }, image)).toEqual({
    Test: ['CMD-SHELL', 'curl -f localhost'],
    Interval: 1000 * MS,
    Retries: 4,
  });
  // --no-healthcheck: NONE is kept over the image's test.
  expect(mergeHealthConfig({ Test: ['NONE'] }, image)?.Test).toEqual(['NONE']);
  expect(mergeHealthConfig(undefined, undefined)).toBeUndefined();
});

test("CMD runs its argv, CMD-SHELL the container's shell, NONE nothing; defaults as dockerd's", () => {
  expect(healthSpecOf({ Test: ['CMD', 'pg_isready', '-q'] }, undefined)).toEqual({
    args: ['pg_isready', '-q'],
    intervalMs: 30000,
    timeoutMs: 30000,
    startPeriodMs: 0,
    retries: 3,
  });
  expect(
    healthSpecOf(
      { Test: ['CMD-SHELL', 'exit 0'], Interval: 1500 * MS, Timeout: 2 * MS, StartPeriod: 10000 * MS, Retries: 1 },
      undefined,
    ),
  ).toEqual({ args: ['/bin/sh', '-c', 'exit 0'], intervalMs: 1500, timeoutMs: 2, startPeriodMs: 10000, retries: 1 });
  expect(healthSpecOf({ Test: ['CMD-SHELL', 'exit 0'] }, ['/bin/bash', '-ec'])?.args).toEqual([
    '/bin/bash',
    '-ec',
    'exit 0',
  ]);
  expect(healthSpecOf({ Test: ['NONE'] }, undefined)).toBeUndefined();
  expect(healthSpecOf({ Interval: 1000 * MS }, undefined)).toBeUndefined();
});

test('Go duration wording', () => {
  expect(goDuration(500)).toBe('500ms');
  expect(goDuration(1000)).toBe('1s');
  expect(goDuration(1500)).toBe('1.5s');
  expect(goDuration(30000)).toBe('30s');
  expect(goDuration(90000)).toBe('1m30s');
  expect(goDuration(3600000)).toBe('1h0m0s');
});

test("an image's HEALTHCHECK becomes the container's, under the fields the client set", () => {
  const image: ImageRecord = {
    id: 'sha256:' + 'd'.repeat(64),
    repoTags: ['web:latest'],
    repoDigests: [],
    size: 1,
    storedAt: 0,
    config: {
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [] },
      config: {
        Cmd: ['httpd'],
        Healthcheck: { Test: ['CMD-SHELL', 'wget -q -O- localhost'], Interval: 5000 * MS, Retries: 5 },
      },
    },
  };
  const req = parseCreateBody({ Image: 'web', Healthcheck: { Interval: 2000 * MS } } as CreateBody, 2);
  const t = translateCreate(req, image, 'e'.repeat(64), { defaults: { memoryMiB: 256, cpus: 1 }, hostCpus: 2 });
  expect(t.frontend.config.Healthcheck).toEqual({
    Test: ['CMD-SHELL', 'wget -q -O- localhost'],
    Interval: 2000 * MS,
    Retries: 5,
  });
  expect(t.spec.containers[0].health).toEqual({
    args: ['/bin/sh', '-c', 'wget -q -O- localhost'],
    intervalMs: 2000,
    timeoutMs: 30000,
    startPeriodMs: 0,
    retries: 5,
  });
  const none = translateCreate(
    parseCreateBody({ Image: 'web', Healthcheck: { Test: ['NONE'] } } as CreateBody, 2),
    image,
    'f'.repeat(64),
    { defaults: { memoryMiB: 256, cpus: 1 }, hostCpus: 2 },
  );
  expect(none.spec.containers[0].health).toBeUndefined();
});
