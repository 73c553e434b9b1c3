import request from 'supertest';
import { createApiApp } from '../../../src/api/v1.41/server';

const app = createApiApp({ system: { version: '0.0.0-test', dataRoot: '/tmp/x', accel: 'tcg' } });

describe('system routes', () => {
  test('GET /_ping answers OK with dockerd headers', async () => {
    const res = await request(app).get('/_ping');
    expect(res.status).toBe(200);
    expect(res.text).toBe('OK');
    expect(res.headers['api-version']).toBe('1.41');
    expect(res.headers['ostype']).toBe('linux');
    expect(res.headers['docker-experimental']).toBe('false');
  });

  test('HEAD /_ping and versioned paths work', async () => {
    expect((await request(app).head('/_ping')).status).toBe(200);
    expect((await request(app).get('/v1.41/_ping')).text).toBe('OK');
    expect((await request(app).get('/v1.24/_ping')).text).toBe('OK');
  });

  test('a version above 1.41 gets dockerd\'s 400', async () => {
    const res = await request(app).get('/v1.45/_ping');
    expect(res.status).toBe(400);
    expect(res.body.message).toBe('client version 1.45 is too new. Maximum supported API version is 1.41');
  });

  test('unknown routes get Docker\'s 404 body', async () => {
    const res = await request(app).get('/v1.41/nope');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ message: 'page not found' });
  });
});
