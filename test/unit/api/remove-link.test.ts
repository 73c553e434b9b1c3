/**
 * `docker rm --link PARENT/ALIAS` (DELETE /containers/PARENT/ALIAS?link=1) over the API on the
 * in-memory pod layer, with dockerd 20.10's answers (measured on a private dockerd): the link
 * leaves the parent's HostConfig.Links, the containers stay (that the next start goes without
 * it is test/compat/links-mac.test.ts's); a link that is
 * not there is 404 "No such container: PARENT/ALIAS"; without link=1 the name removes the
 * linked container, as dockerd's name registry resolves it.
 */
import * as http from 'node:http';
import { startFakeApi, type FakeApi } from './fake-api';

let fake: FakeApi;
beforeEach(async () => {
  fake = await startFakeApi();
});
afterEach(async () => fake.close());

function api(method: string, p: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(
      {
        socketPath: fake.sock,
        method,
        path: `/v1.41${p}`,
        headers: data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, json: text ? (JSON.parse(text) as unknown) : undefined });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

async function links(name: string): Promise<unknown> {
  const r = await api('GET', `/containers/${name}/json`);
  expect(r.status).toBe(200);
  return (r.json as { HostConfig: { Links: unknown } }).HostConfig.Links;
}

beforeEach(async () => {
  expect((await api('POST', '/containers/create?name=tgt', { Image: 'busybox', Cmd: ['top'] })).status).toBe(201);
  const made = await api('POST', '/containers/create?name=par', {
    Image: 'busybox',
    Cmd: ['top'],
    HostConfig: { Links: ['tgt:db', 'tgt'] },
  });
  expect(made).toMatchObject({ status: 201 });
});

test('the link goes from HostConfig.Links; both containers stay', async () => {
  expect(await links('par')).toEqual(['/tgt:/par/db', '/tgt:/par/tgt']);
  expect(await api('DELETE', '/containers/par/db?link=1')).toEqual({ status: 204, json: undefined });
  expect(await links('par')).toEqual(['/tgt:/par/tgt']);
  expect(await api('DELETE', '/containers/par/tgt?link=1')).toEqual({ status: 204, json: undefined });
  expect(await links('par')).toBeNull();
  expect(
    fake.h.pods
      .list()
      .map((r) => r.name)
      .sort(),
  ).toEqual(['par', 'tgt']);
});

test("dockerd's answers: a link that is not there, a parent that is not there, a container's own name", async () => {
  expect(await api('DELETE', '/containers/par/nolink?link=1')).toEqual({
    status: 404,
    json: { message: 'No such container: par/nolink' },
  });
  expect(await api('DELETE', '/containers/nosuch/db?link=1')).toEqual({
    status: 404,
    json: { message: 'No such container: nosuch/db' },
  });
  expect((await api('DELETE', '/containers/tgt?link=1')).json).toEqual({
    message: 'Conflict, cannot remove the default link name of the container',
  });
  expect(await links('par')).toEqual(['/tgt:/par/db', '/tgt:/par/tgt']);
});

test('without link=1 a link name removes the linked container', async () => {
  expect(await api('DELETE', '/containers/par/db')).toEqual({ status: 204, json: undefined });
  expect(fake.h.pods.list().map((r) => r.name)).toEqual(['par']);
});
