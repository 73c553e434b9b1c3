/**
 * POST /networks/create and inspect as docker-py sees them, over the real NetworkManager on an
 * in-memory host: dockerd's name rules (any non-empty name, the predefined ones refused),
 * CheckDuplicate honoured only when asked, and the IPAM section echoed as sent (auxiliary
 * addresses held back from containers, IPAM options null when none were sent).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import request from 'supertest';
import { createApiApp } from '../../../src/api/v1.41/server';
import { NetworkManager } from '../../../src/net/manager';
import { FakeNetHost } from '../net/fake-host';

let root: string;
let m: NetworkManager;
let app: ReturnType<typeof createApiApp>;
beforeEach(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'pvnet-api-'));
  m = await NetworkManager.open(root, new FakeNetHost());
  app = createApiApp({
    system: { version: '0.0.0-test', dataRoot: root, accel: 'tcg' },
    networks: { manager: Promise.resolve(m) },
  });
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

const create = (body: unknown) =>
  request(app)
    .post('/v1.41/networks/create')
    .send(body as object);

test('a name with a space is a name; an empty one and the predefined ones are refused as dockerd does', async () => {
  const made = await create({ Name: 'test 01' });
  expect(made.status).toBe(201);
  const got = await request(app).get('/v1.41/networks/test 01');
  expect({ status: got.status, name: got.body.Name, id: got.body.Id }).toEqual({
    status: 200,
    name: 'test 01',
    id: made.body.Id,
  });
  expect((await request(app).delete('/v1.41/networks/test 01')).status).toBe(204);
  expect(await create({ Name: '' }).then((r) => [r.status, r.body])).toEqual([400, { message: 'invalid name: ' }]);
  for (const n of ['bridge', 'host', 'none']) {
    expect(await create({ Name: n }).then((r) => [r.status, r.body])).toEqual([
      403,
      { message: `operation is not permitted on predefined ${n} network ` },
    ]);
  }
});

test("CheckDuplicate true refuses a taken name (409); without it a second network of that name is made, with dockerd's warning", async () => {
  const first = await create({ Name: 'dup', CheckDuplicate: true });
  expect(first.status).toBe(201);
  expect(first.body.Warning).toBe('');
  expect(await create({ Name: 'dup', CheckDuplicate: true }).then((r) => [r.status, r.body])).toEqual([
    409,
    { message: 'network with name dup already exists' },
  ]);
  const second = await create({ Name: 'dup', CheckDuplicate: false });
  expect(second.status).toBe(201);
  expect(second.body.Id).not.toBe(first.body.Id);
  expect(second.body.Warning).toBe(`Network with name dup (id : ${first.body.Id}) already exists`);
  const names = (await request(app).get('/v1.41/networks')).body.map((n: { Name: string }) => n.Name);
  expect(names.filter((n: string) => n === 'dup')).toHaveLength(2);
});

test('IPAM is echoed as sent: auxiliary addresses kept and never handed to a container; Options null unless sent', async () => {
  const made = await create({
    Name: 'ipam',
    CheckDuplicate: true,
    IPAM: {
      Driver: 'default',
      Config: [
        {
          Subnet: '172.28.0.0/16',
          IPRange: '172.28.5.0/24',
          Gateway: '172.28.5.254',
          AuxiliaryAddresses: { a: '172.28.5.0', b: '172.28.5.1' },
        },
      ],
    },
  });
  expect(made.status).toBe(201);
  const ipam = (await request(app).get(`/v1.41/networks/${made.body.Id}`)).body.IPAM;
  expect(ipam).toEqual({
    Driver: 'default',
    Options: null,
    Config: [
      {
        Subnet: '172.28.0.0/16',
        IPRange: '172.28.5.0/24',
        Gateway: '172.28.5.254',
        AuxiliaryAddresses: { a: '172.28.5.0', b: '172.28.5.1' },
      },
    ],
  });
  // The range starts at .5.0 (network address of the range, not of the subnet): .0 and .1 are held.
  const ep = await m.connect('ipam', { containerId: '1'.repeat(64), name: 'c1' });
  expect(ep.ip).toBe('172.28.5.2');
  const withOpts = await create({ Name: 'opts', IPAM: { Driver: 'default', Options: { foo: 'bar' }, Config: [] } });
  expect((await request(app).get(`/v1.41/networks/${withOpts.body.Id}`)).body.IPAM.Options).toEqual({ foo: 'bar' });
});

test("auxiliary addresses that do not parse or lie outside the subnet: dockerd's 403, nothing made", async () => {
  expect(
    await create({
      Name: 'x1',
      IPAM: { Config: [{ Subnet: '10.99.0.0/16', AuxiliaryAddresses: { a: '10.98.1.5' } }] },
    }).then((r) => [r.status, r.body]),
  ).toEqual([403, { message: 'auxiliary address: (a:10.98.1.5) must belong to the master pool: 10.99.0.0/16' }]);
  expect(
    await create({ Name: 'x2', IPAM: { Config: [{ Subnet: '10.97.0.0/16', AuxiliaryAddresses: { a: 'zz' } }] } }).then(
      (r) => [r.status, r.body],
    ),
  ).toEqual([403, { message: 'non parsable secondary ip address (a:zz) passed for network x2' }]);
  expect(m.list().map((n) => n.name)).toEqual(['bridge']);
});
