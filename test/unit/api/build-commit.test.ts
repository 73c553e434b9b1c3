/**
 * POST /build and POST /commit answer bad input with Docker's error format and a 4xx, before
 * anything is built or committed: a body that is not a tar, a context without its Dockerfile,
 * a Dockerfile that does not parse, a commit of an unknown container or with a change that is
 * not allowed.
 */
import request from 'supertest';
import * as path from 'node:path';
import { createApiApp } from '../../../src/api/v1.41/server';
import { ImageService } from '../../../src/storage/service';
import { harness, type Harness } from '../pod/fakes';
import { packTar } from '../../fixtures/image-builder';

let h: Harness;
let app: ReturnType<typeof createApiApp>;

beforeEach(async () => {
  h = await harness();
  const images = await ImageService.open(path.join(h.root, 'data'));
  app = createApiApp({
    system: { version: '0.0.0-test', dataRoot: h.root, accel: 'tcg' },
    images,
    containers: {
      pods: h.pods,
      engine: h.engine(),
      images: h.images,
      events: h.events,
      vmDefaults: { memoryMiB: 256, cpus: 1 },
      hostCpus: 2,
    },
  });
});
afterEach(async () => {
  await h.cleanup();
});

const post = (url: string, body: Buffer) => request(app).post(url).set('Content-Type', 'application/x-tar').send(body);

test('bad build contexts and Dockerfiles', async () => {
  const garbage = await post('/v1.41/build', Buffer.alloc(1024, 0x41));
  expect(garbage.status).toBe(400);
  expect(garbage.body.message).toMatch(/^invalid tar archive/);

  const none = await post('/v1.41/build', await packTar([{ name: 'other.txt', content: 'x' }]));
  expect(none.status).toBe(404);
  expect(none.body).toEqual({ message: 'Cannot locate specified Dockerfile: Dockerfile' });

  const bogus = await post('/v1.41/build', await packTar([{ name: 'Dockerfile', content: 'FROM busybox\nBOGUS x\n' }]));
  expect(bogus.status).toBe(400);
  expect(bogus.body.message).toContain('unknown instruction: BOGUS');

  const args = await post(
    '/v1.41/build?buildargs=notjson',
    await packTar([{ name: 'Dockerfile', content: 'FROM busybox\n' }]),
  );
  expect(args.status).toBe(400);
});

test("JSON null for cachefrom, buildargs and labels (a Go client's nil slice and maps, as Compose v2 sends them): a build like one without them", async () => {
  const res = await post(
    '/v1.41/build?cachefrom=null&buildargs=null&labels=null&t=nulls',
    await packTar([{ name: 'Dockerfile', content: 'FROM scratch\nLABEL built=yes\n' }]),
  )
    .buffer(true)
    .parse((r, done) => {
      let text = '';
      r.setEncoding('utf8');
      r.on('data', (c: string) => (text += c));
      r.on('end', () => done(null, text));
    });
  expect(res.status).toBe(200);
  expect(res.body).toContain('Successfully tagged nulls:latest');
  const inspect = await request(app).get('/v1.41/images/nulls/json');
  expect(inspect.body.Config.Labels).toEqual({ built: 'yes' });
  const bad = await post(
    '/v1.41/build?cachefrom=notjson',
    await packTar([{ name: 'Dockerfile', content: 'FROM scratch\n' }]),
  );
  expect([bad.status, bad.body]).toEqual([400, { message: 'invalid cachefrom parameter: notjson' }]);
});

test('bad commits', async () => {
  const missing = await request(app).post('/v1.41/commit?container=nope');
  expect(missing.status).toBe(404);
  const nothing = await request(app).post('/v1.41/commit');
  expect(nothing.status).toBe(400);
});

test("squash without experimental mode: dockerd's 400, nothing built", async () => {
  const res = await post(
    '/v1.41/build?squash=1&t=sq',
    await packTar([{ name: 'Dockerfile', content: 'FROM busybox\n' }]),
  );
  expect([res.status, res.body]).toEqual([400, { message: 'squash is only supported with experimental mode' }]);
  expect(h.pods.list()).toEqual([]);
});

test("a platform containerd cannot parse: build and pull answer dockerd's 400 with its words", async () => {
  const ctx = await packTar([{ name: 'Dockerfile', content: 'FROM busybox\n' }]);
  const cases: Array<[string, string]> = [
    ['foobar', '"foobar": unknown operating system or architecture: invalid argument'],
    [
      'linux/',
      '"" is an invalid component of "linux/": platform specifier component must match "^[A-Za-z0-9_-]+$": invalid argument',
    ],
    ['a*b', '"a*b": wildcards not yet supported: invalid argument'],
  ];
  for (const [platform, message] of cases) {
    const build = await post(`/v1.41/build?platform=${encodeURIComponent(platform)}`, ctx);
    expect([build.status, build.body]).toEqual([400, { message }]);
    const pull = await request(app).post(
      `/v1.41/images/create?fromImage=hello-world&tag=latest&platform=${encodeURIComponent(platform)}`,
    );
    expect([pull.status, pull.body]).toEqual([400, { message }]);
  }
  // A lone architecture or OS is taken, as containerd takes it.
  const other = await post('/v1.41/build?platform=windows', ctx);
  expect([other.status, other.body]).toEqual([400, { message: '"windows": operating system is not supported' }]);
});
