/**
 * Docker's Healthcheck in and out: the create body's checks (dockerd's messages), the merge
 * with the image's HEALTHCHECK, CMD / CMD-SHELL / NONE, and Go's duration wording.
 */
import { goDuration, healthSpecOf, mergeHealthConfig, parseHealthConfig } from '../../../src/translate/health';
import { InvalidArgumentError } from '../../../src/errors';

const MS = 1000000;

test('durations under 1ms and negative retries are refused with dockerd\'s words', () => {
  expect(() => parseHealthConfig({ Test: ['CMD', 'true'], Interval: 10 })).toThrow(new InvalidArgumentError('Interval in Healthcheck cannot be less than 1ms'));
  expect(() => parseHealthConfig({ Timeout: -5 })).toThrow('Timeout in Healthcheck cannot be less than 1ms');
  expect(() => parseHealthConfig({ Retries: -1 })).toThrow('Retries in Healthcheck cannot be negative');
  expect(() => parseHealthConfig({ StartPeriod: 999 })).toThrow('StartPeriod in Healthcheck cannot be less than 1ms');
  expect(() => parseHealthConfig({ Test: 'true' })).toThrow(InvalidArgumentError);
  expect(parseHealthConfig({ Test: ['CMD', 'true'], Interval: 0, Retries: 0 })).toEqual({ Test: ['CMD', 'true'] });
  expect(parseHealthConfig(null)).toBeUndefined();
});

test('the user\'s fields win; the unset ones come from the image', () => {
  const image = { Test: ['CMD-SHELL', 'curl -f localhost'], Interval: 5000 * MS, Retries: 4 };
  expect(mergeHealthConfig(undefined, image)).toEqual(image);
  expect(mergeHealthConfig({ Interval: 1000 * MS }, image)).toEqual({ Test: ['CMD-SHELL', 'curl -f localhost'], Interval: 1000 * MS, Retries: 4 });
  // --no-healthcheck: NONE is kept over the image's test.
  expect(mergeHealthConfig({ Test: ['NONE'] }, image)?.Test).toEqual(['NONE']);
  expect(mergeHealthConfig(undefined, undefined)).toBeUndefined();
});

test('CMD runs its argv, CMD-SHELL the container\'s shell, NONE nothing; defaults as dockerd\'s', () => {
  expect(healthSpecOf({ Test: ['CMD', 'pg_isready', '-q'] }, undefined)).toEqual({ args: ['pg_isready', '-q'], intervalMs: 30000, timeoutMs: 30000, startPeriodMs: 0, retries: 3 });
  expect(healthSpecOf({ Test: ['CMD-SHELL', 'exit 0'], Interval: 1500 * MS, Timeout: 2 * MS, StartPeriod: 10000 * MS, Retries: 1 }, undefined))
    .toEqual({ args: ['/bin/sh', '-c', 'exit 0'], intervalMs: 1500, timeoutMs: 2, startPeriodMs: 10000, retries: 1 });
  expect(healthSpecOf({ Test: ['CMD-SHELL', 'exit 0'] }, ['/bin/bash', '-ec'])?.args).toEqual(['/bin/bash', '-ec', 'exit 0']);
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
