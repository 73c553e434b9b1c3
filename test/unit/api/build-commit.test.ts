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
    containers: { pods: h.pods, images: h.images, events: h.events, vmDefaults: { memoryMiB: 256, cpus: 1 }, hostCpus: 2 },
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

  const args = await post('/v1.41/build?buildargs=notjson', await packTar([{ name: 'Dockerfile', content: 'FROM busybox\n' }]));
  expect(args.status).toBe(400);
});

test('bad commits', async () => {
  const missing = await request(app).post('/v1.41/commit?container=nope');
  expect(missing.status).toBe(404);
  const nothing = await request(app).post('/v1.41/commit');
  expect(nothing.status).toBe(400);
});
