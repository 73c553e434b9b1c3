/**
 * The checkpoint routes (docker checkpoint create|ls|rm, start --checkpoint) on the in-memory
 * fakes: 501 outside experimental mode, dockerd 20.10's statuses and words for each refusal
 * (measured on the baseline dockerd --experimental: test/compat/checkpoint.test.ts), and the
 * list and removal of what a container's checkpoints directory holds, which goes with it.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { Harness } from '../pod/fakes';
import { startFakeApi, type FakeApi } from './fake-api';

interface Answer {
  status: number;
  body: unknown;
}

function request(sock: string, method: string, p: string, body?: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath: sock, method, path: p, headers: body ? { 'Content-Type': 'application/json' } : {} },
      (res) => {
        let text = '';
        res.on('data', (b: Buffer) => (text += b.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

describe('experimental mode off', () => {
  let fake: FakeApi;
  beforeAll(async () => {
    fake = await startFakeApi();
  });
  afterAll(async () => {
    for (const p of fake.h.pods.list()) await fake.h.pods.remove(p.id, { force: true });
    await fake.close();
  });

  test("every checkpoint route answers dockerd's 501", async () => {
    const r = await fake.h.create({ Image: 'busybox', Cmd: ['sleep', '100'] }, 'plain');
    const off = {
      status: 501,
      body: {
        message:
          'This experimental feature is disabled by default. Start the Docker daemon in experimental mode in order to enable it.',
      },
    };
    expect(await request(fake.sock, 'GET', `/v1.41/containers/${r.id}/checkpoints`)).toEqual(off);
    expect(await request(fake.sock, 'POST', `/v1.41/containers/${r.id}/checkpoints`, { CheckpointID: 'cp1' })).toEqual(
      off,
    );
    expect(await request(fake.sock, 'DELETE', `/v1.41/containers/${r.id}/checkpoints/cp1`)).toEqual(off);
  });
});

describe('experimental mode on', () => {
  let fake: FakeApi;
  let h: Harness;
  let sock: string;
  beforeAll(async () => {
    fake = await startFakeApi({ experimental: true });
    ({ h, sock } = fake);
  });
  afterAll(async () => {
    for (const p of fake.h.pods.list()) await fake.h.pods.remove(p.id, { force: true });
    await fake.close();
  });

  test("an unknown container is dockerd's 404", async () => {
    for (const [m, p] of [
      ['GET', '/containers/nosuch/checkpoints'],
      ['POST', '/containers/nosuch/checkpoints'],
      ['DELETE', '/containers/nosuch/checkpoints/cp1'],
    ])
      expect(await request(sock, m, `/v1.41${p}`, m === 'POST' ? { CheckpointID: 'cp1' } : undefined)).toEqual({
        status: 404,
        body: { message: 'No such container: nosuch' },
      });
  });

  test("refusals in dockerd's order and words, and nothing is made", async () => {
    await h.create({ Image: 'busybox', Cmd: ['sleep', '100'] }, 'counter');
    const list = () => request(sock, 'GET', '/v1.41/containers/counter/checkpoints');
    const create = (body: unknown) => request(sock, 'POST', '/v1.41/containers/counter/checkpoints', body);
    expect(await list()).toEqual({ status: 200, body: null });
    expect(await create({ CheckpointID: 'cp1', Exit: true })).toEqual({
      status: 500,
      body: { message: 'Container counter not running' },
    });
    expect(await request(sock, 'POST', '/v1.41/containers/counter/start?checkpoint=cp1')).toEqual({
      status: 500,
      body: { message: 'checkpoint cp1 does not exist for container /counter' },
    });
    expect((await request(sock, 'POST', '/v1.41/containers/counter/start')).status).toBe(204);
    expect(await create({})).toEqual({
      status: 500,
      body: { message: 'Invalid checkpoint ID (), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed' },
    });
    expect(await create({ CheckpointID: '../x' })).toEqual({
      status: 500,
      body: { message: 'Invalid checkpoint ID (../x), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed' },
    });
    // The fake VM cannot be saved: the refusal names why, and the container runs on.
    const saved = await create({ CheckpointID: 'cp1', Exit: true });
    expect(saved.status).toBe(500);
    expect((saved.body as { message: string }).message).toMatch(/^Cannot checkpoint container counter: /);
    expect(h.pods.isRunning('counter')).toBe(true);
    expect(await list()).toEqual({ status: 200, body: null });
    expect(fs.existsSync(path.join(h.pods.dir(h.pods.get('counter').id), 'checkpoints'))).toBe(false);
    expect(await request(sock, 'DELETE', '/v1.41/containers/counter/checkpoints/cp1')).toEqual({
      status: 500,
      body: { message: 'checkpoint cp1 does not exist for container counter' },
    });
    // A start of a running container with a checkpoint answers as any start of it.
    expect((await request(sock, 'POST', '/v1.41/containers/counter/start?checkpoint=cp1')).status).toBe(304);
    expect((await request(sock, 'GET', '/v1.41/containers/counter/checkpoints?dir=/tmp')).status).toBe(400);
  });

  test('what the checkpoints directory holds is listed in name order and removed by name', async () => {
    const r = await h.create({ Image: 'busybox', Cmd: ['sleep', '100'] }, 'kept');
    const dir = path.join(h.pods.dir(r.id), 'checkpoints');
    for (const n of ['b2', 'a1']) fs.mkdirSync(path.join(dir, n), { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(dir, 'not-a-dir'), '');
    expect(await request(sock, 'GET', '/v1.41/containers/kept/checkpoints')).toEqual({
      status: 200,
      body: [{ Name: 'a1' }, { Name: 'b2' }],
    });
    expect(await request(sock, 'POST', '/v1.41/containers/kept/start?checkpoint=a1')).toEqual({
      status: 500,
      // The fake hypervisor saves and restores nothing (a real restore: test/compat/checkpoint.test.ts).
      body: { message: 'Cannot restore container /kept from checkpoint a1: this daemon cannot restore VMs' },
    });
    expect(h.pods.isRunning('kept')).toBe(false);
    expect((await request(sock, 'DELETE', '/v1.41/containers/kept/checkpoints/a1')).status).toBe(204);
    expect(fs.existsSync(path.join(dir, 'a1'))).toBe(false);
    expect(await request(sock, 'GET', '/v1.41/containers/kept/checkpoints')).toEqual({
      status: 200,
      body: [{ Name: 'b2' }],
    });
    // They go with the container.
    expect((await request(sock, 'DELETE', '/v1.41/containers/kept')).status).toBe(204);
    await h.pods.settled();
    expect(fs.existsSync(dir)).toBe(false);
  });
});
