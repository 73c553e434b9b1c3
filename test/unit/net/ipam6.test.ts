import { formatIpv6, ipv6Bytes, ipv6FromBytes, parseIpv6 } from '../../../src/util/ipv6';
import { allocate6, formatCidr6, newIpam6, overlaps6, parseCidr6 } from '../../../src/net/ipam6';
import { releaseOwner } from '../../../src/net/ipam';

describe('IPv6 addresses', () => {
  test("every textual form parses; the canonical form is RFC 5952's", () => {
    expect(parseIpv6('2001:389::1')).toBe(0x20010389000000000000000000000001n);
    expect(parseIpv6('::')).toBe(0n);
    expect(parseIpv6('::ffff:10.1.2.3')).toBe(0xffff0a010203n);
    expect(formatIpv6(parseIpv6('2001:0DB8:0000:0000:0001:0000:0000:0001')!)).toBe('2001:db8::1:0:0:1');
    expect(formatIpv6(parseIpv6('2001:db8:0:1:1:1:1:1')!)).toBe('2001:db8:0:1:1:1:1:1');
    expect(formatIpv6(0n)).toBe('::');
    expect(formatIpv6(1n)).toBe('::1');
    expect(formatIpv6(0x20010389n << 96n)).toBe('2001:389::');
    for (const bad of ['', '1.2.3.4', '2001:db8::1::2', 'fe80::1%eth0', '2001:db8:::1', '12345::'])
      expect(parseIpv6(bad)).toBeUndefined();
  });

  test('bytes in network order, both ways', () => {
    expect(ipv6Bytes('2001:389::ffff')!.toString('hex')).toBe('2001038900000000000000000000ffff');
    expect(ipv6FromBytes(Buffer.from('2001038900000000000000000000ffff', 'hex'))).toBe('2001:389::ffff');
    expect(ipv6Bytes('10.0.0.1')).toBeUndefined();
  });
});

describe('IPv6 IPAM', () => {
  test('subnets: host bits cleared as dockerd takes them, bad ones refused, overlap', () => {
    expect(formatCidr6(parseCidr6('2001:389::1/64'))).toBe('2001:389::/64');
    expect(() => parseCidr6('2001:389::/129')).toThrow('invalid CIDR address');
    expect(() => parseCidr6('10.0.0.0/8')).toThrow('invalid CIDR address');
    expect(overlaps6(parseCidr6('2001:389::/64'), parseCidr6('2001:389::/80'))).toBe(true);
    expect(overlaps6(parseCidr6('2001:389::/64'), parseCidr6('2001:389:0:1::/64'))).toBe(false);
  });

  test('the gateway defaults to the first address; a range must lie in the subnet', () => {
    expect(newIpam6({ subnet: '2001:db8::/64' })).toEqual({
      subnet: '2001:db8::/64',
      gateway: '2001:db8::1',
      allocated: {},
    });
    expect(newIpam6({ subnet: '2001:389::1/64', ipRange: '2001:389::0/96', gateway: '2001:389::ffff' })).toEqual({
      subnet: '2001:389::/64',
      gateway: '2001:389::ffff',
      ipRange: '2001:389::/96',
      allocated: {},
    });
    expect(() => newIpam6({ subnet: '2001:db8::/64', gateway: '2001:db9::1' })).toThrow(
      'no matching subnet for gateway',
    );
    expect(() => newIpam6({ subnet: '2001:db8::/64', gateway: '2001:db8::' })).toThrow(
      'no matching subnet for gateway',
    );
    expect(() => newIpam6({ subnet: '2001:db8::/64', ipRange: '2001:db8:1::/96' })).toThrow(
      'no matching subnet for range',
    );
    expect(() => newIpam6({ subnet: '2001:db8::/64', gateway: 'x' })).toThrow('invalid gateway address x');
  });

  test("addresses: the lowest free of the range past the subnet's own and the gateway, or a static one", () => {
    const s = newIpam6({ subnet: '2001:db8::/64' });
    expect(allocate6(s, 'a')).toBe('2001:db8::2');
    expect(allocate6(s, 'b', '2001:DB8::f00d')).toBe('2001:db8::f00d');
    expect(() => allocate6(s, 'c', '2001:db8::f00d')).toThrow('Address already in use');
    expect(() => allocate6(s, 'c', '2001:db8::1')).toThrow('Address already in use');
    expect(() => allocate6(s, 'c', '2001:db8::')).toThrow('not in subnet');
    expect(() => allocate6(s, 'c', 'nope')).toThrow('invalid IPv6 address: nope');
    expect(allocate6(s, 'c')).toBe('2001:db8::3');
    releaseOwner(s, 'a');
    expect(allocate6(s, 'd')).toBe('2001:db8::2');
    const small = newIpam6({ subnet: '2001:db8::/126' });
    expect([allocate6(small, 'x'), allocate6(small, 'y')]).toEqual(['2001:db8::2', '2001:db8::3']);
    expect(() => allocate6(small, 'z')).toThrow('no available IPv6 addresses');
  });
});
