/**
 * Reference parsing and normalisation, table-driven against what docker prints.
 */
import { familiarString, formatReference, parseReference, parseTagged } from '../../../src/storage/reference';

const D = 'sha256:' + 'a'.repeat(64);

describe('parseTagged normalises like docker', () => {
  test.each([
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['index.docker.io/library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['user/app:v2', 'docker.io/user/app:v2', 'user/app:v2'],
    ['127.0.0.1:5000/busybox', '127.0.0.1:5000/busybox:latest', '127.0.0.1:5000/busybox:latest'],
    ['127.0.0.1:5000/a/b/c:t', '127.0.0.1:5000/a/b/c:t', '127.0.0.1:5000/a/b/c:t'],
    ['localhost/x', 'localhost/x:latest', 'localhost/x:latest'],
    ['quay.io/org/img@' + D, 'quay.io/org/img@' + D, 'quay.io/org/img@' + D],
    ['busybox:1@' + D, 'docker.io/library/busybox:1@' + D, 'busybox:1@' + D],
    ['Registry.Example.com/x', 'Registry.Example.com/x:latest', 'Registry.Example.com/x:latest'],
  ])('%s', (input, full, familiar) => {
    const r = parseTagged(input);
    expect(formatReference(r)).toBe(full);
    expect(familiarString(r)).toBe(familiar);
  });
});

describe("invalid references get dockerd's words", () => {
  test.each([
    ['BusyBox', 'invalid reference format: repository name must be lowercase'],
    ['127.0.0.1:5000/UP', 'invalid reference format: repository name must be lowercase'],
    ['busybox:', 'invalid reference format'],
    ['-busybox', 'invalid reference format'],
    ['busybox:bad tag', 'invalid reference format'],
    ['a'.repeat(64), `invalid repository name (${'a'.repeat(64)}), cannot specify 64-byte hexadecimal strings`],
    ['', 'invalid reference format'],
    ['x/' + 'a'.repeat(260), 'invalid reference format: repository name must not be more than 255 characters'],
  ])('%s', (input, message) => {
    expect(() => parseReference(input)).toThrow(message);
  });
});

describe('upper-case first component (dockerd 20.10)', () => {
  it('is a path component, refused as not lowercase, not taken for a registry host', () => {
    expect(() => parseReference('UPPER/x')).toThrow('invalid reference format: repository name must be lowercase');
  });
});
