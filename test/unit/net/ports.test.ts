import { fromApi, parsePortSpec } from '../../../src/net/ports';

describe('published port specs', () => {
  test('-p forms: container port only, host:container, ip:host:container, ip::container, proto', () => {
    expect(parsePortSpec('80')).toEqual([{ proto: 'tcp', containerPort: 80, hostIp: '0.0.0.0', hostPortMin: 0, hostPortMax: 0 }]);
    expect(parsePortSpec('8080:80')).toEqual([{ proto: 'tcp', containerPort: 80, hostIp: '0.0.0.0', hostPortMin: 8080, hostPortMax: 8080 }]);
    expect(parsePortSpec('127.0.0.1:8080:80/udp')).toEqual([{ proto: 'udp', containerPort: 80, hostIp: '127.0.0.1', hostPortMin: 8080, hostPortMax: 8080 }]);
    expect(parsePortSpec('127.0.0.1::53/UDP')).toEqual([{ proto: 'udp', containerPort: 53, hostIp: '127.0.0.1', hostPortMin: 0, hostPortMax: 0 }]);
  });

  test('ranges map pairwise, or a host range serves one container port', () => {
    expect(parsePortSpec('8000-8001:80-81').map((r) => [r.hostPortMin, r.hostPortMax, r.containerPort])).toEqual([[8000, 8000, 80], [8001, 8001, 81]]);
    expect(parsePortSpec('8000-8010:80').map((r) => [r.hostPortMin, r.hostPortMax, r.containerPort])).toEqual([[8000, 8010, 80]]);
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
    const reqs = fromApi({ '80/tcp': [{ HostIp: '', HostPort: '8080' }, { HostIp: '127.0.0.1', HostPort: '' }], '53/udp': null }, true, { '80/tcp': {}, '443/tcp': {} });
    expect(reqs).toEqual([
      { proto: 'tcp', containerPort: 80, hostIp: '0.0.0.0', hostPortMin: 8080, hostPortMax: 8080 },
      { proto: 'tcp', containerPort: 80, hostIp: '127.0.0.1', hostPortMin: 0, hostPortMax: 0 },
      { proto: 'udp', containerPort: 53, hostIp: '0.0.0.0', hostPortMin: 0, hostPortMax: 0 },
      { proto: 'tcp', containerPort: 443, hostIp: '0.0.0.0', hostPortMin: 0, hostPortMax: 0 },
    ]);
  });
});
