/**
 * Inspect's NetworkSettings.Networks echo the endpoint settings a client asked for, as
 * dockerd's do (docker-py's test_create_with_ipv4_address, test_connect_with_ipv4_address and
 * test_create_with_driveropt read them back): IPAMConfig.IPv4Address of a static address,
 * before the start (planned) and while running (from the endpoint the network made), and the
 * endpoint's DriverOpts. A container asking nothing keeps dockerd's nulls.
 */
import { parseCreateBody } from '../../../src/api/v1.41/docker/create-body';
import { translateCreate } from '../../../src/api/v1.41/docker/create';
import { containerJson } from '../../../src/api/v1.41/json/inspect';
import { decodeBody } from '../../../src/util/go-decode';
import { CreateBodySchema, type CreateBody } from '../../../src/api/v1.41/docker/docker-schema';
import { harness, type Harness } from '../pod/fakes';
import type { EndpointConfig } from '../../../src/net/manager';

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(async () => h.cleanup());

const nets = { isUserNetwork: (ref: string) => ref !== 'bridge', hasUserSubnet: () => true };

async function create(body: Record<string, unknown>, name: string) {
  const req = parseCreateBody(decodeBody<CreateBody>(CreateBodySchema, { Image: 'busybox', Cmd: ['top'], ...body }), 2);
  const t = translateCreate(req, await h.images.resolve('busybox'), name.padEnd(64, '0'), {
    defaults: { memoryMiB: 256, cpus: 1 },
    hostCpus: 2,
    networks: nets,
  });
  return h.pods.create(t.spec, name, t.frontend);
}

function endpoint(
  networkName: string,
  over: Partial<EndpointConfig> = {},
): EndpointConfig & { networkName: string; isDefault: boolean } {
  return {
    id: 'e'.repeat(64),
    containerId: 'c'.repeat(64),
    name: 'c',
    aliases: [],
    ip: '132.124.0.23',
    mac: '02:42:84:7c:00:17',
    ports: [],
    networkId: 'n'.repeat(64),
    gateway: '132.124.0.1',
    prefixLen: 16,
    mtu: 1500,
    bridge: 'pv-x',
    networkName,
    isDefault: networkName === 'bridge',
    ...over,
  };
}

type Nets = Record<string, Record<string, unknown>>;
const networksOf = (j: Record<string, unknown>) => (j.NetworkSettings as { Networks: Nets }).Networks;

test('a static address: IPAMConfig {IPv4Address} before the start and while running', async () => {
  const r = await create(
    {
      HostConfig: { NetworkMode: 'front' },
      NetworkingConfig: { EndpointsConfig: { front: { IPAMConfig: { IPv4Address: '132.124.0.23' } } } },
    },
    'withip',
  );
  expect(networksOf(containerJson(r, { dataRoot: h.root, execIds: [] })).front.IPAMConfig).toEqual({
    IPv4Address: '132.124.0.23',
  });
  const running = containerJson(r, {
    dataRoot: h.root,
    execIds: [],
    network: { endpoints: [endpoint('front')], ports: [] },
  });
  expect(networksOf(running).front).toMatchObject({
    IPAMConfig: { IPv4Address: '132.124.0.23' },
    IPAddress: '132.124.0.23',
    DriverOpts: null,
  });
});

test('endpoint DriverOpts of the create are shown on that network', async () => {
  const r = await create(
    {
      HostConfig: { NetworkMode: 'bridge' },
      NetworkingConfig: { EndpointsConfig: { bridge: { DriverOpts: { 'com.docker-py.setting': 'on' } } } },
    },
    'withopts',
  );
  const running = containerJson(r, {
    dataRoot: h.root,
    execIds: [],
    network: { endpoints: [endpoint('bridge', { ip: '172.19.0.2' })], ports: [] },
  });
  expect(networksOf(running).bridge).toMatchObject({ DriverOpts: { 'com.docker-py.setting': 'on' }, IPAMConfig: null });
});

test('nothing asked: IPAMConfig and DriverOpts stay null', async () => {
  const r = await create({ HostConfig: { NetworkMode: 'front' } }, 'plain');
  const running = containerJson(r, {
    dataRoot: h.root,
    execIds: [],
    network: { endpoints: [endpoint('front', { ip: '132.124.0.2' })], ports: [] },
  });
  expect(networksOf(running).front).toMatchObject({ IPAMConfig: null, DriverOpts: null });
});

test("a connect's MacAddress shows on the network's entry until the container has an endpoint there", async () => {
  const r = await create({ HostConfig: { NetworkMode: 'front' } }, 'asked');
  await h.pods.update(r.id, { frontend: { ...(r.frontend as object), endpointMacs: { front: '02:42:ac:11:00:02' } } });
  const before = containerJson(h.pods.get(r.id), { dataRoot: h.root, execIds: [] });
  expect(networksOf(before).front).toMatchObject({ MacAddress: '02:42:ac:11:00:02', IPAddress: '' });
  const running = containerJson(h.pods.get(r.id), {
    dataRoot: h.root,
    execIds: [],
    network: { endpoints: [endpoint('front')], ports: [] },
  });
  expect(networksOf(running).front).toMatchObject({ MacAddress: '02:42:84:7c:00:17' });
});
