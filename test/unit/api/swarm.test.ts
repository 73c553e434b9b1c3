/**
 * A podvisor node is in no swarm, and says so as dockerd does: 503 with dockerd's messages.
 * docker-py's leave_swarm(force=True) takes that 503 as "nothing to leave"; a 404 would make
 * it raise.
 */
import request from 'supertest';
import { createApiApp } from '../../../src/api/v1.41/server';

const app = createApiApp({ system: { version: '0.0.0-test', dataRoot: '/tmp/x', accel: 'tcg' } });

test('POST /swarm/leave (forced or not) answers 503 "This node is not part of a swarm"', async () => {
  for (const url of ['/v1.41/swarm/leave?force=True', '/swarm/leave']) {
    const res = await request(app).post(url);
    expect({ url, status: res.status, type: res.headers['content-type'], body: res.body }).toEqual({
      url,
      status: 503,
      type: 'application/json',
      body: { message: 'This node is not part of a swarm' },
    });
  }
});

test('the manager-only reads answer 503 "not a swarm manager"', async () => {
  const msg =
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
  for (const url of ['/v1.41/swarm', '/swarm/unlockkey', '/nodes', '/services', '/tasks', '/secrets', '/configs']) {
    const res = await request(app).get(url);
    expect({ url, status: res.status, body: res.body }).toEqual({ url, status: 503, body: { message: msg } });
  }
});
