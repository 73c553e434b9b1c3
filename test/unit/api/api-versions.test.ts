/**
 * API versions 1.42 to 1.45 at their `/vX.Y/` prefixes, each as dockerd 26 serves that version
 * (src/api/v1.41/versions): over the API on the pod fakes with the network manager on an
 * in-memory host (dockerode pinned at a version), and the answer views as pure functions.
 * Unversioned requests and 1.41 keep dockerd 20.10's answers.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import Docker from 'dockerode';
import request from 'supertest';
import { closeAfterRemovingAll, failureOf, startFakeApi, type FakeApi } from './fake-api';
import { createApiApp } from '../../../src/api/v1.41/server';
import {
  containerInspectFor,
  diskUsageFor,
  diskUsageTypes,
  imageInspectFor,
  imageSummaryFor,
  infoFor,
} from '../../../src/api/v1.41/versions/views';
import { createBodyFor } from '../../../src/api/v1.41/versions/create';
import { clientNeedsOf } from '../../../src/api/v1.41/versions/clients';
import { imageListUntil, wsAttachStreams } from '../../../src/api/v1.41/versions/queries';
import { parseHealthConfig } from '../../../src/api/v1.41/docker/health';
import { healthSpecOf } from '../../../src/translate/request/policy/health';
import { VolumeStore } from '../../../src/storage/volumes';

const S = 1000000000;

/** The head of the answer to an upgrade POST (the connection is dropped after it). */
function upgradeHead(socketPath: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      const i = buf.indexOf('\r\n\r\n');
      if (i >= 0) {
        s.destroy();
        resolve(buf.slice(0, i));
      }
    });
    s.on('error', reject);
    s.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n`);
  });
}

/** POST with no body over the socket: the status and body text. */
function post(socketPath: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method: 'POST', path }, (r) => {
      let body = '';
      r.on('data', (d) => (body += d));
      r.on('end', () => resolve({ status: r.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the version prefix', () => {
  const app = createApiApp({ system: { version: '0.0.0-test', dataRoot: '/tmp/x', accel: 'tcg' } });

  test('1.41 to 1.45 are served, 1.46 refused; /version announces 1.45 (min 1.24) at every version, as dockerd 26', async () => {
    for (const v of ['', '/v1.41', '/v1.42', '/v1.43', '/v1.44', '/v1.45']) {
      const res = await request(app).get(`${v}/version`);
      expect([v, res.status, res.body.ApiVersion, res.body.MinAPIVersion]).toEqual([v, 200, '1.45', '1.24']);
    }
    const res = await request(app).get('/v1.46/version');
    expect([res.status, res.body.message]).toEqual([
      400,
      'client version 1.46 is too new. Maximum supported API version is 1.45',
    ]);
  });

  test("/_ping: dockerd 26's Swarm and Builder-Version headers from 1.42 and unversioned (served as 1.45), none at 1.41", async () => {
    const v41 = await request(app).get('/v1.41/_ping');
    expect([v41.headers['swarm'], v41.headers['builder-version'], v41.headers['api-version']]).toEqual([
      undefined,
      undefined,
      '1.45',
    ]);
    for (const res of [
      await request(app).get('/_ping'),
      await request(app).get('/v1.44/_ping'),
      await request(app).head('/v1.45/_ping'),
    ])
      expect([res.status, res.headers['swarm'], res.headers['builder-version'], res.headers['api-version']]).toEqual([
        200,
        'inactive',
        '1',
        '1.45',
      ]);
  });

  test('/info: KernelMemory gone and CDISpecDirs there from 1.42 (dockerd 26 sends it at every version)', async () => {
    const at = async (v: string) => (await request(app).get(`/v${v}/info`)).body;
    const [v41, v42, v44] = [await at('1.41'), await at('1.42'), await at('1.44')];
    expect([v41.KernelMemory, 'CDISpecDirs' in v41]).toEqual([false, false]);
    expect(['KernelMemory' in v42, 'KernelMemoryTCP' in v42, v42.CDISpecDirs]).toEqual([false, false, []]);
    expect(v44.CDISpecDirs).toEqual([]);
  });

  test('/system/df: type from 1.42 (others null), BuilderSize gone from 1.42; a bad type is a 400', async () => {
    const v41 = (await request(app).get('/v1.41/system/df?type=image')).body;
    expect([v41.BuilderSize, v41.Containers, v41.Volumes]).toEqual([0, [], []]);
    const v42 = (await request(app).get('/v1.42/system/df?type=image&type=volume')).body;
    expect(['BuilderSize' in v42, v42.Containers, v42.Volumes, v42.Images]).toEqual([false, null, [], []]);
    const bad = await request(app).get('/v1.42/system/df?type=layers');
    expect([bad.status, bad.body.message]).toEqual([400, 'unknown object type: layers']);
  });
});

describe('volume prune', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-apiv-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  test('named volumes too below 1.42 (no `all` filter there); from 1.42 anonymous ones unless all=true', async () => {
    const store = await VolumeStore.open(root);
    const app = createApiApp({
      system: { version: '0.0.0-test', dataRoot: root, accel: 'tcg' },
      volumes: { store },
    });
    const make = async () => {
      await store.create({ name: 'named' });
      await store.create({ anonymous: true });
    };
    const prune = async (p: string) => (await request(app).post(p)).body;
    const filters = (f: object) => encodeURIComponent(JSON.stringify(f));
    await make();
    const bad = await request(app).post(`/v1.41/volumes/prune?filters=${filters({ all: ['true'] })}`);
    expect([bad.status, bad.body.message]).toEqual([400, "Invalid filter 'all'"]);
    expect((await prune('/v1.42/volumes/prune')).VolumesDeleted).toHaveLength(1);
    expect(store.list().map((v) => v.name)).toEqual(['named']);
    const notBool = await request(app).post(`/v1.44/volumes/prune?filters=${filters({ all: ['yes'] })}`);
    expect([notBool.status, notBool.body.message]).toEqual([
      400,
      `invalid filter 'all': strconv.ParseBool: parsing "yes": invalid syntax`,
    ]);
    expect((await prune(`/v1.44/volumes/prune?filters=${filters({ all: ['1'] })}`)).VolumesDeleted).toEqual(['named']);
    await make();
    expect((await prune('/v1.41/volumes/prune')).VolumesDeleted).toHaveLength(2);
    expect(store.list()).toEqual([]);
    // A volume created without a name: anonymous from 1.42 (dockerd 26's label; a plain prune
    // takes it), a named one with a random name at 1.41 (dockerd 20.10).
    const at45 = (
      await request(app)
        .post('/v1.45/volumes/create')
        .send({ Labels: { k: 'v' } })
    ).body;
    const at41 = (await request(app).post('/v1.41/volumes/create').send({})).body;
    expect([at45.Labels, at41.Labels]).toEqual([{ k: 'v', 'com.docker.volume.anonymous': '' }, null]);
    expect((await prune('/v1.45/volumes/prune')).VolumesDeleted).toEqual([at45.Name]);
    expect(store.list().map((v) => v.name)).toEqual([at41.Name]);
  });
});

describe('containers over the fakes', () => {
  let fake: FakeApi;
  const at = (v: string) => new Docker({ socketPath: fake.sock, version: `v${v}` });
  beforeEach(async () => {
    fake = await startFakeApi({ networks: true });
  });
  afterEach(() => closeAfterRemovingAll(fake, at('1.41')));

  test('several networks at create from 1.44: the container joins each; refused below with the words of each version', async () => {
    await at('1.41').createNetwork({ Name: 'front' });
    await at('1.41').createNetwork({ Name: 'back' });
    const body = {
      Image: 'busybox',
      Cmd: ['sleep', '1000'],
      HostConfig: { NetworkMode: 'front' },
      NetworkingConfig: { EndpointsConfig: { front: { Aliases: ['web'] }, back: {} } },
    };
    expect(await failureOf(at('1.41').createContainer(body))).toEqual([
      400,
      'Container cannot be connected to network endpoints: front, back',
    ]);
    expect(await failureOf(at('1.43').createContainer(body))).toEqual([
      400,
      'Container cannot be created with multiple network endpoints: front, back',
    ]);
    const c = await at('1.44').createContainer({ ...body, name: 'multi' });
    await c.start();
    const nets = (await at('1.44').getContainer(c.id).inspect()).NetworkSettings.Networks;
    expect(Object.keys(nets).sort()).toEqual(['back', 'front']);
    expect(nets.front.IPAddress).not.toBe(nets.back.IPAddress);
    const short = c.id.slice(0, 12);
    // DNSNames from 1.44; Aliases keep the short ID (and hostname) before 1.45, as asked from 1.45.
    expect(nets.front.Aliases).toEqual(['web', short]);
    expect((nets.front as unknown as { DNSNames: string[] }).DNSNames).toEqual(['multi', 'web', short]);
    const v45 = (await at('1.45').getContainer(c.id).inspect()).NetworkSettings.Networks;
    expect([v45.front.Aliases, v45.back.Aliases]).toEqual([['web'], null]);
    const v41 = (await at('1.41').getContainer(c.id).inspect()).NetworkSettings.Networks;
    expect([v41.front.Aliases, 'DNSNames' in v41.front]).toEqual([['web', short], false]);
    // The list shows the same endpoints.
    const listed = (await at('1.45').listContainers()).find((x) => x.Id === c.id)!;
    expect(Object.keys(listed.NetworkSettings.Networks).sort()).toEqual(['back', 'front']);
  });

  test('MacAddress: from 1.44 the container-wide one moves to its endpoint with a warning; a different endpoint MAC is refused', async () => {
    await at('1.41').createNetwork({ Name: 'n1' });
    const mac = '02:42:ac:11:00:99';
    const r = await at('1.44').createContainer({
      Image: 'busybox',
      Cmd: ['sleep', '1000'],
      MacAddress: mac,
      HostConfig: { NetworkMode: 'n1' },
    } as Docker.ContainerCreateOptions);
    await r.start();
    expect((await r.inspect()).NetworkSettings.Networks.n1.MacAddress).toBe(mac);
    expect(
      await failureOf(
        at('1.44').createContainer({
          Image: 'busybox',
          MacAddress: mac,
          HostConfig: { NetworkMode: 'n1' },
          NetworkingConfig: { EndpointsConfig: { n1: { MacAddress: '02:42:ac:11:00:98' } } },
        } as Docker.ContainerCreateOptions),
      ),
    ).toEqual([
      400,
      'the container-wide MAC address must match the endpoint-specific MAC address for the main network, or be left empty',
    ]);
  });

  test('Healthcheck.StartInterval is kept from 1.44 and dropped below (1.41 too, as dockerd 20.10); Annotations refused from 1.43', async () => {
    const Healthcheck = { Test: ['CMD', 'true'], StartPeriod: 60 * S, StartInterval: 2 * S };
    const c44 = await at('1.44').createContainer({ Image: 'busybox', Healthcheck } as Docker.ContainerCreateOptions);
    const h44 = (await c44.inspect()).Config.Healthcheck as Record<string, unknown>;
    expect(h44.StartInterval).toBe(2 * S);
    const c43 = await at('1.43').createContainer({ Image: 'busybox', Healthcheck } as Docker.ContainerCreateOptions);
    expect('StartInterval' in ((await c43.inspect()).Config.Healthcheck as object)).toBe(false);
    const c41 = await at('1.41').createContainer({ Image: 'busybox', Healthcheck } as Docker.ContainerCreateOptions);
    expect('StartInterval' in ((await c41.inspect()).Config.Healthcheck as object)).toBe(false);
    const HostConfig = { Annotations: { 'a.b': 'c' } } as Docker.HostConfig;
    expect(await failureOf(at('1.42').createContainer({ Image: 'busybox', HostConfig }))).toEqual([0, '']);
    const [status, message] = await failureOf(at('1.43').createContainer({ Image: 'busybox', HostConfig }));
    expect([status, message.startsWith('HostConfig.Annotations is not supported by podvisor')]).toEqual([400, true]);
  });

  test('KernelMemory ignored from 1.42 (refused at 1.41) and left out of inspect when unset', async () => {
    const HostConfig = { KernelMemory: 64 * 1024 * 1024 };
    expect((await failureOf(at('1.41').createContainer({ Image: 'busybox', HostConfig })))[0]).toBe(400);
    const c = await at('1.42').createContainer({ Image: 'busybox', HostConfig });
    expect('KernelMemory' in (await at('1.42').getContainer(c.id).inspect()).HostConfig).toBe(false);
    expect((await at('1.41').getContainer(c.id).inspect()).HostConfig.KernelMemory).toBe(0);
  });

  test("mount options: a type's options on another type refused from 1.42; Subpath needs 1.45 and is refused there", async () => {
    const mount = (m: object) => ({ Image: 'busybox', HostConfig: { Mounts: [m] } }) as Docker.ContainerCreateOptions;
    const tmpfsWithBind = { Type: 'tmpfs', Target: '/t', BindOptions: { Propagation: 'rprivate' } };
    expect(await failureOf(at('1.42').createContainer(mount(tmpfsWithBind)))).toEqual([
      400,
      'BindOptions must not be specified on mount type "tmpfs"',
    ]);
    const sub = { Type: 'volume', Source: 'v', Target: '/v', VolumeOptions: { Subpath: 'a' } };
    expect(await failureOf(at('1.44').createContainer(mount(sub)))).toEqual([
      400,
      'VolumeOptions.Subpath needs API v1.45 or newer',
    ]);
    expect((await failureOf(at('1.45').createContainer(mount(sub))))[1]).toMatch(
      /^VolumeOptions.Subpath is not supported/,
    );
  });

  test('a hijacked attach names its stream multiplexed from 1.42 without a TTY, raw at 1.41 and with a TTY', async () => {
    const plain = await at('1.41').createContainer({ Image: 'busybox', Cmd: ['sleep', '1000'] });
    const tty = await at('1.41').createContainer({ Image: 'busybox', Cmd: ['sleep', '1000'], Tty: true });
    await plain.start();
    await tty.start();
    const typeOf = async (v: string, id: string) => {
      const head = await upgradeHead(fake.sock, `/v${v}/containers/${id}/attach?stream=1&stdout=1`);
      return /^Content-Type: (.*)$/im.exec(head)?.[1].trim();
    };
    expect(await typeOf('1.41', plain.id)).toBe('application/vnd.docker.raw-stream');
    expect(await typeOf('1.42', plain.id)).toBe('application/vnd.docker.multiplexed-stream');
    expect(await typeOf('1.44', tty.id)).toBe('application/vnd.docker.raw-stream');
  });

  test("wait: an unknown condition is dockerd 26's 400 from 1.42 (1.41 waits for not-running)", async () => {
    const c = await at('1.41').createContainer({ Image: 'busybox', Cmd: ['true'] });
    const bad = await post(fake.sock, `/v1.42/containers/${c.id}/wait?condition=bogus`);
    expect([bad.status, JSON.parse(bad.body).message]).toEqual([400, 'invalid condition: "bogus"']);
    const missing = await post(fake.sock, '/v1.44/containers/nope/wait?condition=bogus');
    expect(missing.status).toBe(400);
  });

  test('network create: a repeated name is refused from 1.42 whatever CheckDuplicate says; 1.41 allows it unless asked', async () => {
    await at('1.41').createNetwork({ Name: 'dup' });
    await at('1.41').createNetwork({ Name: 'dup' });
    expect(await failureOf(at('1.42').createNetwork({ Name: 'dup' }))).toEqual([
      409,
      'network with name dup already exists',
    ]);
    expect((await at('1.41').listNetworks()).filter((n) => n.Name === 'dup')).toHaveLength(2);
    for (const n of await at('1.41').listNetworks()) if (n.Name === 'dup') await at('1.41').getNetwork(n.Id).remove();
  });

  test('stop and restart: signal sent instead of the stop signal from 1.42, ignored at 1.41', async () => {
    const kills = () =>
      fake.h.events
        .past(0n)
        .filter((e) => e.action === 'kill')
        .map((e) => e.attributes.signal);
    const c = await at('1.41').createContainer({ Image: 'busybox', Cmd: ['sleep', '1000'] });
    await c.start();
    expect((await post(fake.sock, `/v1.41/containers/${c.id}/stop?t=0&signal=SIGUSR1`)).status).toBe(204);
    await c.start();
    expect((await post(fake.sock, `/v1.42/containers/${c.id}/restart?t=0&signal=SIGUSR1`)).status).toBe(204);
    expect((await post(fake.sock, `/v1.44/containers/${c.id}/stop?t=0&signal=SIGHUP`)).status).toBe(204);
    const bad = await post(fake.sock, `/v1.44/containers/${c.id}/stop?signal=NOPE`);
    expect(bad.status).toBe(400);
    // Each stop: its signal, then SIGKILL after t=0.
    expect(kills().filter((k) => k !== '9')).toEqual(['15', '10', '1']);
  });
});

describe('answer views', () => {
  const summary = () => ({
    Containers: -1,
    Id: 'sha256:x',
    RepoDigests: ['<none>@<none>'],
    RepoTags: ['<none>:<none>'],
    SharedSize: -1,
    Size: 5,
    VirtualSize: 5,
  });

  test('GET /images/json: <none> placeholders until 1.43, VirtualSize until 1.44, SharedSize when asked', () => {
    expect(imageSummaryFor(summary(), '1.41', 3)).toEqual(summary());
    expect(imageSummaryFor(summary(), '1.42', 3)).toEqual({ ...summary(), SharedSize: 3 });
    expect(imageSummaryFor(summary(), '1.43')).toEqual({ ...summary(), RepoDigests: [], RepoTags: [] });
    const v44 = imageSummaryFor(summary(), '1.44');
    expect('VirtualSize' in v44).toBe(false);
  });

  test('GET /images/{name}/json: an empty Container gone from 1.42, VirtualSize and a zero Created from 1.44, Container and ContainerConfig from 1.45', () => {
    const inspect = () => ({
      Id: 'x',
      Created: '0001-01-01T00:00:00Z',
      Container: '',
      ContainerConfig: {},
      Size: 5,
      VirtualSize: 5,
    });
    const { Container: _empty, ...withoutContainer } = inspect();
    expect(imageInspectFor(inspect(), '1.41')).toEqual(inspect());
    expect(imageInspectFor(inspect(), '1.43')).toEqual(withoutContainer);
    expect(imageInspectFor({ ...inspect(), Container: 'abc' }, '1.44')).toEqual({
      Id: 'x',
      Container: 'abc',
      ContainerConfig: {},
      Size: 5,
    });
    expect(imageInspectFor(inspect(), '1.45')).toEqual({ Id: 'x', Size: 5 });
  });

  test('GET /images/{name}/json at 1.45 keeps ContainerConfig for Compose 1.x alone (it reads it to recreate), found by its User-Agent', () => {
    const inspect = () => ({ Id: 'x', Container: 'abc', ContainerConfig: { Volumes: null }, Size: 5 });
    const compose = clientNeedsOf({ headers: { 'user-agent': 'docker-compose/1.29.2 docker-py/5.0.3 Linux/6.1.0' } });
    expect(imageInspectFor(inspect(), '1.45', compose)).toEqual(inspect());
    for (const agent of [
      'Docker-Client/28.2.2 (linux)',
      'docker-compose/2.26.1',
      'python-requests/2.28 docker-py/7.1.0',
      undefined,
    ])
      expect([agent, imageInspectFor(inspect(), '1.45', clientNeedsOf({ headers: { 'user-agent': agent } }))]).toEqual([
        agent,
        { Id: 'x', Size: 5 },
      ]);
  });

  test('GET /system/df: the images lose VirtualSize from 1.44', () => {
    const df = () => ({ LayersSize: 1, Images: [{ Size: 1, VirtualSize: 1 }], Containers: [], Volumes: [] });
    const all = diskUsageTypes([], '1.44');
    expect(diskUsageFor(df(), '1.44', all)).toEqual({ ...df(), Images: [{ Size: 1 }] });
    expect(diskUsageFor({ ...df(), BuilderSize: 0 }, '1.41', all)).toEqual({ ...df(), BuilderSize: 0 });
  });

  test('GET /info and container inspect at 1.41 are untouched', () => {
    const info = { KernelMemory: false, KernelMemoryTCP: false };
    expect(infoFor({ ...info }, '1.41')).toEqual(info);
    const c = { Id: 'a'.repeat(64), HostConfig: { KernelMemory: 0 }, NetworkSettings: { Networks: {} } };
    expect(containerInspectFor(structuredClone(c), '1.41')).toEqual(c);
  });

  test('the create body at 1.41 is passed through less the fields dockerd 20.10 does not know; a copy is changed from 1.42', () => {
    const body = { Image: 'x', HostConfig: { KernelMemory: 5 }, Healthcheck: { StartInterval: 5 } };
    const plain = { Image: 'x', HostConfig: { KernelMemory: 5 }, Healthcheck: { Interval: 5 } };
    expect(createBodyFor(plain, '1.41').body).toBe(plain);
    expect(createBodyFor(body, '1.41').body).toEqual({ Image: 'x', HostConfig: { KernelMemory: 5 }, Healthcheck: {} });
    expect(body.Healthcheck.StartInterval).toBe(5);
    const v42 = createBodyFor(body, '1.42');
    expect(v42.body).toEqual({
      Image: 'x',
      HostConfig: { NetworkMode: 'bridge', RestartPolicy: { Name: 'no' } },
      Healthcheck: {},
    });
    expect(body.HostConfig.KernelMemory).toBe(5);
  });

  test("the default network is `bridge` from 1.42, as dockerd 26 stores it; 1.41 keeps dockerd 20.10's `default`", () => {
    const given = {
      HostConfig: { NetworkMode: 'default' },
      NetworkingConfig: { EndpointsConfig: { default: { Aliases: ['a'] } } },
    };
    expect(createBodyFor(given, '1.41').body).toBe(given);
    expect(createBodyFor(given, '1.45').body).toEqual({
      HostConfig: { NetworkMode: 'bridge', RestartPolicy: { Name: 'no' } },
      NetworkingConfig: { EndpointsConfig: { bridge: { Aliases: ['a'] } } },
    });
    expect(createBodyFor({}, '1.44').body).toEqual({
      HostConfig: { NetworkMode: 'bridge', RestartPolicy: { Name: 'no' } },
    });
    expect(createBodyFor({ HostConfig: { NetworkMode: 'n1' } }, '1.45').body).toEqual({
      HostConfig: { NetworkMode: 'n1', RestartPolicy: { Name: 'no' } },
    });
    const always = { HostConfig: { NetworkMode: 'n1', RestartPolicy: { Name: 'always' } } };
    expect(createBodyFor(always, '1.45').body).toEqual(always);
    expect(() => createBodyFor({ HostConfig: { RestartPolicy: { Name: 'sometimes' } } }, '1.45')).toThrow(
      "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'",
    );
  });

  test("the container-wide MacAddress as each version takes it, with dockerd 26's warning from 1.44", () => {
    const mac = '02:42:ac:11:00:99';
    const v44 = createBodyFor({ MacAddress: mac, HostConfig: { NetworkMode: 'n1' } }, '1.44');
    expect(v44.warnings).toEqual([
      'The container-wide MacAddress field is now deprecated. It should be specified in EndpointsConfig instead.',
    ]);
    expect(v44.body).toEqual({
      HostConfig: { NetworkMode: 'n1', RestartPolicy: { Name: 'no' } },
      NetworkingConfig: { EndpointsConfig: { n1: { MacAddress: mac } } },
    });
    // Before 1.44 an endpoint's own MAC is not read.
    const v43 = createBodyFor({ NetworkingConfig: { EndpointsConfig: { n1: { MacAddress: mac } } } }, '1.43');
    expect(v43.body).toEqual({
      HostConfig: { NetworkMode: 'bridge', RestartPolicy: { Name: 'no' } },
      NetworkingConfig: { EndpointsConfig: { n1: {} } },
    });
    expect(() =>
      createBodyFor({ MacAddress: mac, NetworkingConfig: { EndpointsConfig: { other: {} } } }, '1.44'),
    ).toThrow('HostConfig.NetworkMode must match the identity of a network');
  });

  test('a WebSocket attach: stdout and stderr unless turned off at 1.41; from 1.42 only the streams asked for', () => {
    expect(wsAttachStreams({}, '1.41')).toEqual({ stdin: false, stdout: true, stderr: true });
    expect(wsAttachStreams({ stdout: '0' }, '1.41')).toEqual({ stdin: false, stdout: false, stderr: true });
    expect(wsAttachStreams({}, '1.42')).toEqual({ stdin: false, stdout: false, stderr: false });
    expect(wsAttachStreams({ stdin: '1', stdout: 'true', stderr: 'no' }, '1.44')).toEqual({
      stdin: true,
      stdout: true,
      stderr: false,
    });
  });

  test("GET /images/json's until filter from 1.42; an unknown filter at 1.41", () => {
    expect(() => imageListUntil({ until: ['1h'] }, '1.41')).toThrow("Invalid filter 'until'");
    expect(imageListUntil({}, '1.41')).toEqual([]);
    expect(imageListUntil({ until: ['2000-01-01T00:00:00Z', '946684800'] }, '1.44')).toEqual([946684800, 946684800]);
  });

  test('a start interval spaces the probes of the start period (the pod spec)', () => {
    const hc = parseHealthConfig({ Test: ['CMD', 'true'], StartPeriod: 30 * S, StartInterval: 2 * S });
    expect(healthSpecOf(hc, undefined)).toMatchObject({ startPeriodMs: 30000, startIntervalMs: 2000 });
    expect(() => parseHealthConfig({ StartInterval: 5 })).toThrow(
      'StartInterval in Healthcheck cannot be less than 1ms',
    );
  });
});
