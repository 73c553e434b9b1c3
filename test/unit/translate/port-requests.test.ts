import { fromApi, hostPortRange, parsePortSpec } from '../../../src/translate/network/port-requests';

describe('published port specs', () => {
  test('-p forms: container port only, host:container, ip:host:container, ip::container, proto', () => {
    expect(parsePortSpec('80')).toEqual([
      { proto: 'tcp', containerPort: 80, hostIp: '0.0.0.0', hostPortMin: 0, hostPortMax: 0 },
    ]);
    expect(parsePortSpec('8080:80')).toEqual([
      { proto: 'tcp', containerPort: 80, hostIp: '0.0.0.0', hostPortMin: 8080, hostPortMax: 8080 },
    ]);
    expect(parsePortSpec('127.0.0.1:8080:80/udp')).toEqual([
      { proto: 'udp', containerPort: 80, hostIp: '127.0.0.1', hostPortMin: 8080, hostPortMax: 8080 },
    ]);
    expect(parsePortSpec('127.0.0.1::53/UDP')).toEqual([
      { proto: 'udp', containerPort: 53, hostIp: '127.0.0.1', hostPortMin: 0, hostPortMax: 0 },
    ]);
  });

  test('ranges map pairwise, or a host range serves one container port', () => {
    expect(parsePortSpec('8000-8001:80-81').map((r) => [r.hostPortMin, r.hostPortMax, r.containerPort])).toEqual([
      [8000, 8000, 80],
      [8001, 8001, 81],
    ]);
    expect(parsePortSpec('8000-8010:80').map((r) => [r.hostPortMin, r.hostPortMax, r.containerPort])).toEqual([
      [8000, 8010, 80],
    ]);
    expect(parsePortSpec('80-82').map((r) => r.containerPort)).toEqual([80, 81, 82]);
  });

  test('bad specs are refused', () => {
    expect(() => parsePortSpec('8000-8002:80-81')).toThrow('invalid ranges specified');
    expect(() => parsePortSpec('70000')).toThrow('invalid containerPort');
    expect(() => parsePortSpec('80/sctpx')).toThrow('invalid proto');
    expect(() => parsePortSpec('1.2.3:80:80')).toThrow('invalid IP address');
    expect(() => parsePortSpec('a:b:c:d')).toThrow('invalid port format');
  });

  test('the API form (PortBindings, PublishAllPorts over ExposedPorts)', () => {
    const reqs = fromApi(
      {
        '80/tcp': [
          { HostIp: '', HostPort: '8080' },
          { HostIp: '127.0.0.1', HostPort: '' },
        ],
        '53/udp': null,
      },
      true,
      { '80/tcp': {}, '443/tcp': {} },
    );
    expect(reqs).toEqual([
      { proto: 'tcp', containerPort: 80, hostIp: '0.0.0.0', hostPortMin: 8080, hostPortMax: 8080, alsoIpv6: true },
      { proto: 'tcp', containerPort: 80, hostIp: '127.0.0.1', hostPortMin: 0, hostPortMax: 0 },
      { proto: 'udp', containerPort: 53, hostIp: '0.0.0.0', hostPortMin: 0, hostPortMax: 0, alsoIpv6: true },
      { proto: 'tcp', containerPort: 443, hostIp: '0.0.0.0', hostPortMin: 0, hostPortMax: 0, alsoIpv6: true },
    ]);
  });

  // Each answer below was seen from dockerd 20.10.24 (create, then start, then inspect).
  test('HostPort as dockerd reads it: "", "0" and "0-0" are any free port; a port; a range; a /proto ignored', () => {
    expect(hostPortRange('')).toEqual([0, 0]);
    expect(hostPortRange('0')).toEqual([0, 0]);
    expect(hostPortRange('0-0')).toEqual([0, 0]);
    expect(hostPortRange('8080')).toEqual([8080, 8080]);
    expect(hostPortRange('08080')).toEqual([8080, 8080]);
    expect(hostPortRange('8080/tcp')).toEqual([8080, 8080]);
    expect(hostPortRange('8080-8090')).toEqual([8080, 8090]);
    expect(hostPortRange('65535')).toEqual([65535, 65535]);
  });

  test('HostPort forms dockerd refuses get its 400 message', () => {
    for (const bad of ['65536', '-1', 'abc', ' 8080', '8080-', '8090-8080', '1-2-3', '8080+']) {
      expect(() => hostPortRange(bad)).toThrow(`invalid port specification: ${JSON.stringify(bad)}`);
    }
    expect(() => hostPortRange('0-8080')).toThrow('invalid port range: 0-8080');
  });

  test('the API form: HostPort "0" (testcontainers) and a missing HostPort publish on any port; HostIp IPv4 or IPv6', () => {
    const reqs = fromApi(
      {
        '80/tcp': [
          { HostPort: '0' },
          {},
          { HostIp: '::', HostPort: '0' },
          { HostIp: '::1', HostPort: '8080-8081' },
          { HostIp: '0.0.0.0', HostPort: '9000' },
        ],
      },
      false,
      undefined,
    );
    expect(reqs).toEqual([
      // No HostIp: every IPv4 and every IPv6 address; an explicit 0.0.0.0: IPv4 alone (dockerd 20.10).
      { proto: 'tcp', containerPort: 80, hostIp: '0.0.0.0', hostPortMin: 0, hostPortMax: 0, alsoIpv6: true },
      { proto: 'tcp', containerPort: 80, hostIp: '0.0.0.0', hostPortMin: 0, hostPortMax: 0, alsoIpv6: true },
      { proto: 'tcp', containerPort: 80, hostIp: '::', hostPortMin: 0, hostPortMax: 0 },
      { proto: 'tcp', containerPort: 80, hostIp: '::1', hostPortMin: 8080, hostPortMax: 8081 },
      { proto: 'tcp', containerPort: 80, hostIp: '0.0.0.0', hostPortMin: 9000, hostPortMax: 9000 },
    ]);
    expect(() => fromApi({ '80/tcp': [{ HostPort: 'x' }] }, false, undefined)).toThrow(
      'invalid port specification: "x"',
    );
    expect(() => fromApi({ '80/tcp': [{ HostIp: 'localhost' }] }, false, undefined)).toThrow(
      'invalid IP address: localhost',
    );
  });

  test('-p takes the same host ports: 0:80 is any free port', () => {
    expect(parsePortSpec('0:80')).toEqual([
      { proto: 'tcp', containerPort: 80, hostIp: '0.0.0.0', hostPortMin: 0, hostPortMax: 0 },
    ]);
    expect(() => parsePortSpec('abc:80')).toThrow('invalid hostPort: abc');
    expect(() => parsePortSpec('99999:80')).toThrow('invalid hostPort: 99999');
  });
});
