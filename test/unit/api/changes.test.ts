/**
 * GET /containers/{id}/changes (docker diff, docker-py's Container.diff) as a client sees it:
 * the hosts files podvisor writes into the writable layer at each start (/etc/hostname,
 * /etc/hosts, /etc/resolv.conf; dockerd bind-mounts them) are not listed, nor /etc when they
 * were its only change; real changes in /etc still are. Served by the real ContainerArchive
 * over a writable layer and an image layer in a temp directory.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import request from 'supertest';
import { createApiApp } from '../../../src/api/v1.41/server';
import { ContainerArchive } from '../../../src/storage/archive/service';
import type { OverlayRootfs } from '../../../src/storage/rootfs';
import type { ContainerServices } from '../../../src/api/v1.41/services';

let root: string;
let upper: string;
let lower: string;
let app: ReturnType<typeof createApiApp>;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-changes-'));
  upper = path.join(root, 'upper');
  lower = path.join(root, 'lower');
  for (const d of [path.join(upper, 'etc'), path.join(lower, 'etc'), path.join(lower, 'bin')])
    fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(lower, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
  // What every start writes.
  for (const f of ['hostname', 'hosts', 'resolv.conf']) fs.writeFileSync(path.join(upper, 'etc', f), 'x\n');
  const rootfs = {
    paths: async () => ({ upperDir: upper, lowerDirs: [lower], workDir: path.join(root, 'work') }),
  } as unknown as OverlayRootfs;
  const rec = { id: 'c'.repeat(64), containers: { ['c'.repeat(64)]: { spec: { user: '' } } } };
  const containers = {
    pods: { get: () => rec },
    archive: new ContainerArchive(rootfs),
  } as unknown as ContainerServices;
  app = createApiApp({ system: { version: '0.0.0-test', dataRoot: root, accel: 'tcg' }, containers });
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

test('a container that only ran `touch /test` shows exactly [A /test]', async () => {
  fs.writeFileSync(path.join(upper, 'test'), '');
  const res = await request(app).get('/v1.41/containers/x/changes');
  expect(res.status).toBe(200);
  expect(res.body).toEqual([{ Path: '/test', Kind: 1 }]);
});

test("with nothing else changed the answer is dockerd's null", async () => {
  const res = await request(app).get('/v1.41/containers/x/changes');
  expect(res.text.trim()).toBe('null');
});

test('a change of its own in /etc keeps /etc listed, the hosts files still are not', async () => {
  fs.writeFileSync(path.join(upper, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/ash\n');
  fs.writeFileSync(path.join(upper, 'etc', 'motd'), 'hi\n');
  const res = await request(app).get('/v1.41/containers/x/changes');
  expect(res.body).toEqual([
    { Path: '/etc', Kind: 0 },
    { Path: '/etc/motd', Kind: 1 },
    { Path: '/etc/passwd', Kind: 0 },
  ]);
});
