/**
 * `docker push` with the stock docker CLI against the real daemon and the fixture registry
 * (no VMs are booted): a pulled image pushed under another name mounts its layer across
 * repositories and keeps its manifest digest; a second push finds every layer there; a loaded
 * image's new layer is uploaded with progress; pulling back gives the same image ID.
 */
import { execFile } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startDaemon, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { assembleImage, buildLayer, packTar } from '../fixtures/image-builder';
import { digestHex } from '../../src/storage/digest';

jest.setTimeout(120000);

const REG = fixtureRegistry();
const SOURCE = `${REG}/busybox:latest`;
const RUN = crypto.randomBytes(4).toString('hex');

let d: TestDaemon;

function docker(args: string[], input?: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      '/usr/local/bin/docker',
      args,
      { env: d.env, timeout: 60000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${String(stderr).trim()}\n${String(stdout).trim()}`.trim()));
        else resolve(String(stdout));
      },
    );
    if (input) child.stdin?.end(input);
  });
}

beforeAll(async () => {
  d = await startDaemon();
  await docker(['pull', '-q', SOURCE]);
});
afterAll(async () => {
  await d?.stop();
});

test('a pulled image pushed to another repository is mounted, keeps its digest, and pulls back with the same ID', async () => {
  const info = JSON.parse(await docker(['image', 'inspect', SOURCE])) as Array<{ Id: string; RepoDigests: string[] }>;
  const sourceDigest = info[0].RepoDigests[0].split('@')[1];
  const target = `${REG}/imagelife-${RUN}/bb:t1`;
  await docker(['tag', SOURCE, target]);
  const out = await docker(['push', target]);
  expect(out).toContain(`The push refers to repository [${REG}/imagelife-${RUN}/bb]`);
  expect(out).toMatch(/: Mounted from busybox/);
  expect(out).toContain(`t1: digest: ${sourceDigest} size: `);

  const again = await docker(['push', target]);
  expect(again).toMatch(/: Layer already exists/);
  expect(again).not.toMatch(/Pushed|Mounted/);

  await docker(['rmi', target]);
  await docker(['rmi', SOURCE]);
  await docker(['pull', '-q', target]);
  expect((await docker(['image', 'inspect', '-f', '{{.Id}}', target])).trim()).toBe(info[0].Id);
  await docker(['pull', '-q', SOURCE]);
});

test('a loaded image uploads its new layer and pulls back with the same ID; unknown images are refused', async () => {
  const layer = await buildLayer([{ name: 'data', content: crypto.randomBytes(200000) }]);
  const img = assembleImage([layer]);
  const tag = `${REG}/imagelife-${RUN}/loaded:1`;
  const archive = await packTar([
    { name: `${digestHex(img.configDigest)}.json`, content: img.config },
    { name: 'l0/layer.tar', content: layer.tar },
    {
      name: 'manifest.json',
      content: JSON.stringify([
        { Config: `${digestHex(img.configDigest)}.json`, RepoTags: [tag], Layers: ['l0/layer.tar'] },
      ]),
    },
  ]);
  const file = path.join(path.dirname(d.socketPath), 'loaded.tar');
  fs.writeFileSync(file, archive);
  await docker(['load', '-q', '-i', file]);
  const out = await docker(['push', tag]);
  expect(out).toContain(`${digestHex(layer.diffId).slice(0, 12)}: Pushed`);
  expect(out).toMatch(/1: digest: sha256:[a-f0-9]{64} size: \d+/);
  await docker(['rmi', tag]);
  await docker(['pull', '-q', tag]);
  expect((await docker(['image', 'inspect', '-f', '{{.Id}}', tag])).trim()).toBe(img.configDigest);

  // Pushed, then saved and loaded again: the same ID, and a second push gives the same
  // manifest digest (the pulled layer blob is kept and saved back byte for byte).
  const digest = (await docker(['image', 'inspect', '-f', '{{index .RepoDigests 0}}', tag])).trim();
  const saved = path.join(path.dirname(d.socketPath), 'pushed.tar');
  await docker(['save', '-o', saved, tag]);
  await docker(['rmi', tag]);
  await docker(['load', '-q', '-i', saved]);
  expect((await docker(['image', 'inspect', '-f', '{{.Id}}', tag])).trim()).toBe(img.configDigest);
  expect(await docker(['push', tag])).toContain(`1: digest: ${digest.split('@')[1]}`);

  await expect(docker(['push', `${REG}/imagelife-${RUN}/none:1`])).rejects.toThrow(
    /An image does not exist locally with the tag: .*imagelife-.*\/none/,
  );
});
