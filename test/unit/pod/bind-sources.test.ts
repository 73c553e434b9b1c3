/**
 * Bind sources pinned at create (src/pod/mounts/bind-sources.ts), over the in-memory pod layer: the
 * engine records each bind's canonical path, through the user's symlinks, for every front;
 * `--volumes-from` keeps the path pinned when the source container was made; a record made
 * before paths were pinned gets them when a daemon first reads it, and is written again.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { harness, type Harness } from './fakes';
import { RECORD_FILE } from '../../../src/storage/state';
import { mainContainer, type PodBindMount } from '../../../src/pod/types';
import { parseCreateBody } from '../../../src/api/v1.41/docker/create-body';
import type { CreateBody } from '../../../src/api/v1.41/docker/docker-schema';
import { VolumeStore } from '../../../src/storage/volumes';
import { createDockerContainer } from '../../../src/api/v1.41/create/docker-front';

let h: Harness;
let host: string;

beforeEach(async () => {
  h = await harness();
  host = fs.realpathSync(h.root);
  fs.mkdirSync(path.join(host, 'real', 'conf'), { recursive: true });
  fs.symlinkSync(path.join(host, 'real'), path.join(host, 'link'));
});
afterEach(async () => {
  for (const r of h.pods.list()) await h.pods.remove(r.id, { force: true });
  await h.cleanup();
});

const body = (b: Record<string, unknown>) => parseCreateBody({ Image: 'busybox', ...b } as unknown as CreateBody, 2);
const binds = (r: Parameters<typeof mainContainer>[0]): PodBindMount[] =>
  (mainContainer(r).spec.mounts ?? []).filter((m): m is PodBindMount => m.type === 'bind');

test('a create pins each bind source through the user’s symlinks; the source shown stays as given', async () => {
  const r = await createDockerContainer(
    h.engine(),
    body({
      HostConfig: {
        Binds: [`${host}/link/conf:/conf`, `${host}/link/new/dir:/new`],
        Mounts: [{ Type: 'bind', Source: `${host}/link`, Target: '/m' }],
      },
    }),
    'pinned',
  );
  expect(binds(r).map((m) => [m.source, m.resolvedSource])).toEqual([
    [`${host}/link/conf`, `${host}/real/conf`],
    [`${host}/link/new/dir`, `${host}/real/new/dir`],
    [`${host}/link`, `${host}/real`],
  ]);
  // --volumes-from takes the paths pinned when that container was made, whatever the link says now.
  fs.mkdirSync(path.join(host, 'real', 'new', 'dir'), { recursive: true }); // what pinned's start makes
  fs.rmSync(path.join(host, 'link'));
  fs.symlinkSync('/', path.join(host, 'link'));
  const store = await VolumeStore.open(path.join(h.root, 'data'));
  const withVolumes = h.engine(h.pods, { volumes: { store, events: h.events } });
  const from = await createDockerContainer(withVolumes, body({ HostConfig: { VolumesFrom: ['pinned'] } }), 'from');
  expect(binds(from).map((m) => m.resolvedSource)).toEqual([
    `${host}/real/conf`,
    `${host}/real/new/dir`,
    `${host}/real`,
  ]);
});

test('a record made before paths were pinned gets them at the next daemon start, written back', async () => {
  // The harness's create skips the engine: a record as an earlier podvisor wrote it.
  const r = await h.create({ Image: 'busybox', HostConfig: { Binds: [`${host}/link/conf:/conf`] } }, 'legacy');
  expect(binds(r)[0].resolvedSource).toBeUndefined();
  await h.state.flush();
  const back = (await h.restartDaemon()).get('legacy');
  expect(binds(back)[0].resolvedSource).toBe(`${host}/real/conf`);
  await h.state.flush();
  const stored = JSON.parse(fs.readFileSync(path.join(h.state.root, r.id, RECORD_FILE), 'utf8')) as typeof back;
  expect(binds(stored)[0].resolvedSource).toBe(`${host}/real/conf`);
});
