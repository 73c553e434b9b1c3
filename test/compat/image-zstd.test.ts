/**
 * An image whose layer is zstd-compressed (made with the system's zstd tool, pushed as an OCI
 * image with `application/vnd.oci.image.layer.v1.tar+zstd` to the fixture registry) through
 * the stock docker CLI: `docker pull` completes, `docker run` reads a file of that layer in a
 * VM, `docker save` gives the layer's tar (its sha256 the diff ID), and `docker push` to
 * another repository lists the very same blob (mounted, by its digest), which pulls back as
 * the same image. (dockerd 20.10 fails this pull: "failed to register layer: Error processing tar
 * file(exit status 1): unexpected EOF"; docs/limitations.md.)
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerCli } from '../helpers/docker-cli';
import { tarMembers } from '../helpers/tar-members';
import { fixtureRegistry } from '../fixtures/registry';
import { busyboxEntries } from '../fixtures/images';
import {
  assembleImage,
  buildLayer,
  packTar,
  pushImage,
  zstdLayerFromTar,
  type BuiltImage,
  type BuiltLayer,
} from '../fixtures/image-builder';
import { MediaType } from '../../src/storage/registry/manifest';
import { digestHex, sha256Digest, shortId } from '../../src/storage/digest';

jest.setTimeout(240000);

const REG = fixtureRegistry();
const RUN = crypto.randomBytes(4).toString('hex');
const IMAGE = `${REG}/zstd-${RUN}/img:1`;
const GREETING = 'hello from a zstd layer\n';

let d: TestDaemon;
let image: BuiltImage;
let zstdLayer: BuiltLayer;

const docker = async (args: string[]) => {
  const r = await dockerCli(d, args);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: ${r.err.trim()}`);
  return r.out.trim();
};

beforeAll(async () => {
  const layerTar = await packTar([
    { name: 'zstd', type: 'directory' },
    { name: 'zstd/hello.txt', content: GREETING },
    { name: 'zstd/random', content: crypto.randomBytes(300000) },
  ]);
  zstdLayer = zstdLayerFromTar(layerTar, execFileSync('/usr/bin/zstd', ['-q', '-c'], { input: layerTar }));
  expect(zstdLayer.gz.subarray(0, 4)).toEqual(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]));
  image = assembleImage([await buildLayer(busyboxEntries()), zstdLayer], {}, true);
  await pushImage({ registry: REG, repository: `zstd-${RUN}/img` }, image, ['1']);
  d = await startDaemon();
});
afterAll(async () => {
  if (d) await stopDaemonLeavingNothing(d);
});

test('docker pull of an image with a zstd layer completes; docker run reads a file of that layer', async () => {
  const out = await docker(['pull', IMAGE]);
  expect(out).toContain(`${shortId(zstdLayer.digest)}: Pull complete`);
  expect(out).toContain(`Digest: ${image.manifestDigest}`);
  expect(out).toContain(`Status: Downloaded newer image for ${IMAGE}`);
  expect(await docker(['image', 'inspect', '-f', '{{.Id}} {{json .RootFS.Layers}}', IMAGE])).toBe(
    `${image.configDigest} ${JSON.stringify(image.layers.map((l) => l.diffId))}`,
  );
  expect(await docker(['run', '--rm', IMAGE, 'cat', '/zstd/hello.txt'])).toBe(GREETING.trim());
});

test('docker save gives the zstd layer as its tar; docker push lists the same blob, which pulls back as the same image', async () => {
  const file = path.join(path.dirname(d.socketPath), 'zstd-save.tar');
  await docker(['save', '-o', file, IMAGE]);
  const members = await tarMembers(fs.readFileSync(file));
  const manifest = JSON.parse(members.get('manifest.json')!.toString()) as Array<{ Config: string; Layers: string[] }>;
  expect(manifest[0].Config).toBe(`${digestHex(image.configDigest)}.json`);
  expect(manifest[0].Layers.map((l) => sha256Digest(members.get(l)!))).toEqual(image.layers.map((l) => l.diffId));

  const copy = `${REG}/zstd-${RUN}/copy:1`;
  await docker(['tag', IMAGE, copy]);
  const pushed = await docker(['push', copy]);
  expect(pushed).toContain(`${shortId(zstdLayer.diffId)}: Mounted from zstd-${RUN}/img`);
  const res = await fetch(`http://${REG}/v2/zstd-${RUN}/copy/manifests/1`, {
    headers: { Accept: MediaType.DockerManifest },
  });
  const layers = ((await res.json()) as { layers: Array<{ mediaType: string; digest: string; size: number }> }).layers;
  expect(layers[1]).toEqual({ mediaType: MediaType.OciLayerZstd, digest: zstdLayer.digest, size: zstdLayer.gz.length });

  await docker(['rmi', IMAGE, copy]);
  await docker(['pull', '-q', copy]);
  expect(await docker(['image', 'inspect', '-f', '{{.Id}}', copy])).toBe(image.configDigest);
});
