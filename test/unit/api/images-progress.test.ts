/**
 * The pull progress stream is formatted byte for byte as dockerd 20.10 writes it (lines
 * captured from a real dockerd pulling the fixture images).
 */
import { pullReference } from '../../../src/api/v1.41/images';
import { humanSize, progressBar, progressLine } from '../../../src/api/v1.41/kit/progress';
import { goTime } from '../../../src/api/v1.41/json/images';

test.each([
  [36445, 1056539, '[=>                                                 ]  36.45kB/1.057MB'],
  [219, 219, '[==================================================>]     219B/219B'],
  [32768, 1056539, '[=>                                                 ]  32.77kB/1.057MB'],
  [1056539, 1056539, '[==================================================>]  1.057MB/1.057MB'],
])('progress bar %d/%d', (current, total, bar) => {
  expect(progressBar(current, total)).toBe(bar);
});

test('human sizes as go-units prints them', () => {
  expect([0, 999, 1000, 1500, 123456789, 10 ** 9].map(humanSize)).toEqual([
    '0B',
    '999B',
    '1kB',
    '1.5kB',
    '123.5MB',
    '1GB',
  ]);
});

test('stream lines: key order, Go escapes, CRLF', () => {
  expect(
    progressLine({ status: 'Downloading', progressDetail: { current: 219, total: 219 }, id: '30f92cecb3dd' }),
  ).toBe(
    '{"status":"Downloading","progressDetail":{"current":219,"total":219},"progress":"[==================================================\\u003e]     219B/219B","id":"30f92cecb3dd"}\r\n',
  );
  expect(progressLine({ status: 'Pulling fs layer', progressDetail: {}, id: 'abc' })).toBe(
    '{"status":"Pulling fs layer","progressDetail":{},"id":"abc"}\r\n',
  );
  expect(progressLine({ status: 'Pulling from busybox', id: 'latest' })).toBe(
    '{"status":"Pulling from busybox","id":"latest"}\r\n',
  );
});

test('times as Go marshals them', () => {
  expect(goTime('2024-01-01T00:00:00.000Z')).toBe('2024-01-01T00:00:00Z');
  expect(goTime('2023-05-19T20:19:23.931542524Z')).toBe('2023-05-19T20:19:23.931542524Z');
  expect(goTime(undefined)).toBe('0001-01-01T00:00:00Z');
});

test('fromImage and tag as dockerd combines them', () => {
  expect(pullReference('busybox', 'latest')).toEqual({ domain: 'docker.io', path: 'library/busybox', tag: 'latest' });
  expect(pullReference('127.0.0.1:5000/x', 'sha256:' + 'a'.repeat(64))).toEqual({
    domain: '127.0.0.1:5000',
    path: 'x',
    digest: 'sha256:' + 'a'.repeat(64),
  });
  expect(() => pullReference('busybox', 'b@d')).toThrow('invalid tag format');
  expect(() => pullReference('BUSY', 'latest')).toThrow('invalid reference format: repository name must be lowercase');
});
