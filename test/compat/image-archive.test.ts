/**
 * `docker save` and `docker load` with the stock docker CLI against the real daemon and the
 * fixture registry (no VMs are booted): the archive holds the image config byte for byte and
 * layer tars whose sha256 are the config's diff IDs; loading it back (plain, or compressed with
 * gzip, bzip2, xz or zstd, whole or layer by layer) gives
 * the same image ID and tags; a bad archive or an unknown name is the CLI's error. Archives
 * cross between podvisor and a private dockerd 20.10 (Debian's docker.io, its own socket and
 * data root, no bridge) both ways, keeping the image ID, and dockerd runs what podvisor saved.
 */
import { execFile } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startDaemon, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { startDockerd, type BaselineDockerd } from '../../bench/common';

jest.setTimeout(120000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox:latest`;

let d: TestDaemon;
let dir: string;
let dockerd: BaselineDockerd | undefined;

function sh(script: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', script], { env, timeout: 60000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${String(stderr).trim()}\n${String(stdout).trim()}`.trim()));
      else resolve(String(stdout));
    });
  });
}

const docker = (args: string) => sh(`/usr/local/bin/docker ${args}`, d.env);

beforeAll(async () => {
  d = await startDaemon();
  dir = fs.mkdtempSync(path.join(path.dirname(d.socketPath), 'archive-'));
  await docker(`pull -q ${IMAGE}`);
});
afterAll(async () => {
  await dockerd?.stop();
  await d?.stop();
});

test('docker save writes a docker-archive whose layer tars match the diff IDs; docker load brings the same image back', async () => {
  const id = (await docker(`image inspect -f '{{.Id}}' ${IMAGE}`)).trim();
  const file = path.join(dir, 'saved.tar');
  await docker(`save -o ${file} ${IMAGE}`);
  const list = (await sh(`tar tf ${file}`, d.env)).trim().split('\n');
  expect(list).toContain('manifest.json');
  const manifest = JSON.parse(await sh(`tar xOf ${file} manifest.json`, d.env)) as Array<{
    Config: string;
    RepoTags: string[];
    Layers: string[];
  }>;
  expect(manifest).toHaveLength(1);
  expect(manifest[0].RepoTags).toEqual([IMAGE]);
  const config = JSON.parse(await sh(`tar xOf ${file} ${manifest[0].Config}`, d.env)) as {
    rootfs: { diff_ids: string[] };
  };
  expect(`sha256:${manifest[0].Config.replace(/\.json$/, '')}`).toBe(id);
  const layerDigests = [];
  for (const l of manifest[0].Layers)
    layerDigests.push(`sha256:${(await sh(`tar xOf ${file} ${l} | sha256sum`, d.env)).split(' ')[0]}`);
  expect(layerDigests).toEqual(config.rootfs.diff_ids);

  await docker(`rmi ${IMAGE}`);
  await expect(docker(`image inspect ${IMAGE}`)).rejects.toThrow(/No such image/);
  expect((await docker(`load -i ${file}`)).trim()).toBe(`Loaded image: ${IMAGE}`);
  expect((await docker(`image inspect -f '{{.Id}} {{index .RepoTags 0}}' ${IMAGE}`)).trim()).toBe(`${id} ${IMAGE}`);

  // Piped and gzipped, tagged twice, by the CLI's streaming form.
  await docker(`tag ${IMAGE} archived/copy:2`);
  const out = await sh(
    `/usr/local/bin/docker save ${IMAGE} archived/copy:2 | gzip | /usr/local/bin/docker load`,
    d.env,
  );
  expect(out.trim().split('\n').sort()).toEqual([`Loaded image: ${IMAGE}`, 'Loaded image: archived/copy:2']);
  expect((await docker(`image inspect -f '{{.Id}}' archived/copy:2`)).trim()).toBe(id);
});

test('docker load takes archives compressed with bzip2, xz or zstd, and layer tars compressed inside them, as the same image', async () => {
  const id = (await docker(`image inspect -f '{{.Id}}' ${IMAGE}`)).trim();
  const file = path.join(dir, 'to-compress.tar');
  await docker(`save -o ${file} ${IMAGE}`);
  for (const tool of ['bzip2', 'xz', 'zstd']) {
    await docker(`rmi ${IMAGE}`);
    expect((await sh(`${tool} -c ${file} | /usr/local/bin/docker load`, d.env)).trim()).toBe(`Loaded image: ${IMAGE}`);
    expect((await docker(`image inspect -f '{{.Id}}' ${IMAGE}`)).trim()).toBe(id);
  }
  // Each layer.tar itself compressed (the names kept): dockerd reads those too.
  for (const tool of ['bzip2', 'xz']) {
    const unpacked = path.join(dir, `inner-${tool}`);
    fs.mkdirSync(unpacked);
    await sh(
      `tar -C ${unpacked} -xf ${file} && for l in ${unpacked}/*/layer.tar; do ${tool} -c "$l" > "$l.c" && mv "$l.c" "$l"; done`,
      d.env,
    );
    await docker(`rmi ${IMAGE}`);
    expect((await sh(`tar -C ${unpacked} -cf - . | /usr/local/bin/docker load`, d.env)).trim()).toBe(
      `Loaded image: ${IMAGE}`,
    );
    expect((await docker(`image inspect -f '{{.Id}}' ${IMAGE}`)).trim()).toBe(id);
  }
  // A corrupt xz archive is refused and loads nothing.
  const before = await docker('images -q --no-trunc');
  await expect(sh(`xz -c ${file} | head -c 4000 | /usr/local/bin/docker load`, d.env)).rejects.toThrow(
    /invalid archive|unexpected end|truncated|xz/i,
  );
  expect(await docker('images -q --no-trunc')).toBe(before);
});

test('saving by ID writes no tags; loading it gives an untagged image with the same ID', async () => {
  const id = (await docker(`image inspect -f '{{.Id}}' ${IMAGE}`)).trim();
  const file = path.join(dir, 'by-id.tar');
  await docker(`save -o ${file} ${id.slice(7, 19)}`);
  const manifest = JSON.parse(await sh(`tar xOf ${file} manifest.json`, d.env)) as Array<{ RepoTags: unknown }>;
  expect(manifest[0].RepoTags).toBeNull();
  const sum = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  await docker(`save -o ${file}.2 ${id.slice(7, 19)}`);
  expect(
    crypto
      .createHash('sha256')
      .update(fs.readFileSync(`${file}.2`))
      .digest('hex'),
  ).toBe(sum);
  expect((await docker(`load -q -i ${file}`)).trim()).toBe(`Loaded image ID: ${id}`);
});

test("unknown names and bad archives are the CLI's errors and change nothing", async () => {
  await expect(docker(`save -o ${path.join(dir, 'none.tar')} no-such-image:1`)).rejects.toThrow(
    /No such image: no-such-image:1/,
  );
  const bad = path.join(dir, 'bad.tar');
  fs.writeFileSync(bad, 'not an archive'.repeat(100));
  const before = await docker('images -q --no-trunc');
  await expect(docker(`load -i ${bad}`)).rejects.toThrow(/invalid archive/);
  await expect(sh(`tar cf - -C /etc hostname | /usr/local/bin/docker load`, d.env)).rejects.toThrow(/no manifest.json/);
  expect(await docker('images -q --no-trunc')).toBe(before);
});

test('archives cross between podvisor and dockerd both ways with the same image ID, and dockerd runs what podvisor saved', async () => {
  dockerd = await startDockerd(path.join(dir, 'dockerd'));
  const theirs = (args: string) => sh(`/usr/local/bin/docker ${args}`, dockerd!.env);
  const id = (await docker(`image inspect -f '{{.Id}}' ${IMAGE}`)).trim();

  // podvisor -> dockerd
  const ours = path.join(dir, 'ours.tar');
  await docker(`tag ${IMAGE} crossing/ours:1`);
  await docker(`save -o ${ours} crossing/ours:1`);
  expect((await theirs(`load -i ${ours}`)).trim()).toBe('Loaded image: crossing/ours:1');
  expect((await theirs(`image inspect -f '{{.Id}}' crossing/ours:1`)).trim()).toBe(id);
  expect((await theirs('run --rm --network none crossing/ours:1 echo ran-in-dockerd')).trim()).toBe('ran-in-dockerd');

  // dockerd -> podvisor, under a new tag so that nothing of ours is reused
  const fromDockerd = path.join(dir, 'theirs.tar');
  await theirs(`tag crossing/ours:1 crossing/theirs:2`);
  await theirs(`save -o ${fromDockerd} crossing/theirs:2`);
  await docker(`rmi crossing/ours:1 ${IMAGE}`);
  expect((await docker(`load -i ${fromDockerd}`)).trim()).toBe('Loaded image: crossing/theirs:2');
  expect((await docker(`image inspect -f '{{.Id}}' crossing/theirs:2`)).trim()).toBe(id);
  // And what podvisor saves of it again, dockerd takes back as the same image.
  const back = path.join(dir, 'back.tar');
  await docker(`save -o ${back} crossing/theirs:2`);
  await theirs('rmi crossing/ours:1 crossing/theirs:2');
  expect((await theirs(`load -q -i ${back}`)).trim()).toBe('Loaded image: crossing/theirs:2');
  expect((await theirs(`image inspect -f '{{.Id}}' crossing/theirs:2`)).trim()).toBe(id);
});
