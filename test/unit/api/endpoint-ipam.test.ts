/**
 * What a network and an endpoint's IPAMConfig can ask beyond an IPv4 address, over the API
 * with dockerode, the real network manager on an in-memory host and the pod layer on the VM
 * fakes (the fake guest's interfaces show what the agent was asked):
 *  - IPv6 pools on a network without IPv6, as dockerd 20.10 treats them (measured): the pool
 *    is kept in the network's IPAM config after the IPv4 pool dockerd allocates itself, a
 *    container may ask for a static IPv6 address from it (create or connect) and inspect
 *    echoes it in IPAMConfig, but no interface gets an IPv6 address;
 *  - a network with IPv6 enabled: the interface gets its IPv6 address and the default route;
 *  - `--link-local-ip` (LinkLocalIPs): the container's interface on that network gets each
 *    address as one more (a /16), inspect echoes them, a connect can give them too, and bad
 *    ones get dockerd's words.
 */
import Docker from 'dockerode';
import { closeAfterRemovingAll, failureOf, startFakeApi, type FakeApi } from './fake-api';
import type { FakeVm } from '../../helpers/fake-vm';

let fake: FakeApi;
let docker: Docker;
beforeEach(async () => {
  fake = await startFakeApi({ networks: true });
  docker = new Docker({ socketPath: fake.sock });
});
afterEach(() => closeAfterRemovingAll(fake, docker));

describe('IPv6 pools and addresses on a network without IPv6', () => {
  const V6_POOL = { Subnet: '2001:389::1/64', IPRange: '2001:389::0/96', Gateway: '2001:389::ffff' };

  test('a network with only an IPv6 pool: IPv4 allocated by the daemon, the IPv6 pool shown after it as given', async () => {
    const net = await docker.createNetwork({ Name: 'v6only', IPAM: { Driver: 'default', Config: [V6_POOL] } });
    const info = await net.inspect();
    expect(info.EnableIPv6).toBe(false);
    expect(info.IPAM?.Config).toHaveLength(2);
    expect(info.IPAM?.Config?.[0]).toEqual({
      Subnet: expect.stringMatching(/^\d+\.\d+\.\d+\.0\/\d+$/),
      Gateway: expect.stringMatching(/^\d+\.\d+\.\d+\.1$/),
    });
    expect(info.IPAM?.Config?.[1]).toEqual(V6_POOL);
    // With a given IPv4 pool too: the IPv4 one first, then the IPv6 ones, each as given.
    const both = await docker.createNetwork({
      Name: 'both',
      IPAM: { Config: [{ Subnet: '2001:390::/64' }, { Subnet: '10.99.0.0/16' }, { Subnet: '2001:391::/64' }] },
    });
    expect((await both.inspect()).IPAM?.Config).toEqual([
      { Subnet: '10.99.0.0/16' },
      { Subnet: '2001:390::/64' },
      { Subnet: '2001:391::/64' },
    ]);
  });

  test("bad pools are refused with dockerd's words and nothing is made", async () => {
    expect(
      await failureOf(docker.createNetwork({ Name: 'x', IPAM: { Config: [{ Subnet: '2001:389::/200' }] } })),
    ).toEqual([400, 'Invalid subnet 2001:389::/200 : invalid CIDR address: 2001:389::/200']);
    expect(await failureOf(docker.createNetwork({ Name: 'x', IPAM: { Config: [{ Subnet: 'fe80::zz/64' }] } }))).toEqual(
      [400, 'Invalid subnet fe80::zz/64 : invalid CIDR address: fe80::zz/64'],
    );
    // EnableIPv6 needs an IPv6 pool: dockerd 20.10 has no default ones.
    expect(await failureOf(docker.createNetwork({ Name: 'x', EnableIPv6: true }))).toEqual([
      404,
      'could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network',
    ]);
    expect((await docker.listNetworks()).map((n) => n.Name)).toEqual(['bridge']);
  });

  test('a static IPv6 address at create is echoed by inspect before and after the start; the container runs on IPv4', async () => {
    await docker.createNetwork({ Name: 'v6net', IPAM: { Config: [V6_POOL] } });
    const c = await docker.createContainer({
      Image: 'busybox',
      Cmd: ['sleep', '1000'],
      HostConfig: { NetworkMode: 'v6net' },
      NetworkingConfig: { EndpointsConfig: { v6net: { IPAMConfig: { IPv6Address: '2001:389::f00d' } } } },
    });
    expect((await c.inspect()).NetworkSettings.Networks.v6net.IPAMConfig).toEqual({ IPv6Address: '2001:389::f00d' });
    await c.start();
    const ep = (await c.inspect()).NetworkSettings.Networks.v6net;
    expect(ep.IPAMConfig).toEqual({ IPv6Address: '2001:389::f00d' });
    expect(ep.IPAddress).toMatch(/^\d+\.\d+\.\d+\.2$/);
    expect([ep.GlobalIPv6Address, ep.IPv6Gateway]).toEqual(['', '']);
  });

  test('a static IPv6 address at connect of a running container is echoed by inspect', async () => {
    const net = await docker.createNetwork({ Name: 'v6net', IPAM: { Config: [V6_POOL] } });
    const c = await docker.createContainer({
      Image: 'busybox',
      Cmd: ['sleep', '1000'],
      HostConfig: { NetworkMode: 'v6net' },
    });
    await c.start();
    await net.disconnect({ Container: c.id });
    await net.connect({ Container: c.id, EndpointConfig: { IPAMConfig: { IPv6Address: '2001:389::f00d' } } });
    const ep = (await c.inspect()).NetworkSettings.Networks.v6net;
    expect(ep.IPAMConfig).toEqual({ IPv6Address: '2001:389::f00d' });
    expect(ep.IPAddress).not.toBe('');
  });

  test("a static IPv6 address where none can be: dockerd's 400s, nothing created", async () => {
    await docker.createNetwork({ Name: 'v4only' });
    await docker.createNetwork({ Name: 'v6net', IPAM: { Config: [V6_POOL] } });
    const ask = (net: string, addr: string) =>
      docker.createContainer({
        Image: 'busybox',
        HostConfig: { NetworkMode: net },
        NetworkingConfig: { EndpointsConfig: { [net]: { IPAMConfig: { IPv6Address: addr } } } },
      });
    // dockerd 26's words at the default version (API 1.45): each problem of the endpoint, named with its network.
    const invalid = (net: string, problem: string) =>
      `invalid config for network ${net}: invalid endpoint settings:\n${problem}`;
    expect(await failureOf(ask('v6net', 'garbage'))).toEqual([400, invalid('v6net', 'invalid IPv6 address: garbage')]);
    expect(await failureOf(ask('v6net', '10.0.0.1'))).toEqual([
      400,
      invalid('v6net', 'invalid IPv6 address: 10.0.0.1'),
    ]);
    const subnetless =
      'user specified IP address is supported only when connecting to networks with user configured subnets';
    expect(await failureOf(ask('bridge', '2001:389::5'))).toEqual([
      400,
      invalid('bridge', `* user specified IP address is supported on user defined networks only\n* ${subnetless}`),
    ]);
    expect(await failureOf(ask('v4only', '2001:389::5'))).toEqual([400, invalid('v4only', subnetless)]);
    expect(await docker.listContainers({ all: true })).toEqual([]);
    const c = await docker.createContainer({ Image: 'busybox' });
    expect(
      await failureOf(
        docker
          .getNetwork('v4only')
          .connect({ Container: c.id, EndpointConfig: { IPAMConfig: { IPv6Address: '2001:389::5' } } }),
      ),
    ).toEqual([400, `invalid endpoint settings:\n${subnetless}`]);
    expect(
      await failureOf(
        docker
          .getNetwork('v6net')
          .connect({ Container: c.id, EndpointConfig: { IPAMConfig: { IPv6Address: 'nope' } } }),
      ),
    ).toEqual([400, 'invalid endpoint settings:\ninvalid IPv6 address: nope']);
    expect(Object.keys((await c.inspect()).NetworkSettings.Networks)).toEqual(['bridge']);
  });
});

describe('a network with IPv6 enabled', () => {
  const V6_POOL = { Subnet: '2001:389::1/64', IPRange: '2001:389::0/96', Gateway: '2001:389::ffff' };

  function guestOf(id: string) {
    const vmId = fake.h.pods.get(id).sandbox.vmId;
    return (fake.h.factory.handedOut.find((v) => v.id === vmId) as FakeVm).guest;
  }

  test("the container's interface gets its IPv6 address and the IPv6 default route; inspect shows them as dockerd does", async () => {
    const net = await docker.createNetwork({ Name: 'v6on', EnableIPv6: true, IPAM: { Config: [V6_POOL] } });
    expect((await net.inspect()).EnableIPv6).toBe(true);
    const c = await docker.createContainer({
      Image: 'busybox',
      Cmd: ['sleep', '1000'],
      HostConfig: { NetworkMode: 'v6on' },
    });
    await c.start();
    const ep = (await c.inspect()).NetworkSettings.Networks.v6on;
    expect([ep.GlobalIPv6Address, ep.GlobalIPv6PrefixLen, ep.IPv6Gateway]).toEqual([
      '2001:389::1',
      64,
      '2001:389::ffff',
    ]);
    const guest = guestOf(c.id);
    expect(guest.interfaces.find((i) => i.name === 'eth0')).toMatchObject({
      address: ep.IPAddress,
      address6: '2001:389::1',
      prefix6: 64,
    });
    expect(guest.routes).toEqual(
      expect.arrayContaining([{ destination: '::', prefix: 0, gateway: '2001:389::ffff', device: 'eth0' }]),
    );
    expect((await net.inspect()).Containers?.[c.id]).toMatchObject({ IPv6Address: '2001:389::1/64' });
    // A static one at connect; the disconnect took the first address back.
    await net.disconnect({ Container: c.id });
    expect(guest.interfaces.find((i) => i.name === 'eth0')?.address6).toBeUndefined();
    await net.connect({ Container: c.id, EndpointConfig: { IPAMConfig: { IPv6Address: '2001:389::f00d' } } });
    expect((await c.inspect()).NetworkSettings.Networks.v6on.GlobalIPv6Address).toBe('2001:389::f00d');
    expect(guest.interfaces.some((i) => i.address6 === '2001:389::f00d')).toBe(true);
  });
});

describe('--link-local-ip', () => {
  /** The fake guest interfaces of a running container's VM. */
  function interfacesOf(id: string) {
    const vmId = fake.h.pods.get(id).sandbox.vmId;
    const vm = fake.h.factory.handedOut.find((v) => v.id === vmId) as FakeVm;
    return vm.guest.interfaces;
  }

  test('at create: the interface gets them as secondary /16 addresses; inspect echoes them before and after the start', async () => {
    const c = await docker.createContainer({
      Image: 'busybox',
      Cmd: ['sleep', '1000'],
      HostConfig: { NetworkMode: 'bridge' },
      NetworkingConfig: {
        EndpointsConfig: { bridge: { IPAMConfig: { LinkLocalIPs: ['169.254.8.8', '169.254.9.9'] } } },
      },
    });
    expect((await c.inspect()).NetworkSettings.Networks.bridge.IPAMConfig).toEqual({
      LinkLocalIPs: ['169.254.8.8', '169.254.9.9'],
    });
    await c.start();
    const ep = (await c.inspect()).NetworkSettings.Networks.bridge;
    expect(ep.IPAMConfig).toEqual({ LinkLocalIPs: ['169.254.8.8', '169.254.9.9'] });
    const eth0 = interfacesOf(c.id).find((i) => i.name === 'eth0');
    expect(eth0).toMatchObject({
      up: true,
      address: ep.IPAddress,
      secondary: [
        { address: '169.254.8.8', prefix: 16 },
        { address: '169.254.9.9', prefix: 16 },
      ],
    });
  });

  test("at connect of a running container: that network's interface gets them; a disconnect and a plain connect drop them", async () => {
    const net = await docker.createNetwork({ Name: 'll' });
    const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sleep', '1000'] });
    await c.start();
    await net.connect({ Container: c.id, EndpointConfig: { IPAMConfig: { LinkLocalIPs: ['169.254.7.7'] } } });
    const ep = (await c.inspect()).NetworkSettings.Networks.ll;
    expect(ep.IPAMConfig).toEqual({ LinkLocalIPs: ['169.254.7.7'] });
    const nic = interfacesOf(c.id).find((i) => i.address === ep.IPAddress);
    expect(nic?.secondary).toEqual([{ address: '169.254.7.7', prefix: 16 }]);
    expect(interfacesOf(c.id).find((i) => i.name === 'eth0')?.secondary).toBeUndefined();
    await net.disconnect({ Container: c.id });
    await net.connect({ Container: c.id });
    const again = (await c.inspect()).NetworkSettings.Networks.ll;
    expect(again.IPAMConfig).toBeNull();
    expect(interfacesOf(c.id).find((i) => i.address === again.IPAddress)?.secondary).toBeUndefined();
  });

  test("bad ones: dockerd's words, nothing created", async () => {
    const ask = (ips: string[]) =>
      docker.createContainer({
        Image: 'busybox',
        HostConfig: { NetworkMode: 'bridge' },
        NetworkingConfig: { EndpointsConfig: { bridge: { IPAMConfig: { LinkLocalIPs: ips } } } },
      });
    // dockerd 26's words at the default version (API 1.45); dockerd 20.10's at 1.41.
    expect(await failureOf(ask(['garbage', '169.254.1.1']))).toEqual([
      400,
      'invalid config for network bridge: invalid endpoint settings:\ninvalid link-local IP address: garbage',
    ]);
    const at141 = new Docker({ socketPath: fake.sock, version: 'v1.41' });
    expect(
      await failureOf(
        at141.createContainer({
          Image: 'busybox',
          HostConfig: { NetworkMode: 'bridge' },
          NetworkingConfig: {
            EndpointsConfig: { bridge: { IPAMConfig: { LinkLocalIPs: ['garbage', '169.254.1.1'] } } },
          },
        }),
      ),
    ).toEqual([400, 'Invalid link-local IP address: [garbage 169.254.1.1]']);
    expect(await failureOf(ask(['10.1.2.3']))).toEqual([400, 'invalid link local IP address: 10.1.2.3']);
    expect((await failureOf(ask(['fe80::5'])))[0]).toBe(501);
    expect(await docker.listContainers({ all: true })).toEqual([]);
  });
});
