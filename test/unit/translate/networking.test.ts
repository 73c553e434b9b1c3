import { networkSettingsJson, plannedNetworksJson, psPorts } from '../../../src/api/v1.41/json/network-json';
import { planNetworks, type NetworksInput } from '../../../src/translate/network/network-plan';
import { NotFoundError } from '../../../src/errors';

const lookup = {
  isUserNetwork: (ref: string) => {
    if (ref === 'nope') throw new NotFoundError('network nope not found');
    return ref !== 'bridge';
  },
  hasUserSubnet: (ref: string) => ref === 'sub',
};

const plan = (input: Partial<NetworksInput>) =>
  planNetworks({ network: 'default', ports: [], exposed: [], ...input }, lookup);

describe("a container's network plan from its request", () => {
  test('default: the bridge network, with the published and exposed ports', () => {
    const ports = [
      { proto: 'tcp' as const, containerPort: 80, hostIp: '127.0.0.1', hostPortMin: 8080, hostPortMax: 8080 },
      { proto: 'udp' as const, containerPort: 53, hostIp: '0.0.0.0', hostPortMin: 0, hostPortMax: 0, alsoIpv6: true },
    ];
    expect(plan({ ports, exposed: ['80/tcp', '53/udp'] })).toEqual({
      mode: 'networks',
      networks: [{ ref: 'bridge', aliases: [] }],
      ports,
      exposed: ['80/tcp', '53/udp'],
    });
  });

  test("--link: on the default bridge the plan's links; on a user network the endpoint's, from either field", () => {
    expect(plan({ links: ['db:alias', 'cache'], exposed: ['80/tcp'] })).toEqual({
      mode: 'networks',
      networks: [{ ref: 'bridge', aliases: [] }],
      ports: [],
      exposed: ['80/tcp'],
      links: [
        { name: 'db', alias: 'alias' },
        { name: 'cache', alias: 'cache' },
      ],
    });
    expect(plan({ network: 'sub', links: ['/x:/me/y'], endpoints: [{ network: 'sub', links: ['db:alias'] }] })).toEqual(
      {
        mode: 'networks',
        networks: [
          {
            ref: 'sub',
            aliases: [],
            links: [
              { name: 'db', alias: 'alias' },
              { name: 'x', alias: 'y' },
            ],
          },
        ],
        ports: [],
      },
    );
    expect(() => plan({ links: ['a:b:c'] })).toThrow('bad format for links: a:b:c');
  });

  test('a user network with aliases, a static address and a MAC', () => {
    expect(
      plan({
        network: 'sub',
        macAddress: '02:00:00:00:00:01',
        endpoints: [{ network: 'sub', aliases: ['db'], ipv4Address: '10.1.0.9' }],
      }),
    ).toEqual({
      mode: 'networks',
      networks: [{ ref: 'sub', aliases: ['db'], ip: '10.1.0.9', mac: '02:00:00:00:00:01' }],
      ports: [],
    });
  });

  test("several networks: the request's first, with the MAC and links, then the others in order", () => {
    expect(
      plan({
        network: 'sub',
        macAddress: '02:00:00:00:00:01',
        links: ['db'],
        endpoints: [
          { network: 'other', aliases: ['o'] },
          { network: 'sub', aliases: ['s'] },
        ],
      }),
    ).toEqual({
      mode: 'networks',
      networks: [
        { ref: 'sub', aliases: ['s'], mac: '02:00:00:00:00:01', links: [{ name: 'db', alias: 'db' }] },
        { ref: 'other', aliases: ['o'] },
      ],
      ports: [],
    });
    // One entry is the request's network's, whatever it names.
    expect(plan({ network: 'sub', endpoints: [{ network: 'elsewhere', aliases: ['a'] }] }).networks).toEqual([
      { ref: 'sub', aliases: ['a'] },
    ]);
  });

  test("dockerd's refusals, and ours for the host's network", () => {
    expect(() => plan({ network: 'host' })).toThrow('--network host is not supported');
    expect(() => plan({ endpoints: [{ network: 'bridge', ipv4Address: '172.18.0.9' }] })).toThrow(
      'user specified IP address is supported on user defined networks only',
    );
    expect(() => plan({ endpoints: [{ network: 'bridge', aliases: ['x'] }] })).toThrow(
      'network-scoped alias is supported only for containers in user defined networks',
    );
    expect(() => plan({ network: 'auto', endpoints: [{ network: 'auto', ipv4Address: '10.0.0.9' }] })).toThrow(
      'user specified IP address is supported only when connecting to networks with user configured subnets',
    );
    expect(() => plan({ network: 'nope' })).toThrow('network nope not found');
  });

  test("dockerd 26's check names every problem of an endpoint at once", () => {
    expect(() =>
      plan({ everyProblem: true, endpoints: [{ network: 'bridge', aliases: ['x'], ipv4Address: '300.1.1.1' }] }),
    ).toThrow(
      'invalid config for network bridge: invalid endpoint settings:\n' +
        '* user specified IP address is supported on user defined networks only\n' +
        '* network-scoped alias is supported only for containers in user defined networks\n' +
        '* invalid IPv4 address: 300.1.1.1',
    );
  });
});

describe('inspect and ps shapes', () => {
  const bindings = [
    { proto: 'tcp' as const, containerPort: 80, hostIp: '127.0.0.1', hostPort: 18080 },
    { proto: 'udp' as const, containerPort: 81, hostIp: '0.0.0.0', hostPort: 18081 },
  ];
  const exposed = { '90/tcp': {}, '80/tcp': {} };

  test('NetworkSettings as dockerd 20.10 writes it, on a user network', () => {
    const ep = {
      id: 'e'.repeat(64),
      containerId: 'c'.repeat(64),
      name: 'web',
      aliases: ['al1'],
      ip: '172.22.0.2',
      mac: '02:42:ac:16:00:02',
      ports: bindings,
      networkId: 'n'.repeat(64),
      gateway: '172.22.0.1',
      prefixLen: 16,
      mtu: 1500,
      bridge: 'pv-x',
      networkName: 'pvcmp',
      isDefault: false,
    };
    expect(networkSettingsJson([ep], bindings, exposed)).toEqual({
      Bridge: '',
      SandboxID: '',
      HairpinMode: false,
      LinkLocalIPv6Address: '',
      LinkLocalIPv6PrefixLen: 0,
      Ports: {
        '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '18080' }],
        '81/udp': [{ HostIp: '0.0.0.0', HostPort: '18081' }],
        '90/tcp': null,
      },
      SandboxKey: '',
      SecondaryIPAddresses: null,
      SecondaryIPv6Addresses: null,
      EndpointID: '',
      Gateway: '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      IPAddress: '',
      IPPrefixLen: 0,
      IPv6Gateway: '',
      MacAddress: '',
      Networks: {
        pvcmp: {
          IPAMConfig: null,
          Links: null,
          Aliases: ['al1', 'cccccccccccc'],
          NetworkID: 'n'.repeat(64),
          EndpointID: 'e'.repeat(64),
          Gateway: '172.22.0.1',
          IPAddress: '172.22.0.2',
          IPPrefixLen: 16,
          IPv6Gateway: '',
          GlobalIPv6Address: '',
          GlobalIPv6PrefixLen: 0,
          MacAddress: '02:42:ac:16:00:02',
          DriverOpts: null,
        },
      },
    });
  });

  test('on the default bridge the top-level fields are filled and Aliases is null', () => {
    const ep = {
      id: 'e'.repeat(64),
      containerId: 'c'.repeat(64),
      name: 'web',
      aliases: [],
      ip: '172.29.0.2',
      mac: '02:42:ac:1d:00:02',
      ports: [],
      networkId: 'n'.repeat(64),
      gateway: '172.29.0.1',
      prefixLen: 16,
      mtu: 1500,
      bridge: 'pv-x',
      networkName: 'bridge',
      isDefault: true,
    };
    const j = networkSettingsJson([ep], [], undefined) as {
      IPAddress: string;
      Gateway: string;
      EndpointID: string;
      Networks: { bridge: { Aliases: unknown } };
    };
    expect([j.IPAddress, j.Gateway, j.EndpointID, j.Networks.bridge.Aliases]).toEqual([
      '172.29.0.2',
      '172.29.0.1',
      'e'.repeat(64),
      null,
    ]);
  });

  test('ps Ports: bindings, then exposed-only ports', () => {
    expect(psPorts(bindings, exposed)).toEqual([
      { IP: '127.0.0.1', PrivatePort: 80, PublicPort: 18080, Type: 'tcp' },
      { IP: '0.0.0.0', PrivatePort: 81, PublicPort: 18081, Type: 'udp' },
      { PrivatePort: 90, Type: 'tcp' },
    ]);
  });
});

describe('plannedNetworksJson (inspect of a container on no network now)', () => {
  it('lists the planned networks as dockerd does for a created container: aliases as asked, ids and addresses empty', () => {
    const plan = {
      mode: 'networks' as const,
      networks: [
        { ref: 'appnet', aliases: ['web'] },
        { ref: 'other', aliases: [], ip: '10.9.0.5' },
      ],
      ports: [],
    };
    const j = plannedNetworksJson(plan) as Record<string, Record<string, unknown>>;
    expect(Object.keys(j)).toEqual(['appnet', 'other']);
    expect(j.appnet).toMatchObject({
      Aliases: ['web'],
      NetworkID: '',
      EndpointID: '',
      IPAddress: '',
      Gateway: '',
      MacAddress: '',
      IPAMConfig: null,
    });
    expect(j.other).toMatchObject({ Aliases: null, IPAMConfig: { IPv4Address: '10.9.0.5' } });
  });

  it('is empty for --network none and for no plan', () => {
    expect(plannedNetworksJson({ mode: 'none', networks: [], ports: [] })).toEqual({});
    expect(plannedNetworksJson(undefined)).toEqual({});
  });
});
