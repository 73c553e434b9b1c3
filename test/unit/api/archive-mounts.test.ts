/**
 * docker cp through a container's mounts, as docker-py's ArchiveTest sees it
 * (create_container(volumes=['/vol1']), then get_archive / put_archive on /vol1...): a path
 * under a bind mount or a volume is served from the mounted host directory, not from the root
 * filesystem beneath it; a read-only mount refuses a copy in with dockerd's 500; paths outside
 * every mount still come from the root. The real ContainerArchive over temp directories.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import request from 'supertest';
import { createApiApp } from '../../../src/api/v1.41/server';
import { ContainerArchive } from '../../../src/storage/archive/service';
import { mountFor } from '../../../src/storage/archive/mounts';
import type { OverlayRootfs } from '../../../src/storage/rootfs';
import type { ContainerServices } from '../../../src/api/v1.41/services';

let tmp: string;
let rootDir: string;
let vol: string;
let ro: string;
let app: ReturnType<typeof createApiApp>;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-cp-mounts-'));
  rootDir = path.join(tmp, 'root');
  vol = path.join(tmp, 'volume-data');
  ro = path.join(tmp, 'ro-bind');
  for (const d of [path.join(rootDir, 'etc'), path.join(rootDir, 'vol1'), vol, ro])
    fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(rootDir, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
  fs.writeFileSync(path.join(rootDir, 'vol1', 'beneath.txt'), 'hidden by the mount\n');
  fs.writeFileSync(path.join(vol, 'data.txt'), 'The Maid and the Pocket Watch of Blood');
  // A stopped container's root is mounted for the request; here a copy of the root directory stands for it.
  const rootfs = {
    root: path.join(tmp, 'containers'),
    paths: async () => ({ upperDir: rootDir, lowerDirs: [], workDir: path.join(tmp, 'work') }),
    mountDetached: async (_id: string, target: string) => fs.cpSync(rootDir, target, { recursive: true }),
    unmountDetached: async (target: string) => fs.rmSync(target, { recursive: true, force: true }),
  } as unknown as OverlayRootfs;
  const spec = {
    user: '',
    mounts: [
      { type: 'volume', name: 'anon', source: vol, target: '/vol1', readOnly: false, anonymous: true },
      { type: 'bind', source: ro, target: '/ro', readOnly: true, createSource: true },
      { type: 'tmpfs', target: '/scratch', readOnly: false, noexec: true, nosuid: true, nodev: true },
    ],
  };
  const rec = { id: 'c'.repeat(64), containers: { ['c'.repeat(64)]: { spec } } };
  const containers = {
    pods: { get: () => rec },
    archive: new ContainerArchive(rootfs),
  } as unknown as ContainerServices;
  app = createApiApp({ system: { version: '0.0.0-test', dataRoot: tmp, accel: 'tcg' }, containers });
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

const statOf = (res: request.Response) =>
  JSON.parse(Buffer.from(String(res.headers['x-docker-container-path-stat']), 'base64').toString());
const tarList = (buf: Buffer) => spawnSync('tar', ['-tv'], { input: buf }).stdout.toString();
const tarFile = (buf: Buffer, name: string) => spawnSync('tar', ['-xO', name], { input: buf }).stdout.toString();
const binary = (res: request.Response, cb: (err: Error | null, body: Buffer) => void) => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => cb(null, Buffer.concat(chunks)));
};

test("HEAD and GET of a file in a volume come from the volume's directory", async () => {
  const head = await request(app).head('/v1.41/containers/x/archive?path=/vol1/data.txt');
  expect(head.status).toBe(200);
  expect(statOf(head)).toMatchObject({ name: 'data.txt', size: 38 });
  const got = await request(app).get('/v1.41/containers/x/archive?path=/vol1/data.txt').buffer(true).parse(binary);
  expect(got.status).toBe(200);
  expect(tarFile(got.body as Buffer, 'data.txt')).toBe('The Maid and the Pocket Watch of Blood');
});

test('GET of the mount point itself is the volume, named as its path', async () => {
  const got = await request(app).get('/v1.41/containers/x/archive?path=/vol1').buffer(true).parse(binary);
  expect(got.status).toBe(200);
  expect(statOf(got)).toMatchObject({ name: 'vol1' });
  const list = tarList(got.body as Buffer);
  expect(list).toMatch(/ vol1\/data\.txt\n/);
  expect(list).not.toMatch(/beneath/);
});

test("PUT into a volume lands in the volume's directory; into a read-only bind: dockerd's 500, nothing written", async () => {
  fs.mkdirSync(path.join(tmp, 'src'));
  fs.writeFileSync(path.join(tmp, 'src', 'song.txt'), 'Deaf To All But The Song');
  const tarball = spawnSync('tar', ['-c', '-C', path.join(tmp, 'src'), 'song.txt']).stdout;
  const put = await request(app)
    .put('/v1.41/containers/x/archive?path=/vol1')
    .set('Content-Type', 'application/x-tar')
    .send(tarball);
  expect(put.status).toBe(200);
  expect(fs.readFileSync(path.join(vol, 'song.txt'), 'utf8')).toBe('Deaf To All But The Song');
  expect(fs.existsSync(path.join(rootDir, 'vol1', 'song.txt'))).toBe(false);
  const refused = await request(app)
    .put('/v1.41/containers/x/archive?path=/ro')
    .set('Content-Type', 'application/x-tar')
    .send(tarball);
  expect([refused.status, refused.body]).toEqual([500, { message: 'mounted volume is marked read-only' }]);
  expect(fs.readdirSync(ro)).toEqual([]);
});

test('a path outside every host mount (a tmpfs included) is still read from the root filesystem', async () => {
  const head = await request(app).head('/v1.41/containers/x/archive?path=/etc/passwd');
  expect([head.status, statOf(head).name]).toEqual([200, 'passwd']);
  const missing = await request(app).head('/v1.41/containers/x/archive?path=/vol1/beneath.txt');
  expect(missing.status).toBe(404);
});

test('mountFor: deepest mount, lexical .., trailing / and /. kept', () => {
  const mounts = [
    { target: '/data', source: '/h/a', readOnly: false },
    { target: '/data/sub/', source: '/h/b', readOnly: true },
  ];
  expect(mountFor('/data/x', mounts)).toEqual({ mount: mounts[0], rel: '/x' });
  expect(mountFor('/data/sub/y/', mounts)).toEqual({ mount: mounts[1], rel: '/y/' });
  expect(mountFor('/data/sub/.', mounts)).toEqual({ mount: mounts[1], rel: '/.' });
  expect(mountFor('/data/sub/../z', mounts)).toEqual({ mount: mounts[0], rel: '/z' });
  expect(mountFor('/database', mounts)).toBeUndefined();
  expect(mountFor('/', mounts)).toBeUndefined();
});
