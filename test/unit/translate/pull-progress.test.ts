/**
 * A pull's events, worded as dockerd 20.10 streams them (`docker pull` prints these lines).
 */
import { dockerProgress } from '../../../src/api/v1.41/json/pull-progress';
import type { PullEvent } from '../../../src/storage/pull';

test('one pull, from manifest to stored image, in dockerd words', () => {
  const events: PullEvent[] = [
    { kind: 'resolved', repository: 'library/busybox', tagOrDigest: 'latest' },
    { kind: 'layer', layer: 'aaa', phase: 'exists' },
    { kind: 'layer', layer: 'bbb', phase: 'queued' },
    { kind: 'layer', layer: 'ccc', phase: 'waiting' },
    { kind: 'layer', layer: 'bbb', phase: 'downloading', current: 10, total: 20 },
    { kind: 'layer', layer: 'bbb', phase: 'downloaded' },
    { kind: 'layer', layer: 'bbb', phase: 'extracting', current: 20, total: 20 },
    { kind: 'layer', layer: 'bbb', phase: 'complete' },
    { kind: 'stored', digest: 'sha256:d', reference: 'busybox:latest', updated: true },
    { kind: 'platform-mismatch', reference: 'busybox', wanted: 'linux/arm64', actual: 'linux/amd64' },
  ];
  expect(events.flatMap(dockerProgress)).toEqual([
    { status: 'Pulling from library/busybox', id: 'latest' },
    { status: 'Already exists', progressDetail: {}, id: 'aaa' },
    { status: 'Pulling fs layer', progressDetail: {}, id: 'bbb' },
    { status: 'Waiting', progressDetail: {}, id: 'ccc' },
    { status: 'Downloading', progressDetail: { current: 10, total: 20 }, id: 'bbb' },
    { status: 'Verifying Checksum', progressDetail: {}, id: 'bbb' },
    { status: 'Download complete', progressDetail: {}, id: 'bbb' },
    { status: 'Extracting', progressDetail: { current: 20, total: 20 }, id: 'bbb' },
    { status: 'Pull complete', progressDetail: {}, id: 'bbb' },
    { status: 'Digest: sha256:d' },
    { status: 'Status: Downloaded newer image for busybox:latest' },
    {
      status:
        'WARNING: image with reference busybox was found but does not match the specified platform: wanted linux/arm64, actual: linux/amd64',
    },
  ]);
  expect(
    dockerProgress({ kind: 'stored', digest: 'sha256:d', reference: 'busybox:latest', updated: false })[1].status,
  ).toBe('Status: Image is up to date for busybox:latest');
});

test("an image's disk being made and made, as a line of the image's short ID", () => {
  expect(
    [
      { kind: 'image-disk', image: 'abc', made: false },
      { kind: 'image-disk', image: 'abc', made: true },
    ].flatMap((e) => dockerProgress(e as PullEvent)),
  ).toEqual([
    { status: 'Making image disk', progressDetail: {}, id: 'abc' },
    { status: 'Image disk made', progressDetail: {}, id: 'abc' },
  ]);
});
