import request from 'supertest';
import { createApiApp } from '../../../src/api/v1.41/server';

const app = createApiApp({ system: { version: '0.0.0-test', dataRoot: '/tmp/x', accel: 'tcg' } });

describe('system routes', () => {
  test('GET /_ping answers OK with dockerd headers', async () => {
    const res = await request(app).get('/_ping');
    expect(res.status).toBe(200);
    expect(res.text).toBe('OK');
    expect(res.headers['api-version']).toBe('1.45');
    expect(res.headers['ostype']).toBe('linux');
    expect(res.headers['docker-experimental']).toBe('false');
  });

  test('experimental mode is shown as dockerd shows it: a header on every answer, /version and /info', async () => {
    const plain = await request(app).get('/v1.41/version');
    expect([
      plain.headers['docker-experimental'],
      plain.body.Experimental,
      plain.body.Components[0].Details.Experimental,
    ]).toEqual(['false', undefined, 'false']);
    expect((await request(app).get('/v1.41/info')).body.ExperimentalBuild).toBe(false);
    const exp = createApiApp({
      system: { version: '0.0.0-test', dataRoot: '/tmp/x', accel: 'tcg', experimental: true },
    });
    const v = await request(exp).get('/v1.41/version');
    expect([
      v.headers['docker-experimental'],
      v.headers['ostype'],
      v.body.Experimental,
      v.body.Components[0].Details.Experimental,
    ]).toEqual(['true', 'linux', true, 'true']);
    expect((await request(exp).get('/v1.41/info')).body.ExperimentalBuild).toBe(true);
    expect((await request(exp).get('/_ping')).headers['docker-experimental']).toBe('true');
    expect((await request(exp).get('/v1.41/nope')).headers['docker-experimental']).toBe('true');
  });

  test('HEAD /_ping and versioned paths work', async () => {
    expect((await request(app).head('/_ping')).status).toBe(200);
    expect((await request(app).get('/v1.41/_ping')).text).toBe('OK');
    expect((await request(app).get('/v1.24/_ping')).text).toBe('OK');
  });

  test("a version above 1.45 gets dockerd's 400; 1.42 to 1.45 are served", async () => {
    const res = await request(app).get('/v1.46/_ping');
    expect(res.status).toBe(400);
    expect(res.body.message).toBe('client version 1.46 is too new. Maximum supported API version is 1.45');
    for (const v of ['1.42', '1.43', '1.44', '1.45']) expect((await request(app).get(`/v${v}/_ping`)).text).toBe('OK');
  });

  test("a version below 1.24 gets dockerd 26's 400, in its words", async () => {
    const res = await request(app).get('/v1.23/_ping');
    expect(res.status).toBe(400);
    expect(res.body.message).toBe(
      'client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version',
    );
  });

  test("unknown routes get Docker's 404 body", async () => {
    const res = await request(app).get('/v1.41/nope');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ message: 'page not found' });
  });
});
