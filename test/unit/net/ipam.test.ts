import { contains, formatCidr, overlaps, parseCidr, parseIp } from '../../../src/net/ipv4';
import { allocate, macFor, newIpam, releaseOwner } from '../../../src/net/ipam';

describe('IPv4 parsing', () => {
  test('dotted quads are parsed strictly', () => {
    expect(parseIp('10.1.2.3')).toBe(0x0a010203);
    expect(parseIp('255.255.255.255')).toBe(0xffffffff);
    for (const bad of ['10.1.2', '10.1.2.256', '010.1.2.3', '1.2.3.4 ', 'a.b.c.d', ''])
      expect(parseIp(bad)).toBeUndefined();
  });

  test('CIDR: host bits refused, containment and overlap', () => {
    expect(formatCidr(parseCidr('10.88.0.0/16'))).toBe('10.88.0.0/16');
    expect(() => parseCidr('10.88.0.1/16')).toThrow('it should be 10.88.0.0/16');
    expect(() => parseCidr('10.88.0.0/33')).toThrow('invalid CIDR address');
    expect(contains(parseCidr('10.88.0.0/16'), parseIp('10.88.255.1')!)).toBe(true);
    expect(contains(parseCidr('10.88.0.0/16'), parseIp('10.89.0.1')!)).toBe(false);
    expect(overlaps(parseCidr('10.0.0.0/8'), parseCidr('10.88.0.0/16'))).toBe(true);
    expect(overlaps(parseCidr('10.88.0.0/16'), parseCidr('10.89.0.0/16'))).toBe(false);
  });
});

describe('IPAM', () => {
  test('gateway is the first host address; containers get the next ones, lowest free first', () => {
    const s = newIpam({ subnet: '10.5.0.0/24' });
    expect(s.gateway).toBe('10.5.0.1');
    expect(allocate(s, 'a')).toBe('10.5.0.2');
    expect(allocate(s, 'b')).toBe('10.5.0.3');
    expect(allocate(s, 'c')).toBe('10.5.0.4');
    releaseOwner(s, 'b');
    expect(allocate(s, 'd')).toBe('10.5.0.3');
    expect(s.allocated).toEqual({ '10.5.0.2': 'a', '10.5.0.3': 'd', '10.5.0.4': 'c' });
  });

  test('--ip-range bounds dynamic addresses; a static --ip may be anywhere in the subnet', () => {
    const s = newIpam({ subnet: '10.6.0.0/16', gateway: '10.6.0.254', ipRange: '10.6.1.0/30' });
    expect(allocate(s, 'a')).toBe('10.6.1.0');
    expect(allocate(s, 'b')).toBe('10.6.1.1');
    expect(allocate(s, 'x', '10.6.9.9')).toBe('10.6.9.9');
    expect(allocate(s, 'c')).toBe('10.6.1.2');
    expect(allocate(s, 'd')).toBe('10.6.1.3');
    expect(() => allocate(s, 'e')).toThrow('no available IPv4 addresses');
  });

  test('bad requests are refused with dockerd-like messages and change nothing', () => {
    expect(() => newIpam({ subnet: '10.7.0.0/16', gateway: '10.8.0.1' })).toThrow(
      'no matching subnet for gateway 10.8.0.1',
    );
    expect(() => newIpam({ subnet: '10.7.0.0/16', ipRange: '10.9.0.0/24' })).toThrow('no matching subnet for range');
    const s = newIpam({ subnet: '10.7.0.0/24' });
    expect(() => allocate(s, 'a', '10.7.0.1')).toThrow('Address already in use');
    expect(() => allocate(s, 'a', '10.8.0.5')).toThrow(
      "Invalid address 10.8.0.5: It does not belong to any of this network's subnets",
    );
    expect(() => allocate(s, 'a', '10.7.0.255')).toThrow('is not in subnet');
    allocate(s, 'a', '10.7.0.9');
    expect(() => allocate(s, 'b', '10.7.0.9')).toThrow('Address already in use');
    expect(s.allocated).toEqual({ '10.7.0.9': 'a' });
  });

  test('a full subnet says so', () => {
    const s = newIpam({ subnet: '10.9.0.0/30' });
    expect(allocate(s, 'a')).toBe('10.9.0.2');
    expect(() => allocate(s, 'b')).toThrow('no available IPv4 addresses');
  });

  test('MAC addresses follow dockerd (02:42 + the IPv4 bytes)', () => {
    expect(macFor('172.17.0.2')).toBe('02:42:ac:11:00:02');
  });
});
