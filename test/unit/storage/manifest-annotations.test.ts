/**
 * manifestAnnotations (src/storage/manifest-annotations.ts) over a real content store: the
 * annotations of the manifest an image was pulled by, through an index to linux/amd64's
 * manifest; empty when no manifest of it is stored; only string values.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ContentStore } from '../../../src/storage/content';
import { manifestAnnotations } from '../../../src/storage/manifest-annotations';

let dir: string;
let content: ContentStore;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-annotations-'));
  content = new ContentStore(path.join(dir, 'content'));
  await content.init();
});

afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const put = (o: object) => content.put(Buffer.from(JSON.stringify(o)));

test("a manifest's string annotations, directly or through an index's linux/amd64 entry", async () => {
  const manifest = await put({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    annotations: { 'io.kubernetes.cri-o.annotations.checkpoint.name': 'count', n: 1 },
  });
  expect(await manifestAnnotations(content, [`r/ckpt@${manifest}`])).toEqual({
    'io.kubernetes.cri-o.annotations.checkpoint.name': 'count',
  });
  const arm = await put({ schemaVersion: 2, annotations: { which: 'arm64' } });
  const index = await put({
    schemaVersion: 2,
    manifests: [
      { digest: arm, platform: { os: 'linux', architecture: 'arm64' } },
      { digest: manifest, platform: { os: 'linux', architecture: 'amd64' } },
    ],
  });
  expect(await manifestAnnotations(content, [`r/ckpt@${index}`])).toEqual({
    'io.kubernetes.cri-o.annotations.checkpoint.name': 'count',
  });
});

test('empty when no manifest of it is stored (a build, an import) or it has none', async () => {
  expect(await manifestAnnotations(content, [])).toEqual({});
  expect(await manifestAnnotations(content, [`r/x@sha256:${'0'.repeat(64)}`])).toEqual({});
  const plain = await put({ schemaVersion: 2, layers: [] });
  expect(await manifestAnnotations(content, [`r/x@${plain}`])).toEqual({});
});
