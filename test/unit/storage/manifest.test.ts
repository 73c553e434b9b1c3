/**
 * Manifest parsing and platform selection from manifest lists / OCI indexes.
 */
import {
  MediaType,
  parseManifest,
  parsePlatform,
  selectManifest,
  type ManifestIndex,
} from '../../../src/storage/registry/manifest';
import { CHECKPOINT_FOR } from '../../../src/storage/checkpoint-image/media-types';

const d = (c: string) => 'sha256:' + c.repeat(64);
const index: ManifestIndex = {
  kind: 'index',
  mediaType: MediaType.OciIndex,
  manifests: [
    {
      mediaType: MediaType.OciManifest,
      digest: d('1'),
      size: 1,
      platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
    },
    {
      mediaType: MediaType.OciManifest,
      digest: d('2'),
      size: 1,
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    },
    { mediaType: MediaType.OciManifest, digest: d('3'), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
    { mediaType: MediaType.OciManifest, digest: d('4'), size: 1, platform: { os: 'windows', architecture: 'amd64' } },
  ],
};

describe('selectManifest', () => {
  test.each([
    ['linux/amd64', d('3')],
    ['amd64', d('3')],
    ['linux/arm64', d('2')],
    ['linux/arm64/v8', d('2')],
    ['linux/aarch64', d('2')],
    ['linux/arm/v7', d('1')],
    ['windows/amd64', d('4')],
  ])('%s', (platform, digest) => {
    expect(selectManifest(index, parsePlatform(platform)).digest).toBe(digest);
  });

  test("no match: dockerd's message", () => {
    expect(() => selectManifest(index, parsePlatform('linux/s390x'))).toThrow(
      'no matching manifest for linux/s390x in the manifest list entries',
    );
  });

  test("a checkpoint image's index: the unknown/unknown state entry is never chosen, and keeps its annotation", () => {
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [
          {
            mediaType: MediaType.OciManifest,
            digest: d('9'),
            size: 9,
            platform: { os: 'unknown', architecture: 'unknown' },
            annotations: { [CHECKPOINT_FOR]: d('5'), odd: 7 },
          },
          {
            mediaType: MediaType.DockerManifest,
            digest: d('5'),
            size: 5,
            platform: { os: 'linux', architecture: 'amd64' },
          },
        ],
      }),
    );
    const parsed = parseManifest(body, undefined);
    if (parsed.kind !== 'index') throw new Error('not an index');
    expect(selectManifest(parsed, parsePlatform('linux/amd64')).digest).toBe(d('5'));
    expect(parsed.manifests[0].annotations).toEqual({ [CHECKPOINT_FOR]: d('5') });
    expect(() => selectManifest(parsed, { os: 'unknown', architecture: 'unknown' })).toThrow(/no matching manifest/);
    const stateOnly: ManifestIndex = { ...parsed, manifests: [parsed.manifests[0]] };
    expect(() => selectManifest(stateOnly, parsePlatform('linux/amd64'))).toThrow(
      'no matching manifest for linux/amd64 in the manifest list entries',
    );
  });

  test('an unparsable platform is refused', () => {
    expect(() => parsePlatform('bogus/x/y/z')).toThrow(
      '"bogus/x/y/z": cannot parse platform specifier: invalid argument',
    );
  });

  test('a lone word is an OS or an architecture containerd knows', () => {
    expect(parsePlatform('x86_64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(parsePlatform('Linux')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(parsePlatform('s390x')).toEqual({ os: 'linux', architecture: 's390x' });
    expect(parsePlatform('linux/foo')).toEqual({ os: 'linux', architecture: 'foo' });
    expect(() => parsePlatform('foobar')).toThrow(
      '"foobar": unknown operating system or architecture: invalid argument',
    );
  });
});

describe('parseManifest', () => {
  test('schema2 manifest', () => {
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.DockerManifest,
        config: { mediaType: MediaType.DockerConfig, size: 3, digest: d('a') },
        layers: [{ mediaType: MediaType.DockerLayerGzip, size: 5, digest: d('b') }],
      }),
    );
    const m = parseManifest(body, MediaType.DockerManifest);
    expect(m).toMatchObject({ kind: 'manifest', layers: [{ digest: d('b') }] });
  });

  test('OCI index without mediaType is recognised by its fields', () => {
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
    expect(parseManifest(body, 'application/json').kind).toBe('index');
  });

  test('bad digests, schema1 and garbage are refused', () => {
    const bad = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.DockerManifest,
        config: { mediaType: 'x', size: 1, digest: 'sha256:../../etc' },
        layers: [],
      }),
    );
    expect(() => parseManifest(bad, undefined)).toThrow(/invalid digest/);
    expect(() => parseManifest(Buffer.from('{"schemaVersion":1}'), undefined)).toThrow(
      /schema version 1 is not supported/,
    );
    expect(() => parseManifest(Buffer.from('nope'), undefined)).toThrow(/not JSON/);
  });
});
