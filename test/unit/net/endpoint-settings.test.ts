import { checkEndpointSettings, endpointSettingsProblems, userRangesOf } from '../../../src/net/endpoint-settings';

const subnetless =
  'user specified IP address is supported only when connecting to networks with user configured subnets';
const userNet = { user: true, userSubnet: { 4: false, 6: false }, userRanges: { 4: [], 6: [] } };

describe("an endpoint's settings, as dockerd 26 checks them", () => {
  test('every problem, in dockerd order (the messages dockerd 26.1 gave for the same settings)', () => {
    const ep = { IPAMConfig: { IPv4Address: '300.1.1.1', IPv6Address: 'zz', LinkLocalIPs: ['q'] } };
    expect(endpointSettingsProblems(ep, userNet)).toEqual([
      'invalid IPv4 address: 300.1.1.1',
      'invalid IPv6 address: zz',
      'invalid link-local IP address: q',
      subnetless,
      subnetless,
    ]);
  });

  test('on the default bridge: the static address and the alias first', () => {
    const ep = { IPAMConfig: { IPv4Address: '10.9.9.9' }, Aliases: ['a'] };
    expect(
      endpointSettingsProblems(ep, { user: false, userSubnet: { 4: false, 6: false }, userRanges: { 4: [], 6: [] } }),
    ).toEqual([
      'user specified IP address is supported on user defined networks only',
      'network-scoped alias is supported only for containers in user defined networks',
      subnetless,
    ]);
  });

  test("an address outside the user's subnet or ip-range; inside is fine", () => {
    const facts = { user: true, userSubnet: { 4: true, 6: false }, userRanges: { 4: ['10.77.0.0/24'], 6: [] } };
    expect(
      endpointSettingsProblems({ IPAMConfig: { IPv4Address: '10.9.9.9', IPv6Address: 'fd00::1' } }, facts),
    ).toEqual(['no configured subnet or ip-range contain the IP address 10.9.9.9', subnetless]);
    expect(endpointSettingsProblems({ IPAMConfig: { IPv4Address: '10.77.0.9' } }, facts)).toEqual([]);
  });

  test('the 400: one problem without a bullet, several as a list, with the prefix given', () => {
    expect(() => checkEndpointSettings({ IPAMConfig: { IPv4Address: '10.1.1.1' } }, userNet, 'P: ')).toThrow(
      `P: invalid endpoint settings:\n${subnetless}`,
    );
    expect(() => checkEndpointSettings({ IPAMConfig: { IPv6Address: 'zz', IPv4Address: '1.2.3.4' } }, userNet)).toThrow(
      `invalid endpoint settings:\n* invalid IPv6 address: zz\n* ${subnetless}\n* ${subnetless}`,
    );
    expect(() => checkEndpointSettings({ Aliases: ['x'] }, userNet)).not.toThrow();
  });

  test("a network's ranges: the ip-range before the subnet; IPv4 ones only where the user gave a subnet", () => {
    const pools = [{ Subnet: '10.0.0.0/16', IPRange: '10.0.1.0/24' }, { Subnet: 'fd00::/64' }];
    expect(userRangesOf(pools, true)).toEqual({ 4: ['10.0.1.0/24'], 6: ['fd00::/64'] });
    expect(userRangesOf([{ Subnet: '172.18.0.0/16' }], false)).toEqual({ 4: [], 6: [] });
  });
});
