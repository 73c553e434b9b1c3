import { firewallOwner, renderRules, restoreInput } from '../../../src/net/firewall';
import type { NetworkRecord } from '../../../src/net/types';

function net(name: string, subnet: string, extra: Partial<NetworkRecord> = {}): NetworkRecord {
  return {
    id: name.padEnd(64, '0'),
    name,
    created: '',
    driver: 'bridge',
    internal: false,
    attachable: false,
    labels: {},
    options: {},
    bridge: `pv-${name}`,
    mtu: 1500,
    isDefault: false,
    userSubnet: true,
    ipam: { subnet, gateway: subnet.replace(/0\/\d+$/, '1'), allocated: {} },
    ipamConfig: [],
    endpoints: {},
    ...extra,
  };
}

describe('firewall rules rendered from network records', () => {
  const o = firewallOwner('/var/lib/podvisor');

  test('chains are per data root; the owner mark names it', () => {
    expect(o.forward).toMatch(/^PV-[0-9A-F]{8}-FWD$/);
    expect(firewallOwner('/other').forward).not.toBe(o.forward);
    expect(o.comment).toBe('podvisor /var/lib/podvisor');
    expect(firewallOwner('/odd "root"').comment).toMatch(/^podvisor [0-9A-F]{8}$/);
  });

  test('a network: accept inside and out, drop to other podvisor bridges, masquerade out, DNS in', () => {
    const r = renderRules(o, [net('a', '10.1.0.0/24')]);
    expect(r.filter).toEqual([
      `-A ${o.forward} -i pv-a -o pv-a -j ACCEPT`,
      `-A ${o.forward} -o pv-a -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
      `-A ${o.forward} -o pv-a -m conntrack --ctstate DNAT -j ACCEPT`,
      `-A ${o.forward} -i pv-a -o pv-+ -j DROP`,
      `-A ${o.forward} -i pv-a -j ACCEPT`,
      `-A ${o.input} -i pv-a -p udp --dport 53 -j ACCEPT`,
      `-A ${o.input} -i pv-a -p tcp --dport 53 -j ACCEPT`,
    ]);
    expect(r.nat).toEqual([
      `-A ${o.postrouting} -s 10.1.0.0/24 ! -o pv-a -j MASQUERADE`,
      `-A ${o.postrouting} -s 10.1.0.0/24 -o pv-a -m conntrack --ctstate DNAT -j MASQUERADE`,
    ]);
  });

  test('internal: no way out, no masquerade, no published ports; default bridge: no DNS', () => {
    const ep = {
      id: 'e',
      containerId: 'c',
      name: 'c',
      aliases: [],
      ip: '10.2.0.2',
      mac: '',
      ports: [{ proto: 'tcp' as const, containerPort: 80, hostIp: '0.0.0.0', hostPort: 8080 }],
    };
    const r = renderRules(o, [
      net('i', '10.2.0.0/24', { internal: true, endpoints: { e: ep } }),
      net('d', '10.3.0.0/24', { isDefault: true }),
    ]);
    expect(r.filter.filter((l) => l.includes('pv-i'))).toEqual([
      `-A ${o.forward} -i pv-i -o pv-i -j ACCEPT`,
      `-A ${o.forward} -o pv-i -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
      `-A ${o.forward} -i pv-i -j DROP`,
      `-A ${o.forward} -o pv-i -j DROP`,
      `-A ${o.input} -i pv-i -p udp --dport 53 -j ACCEPT`,
      `-A ${o.input} -i pv-i -p tcp --dport 53 -j ACCEPT`,
    ]);
    expect(r.nat.some((l) => l.includes('10.2.0'))).toBe(false);
    expect(r.filter.some((l) => l.includes('pv-d') && l.includes('--dport 53'))).toBe(false);
  });

  test('published ports: DNAT per binding; loopback binds are left to the proxy', () => {
    const ports = [
      { proto: 'tcp' as const, containerPort: 80, hostIp: '0.0.0.0', hostPort: 8080 },
      { proto: 'udp' as const, containerPort: 53, hostIp: '192.0.2.2', hostPort: 5353 },
      { proto: 'tcp' as const, containerPort: 81, hostIp: '127.0.0.1', hostPort: 8081 },
    ];
    const r = renderRules(o, [
      net('a', '10.1.0.0/24', {
        endpoints: { e: { id: 'e', containerId: 'c', name: 'c', aliases: [], ip: '10.1.0.2', mac: '', ports } },
      }),
    ]);
    expect(r.nat.filter((l) => l.includes('-j DNAT'))).toEqual([
      `-A ${o.prerouting} -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.1.0.2:80`,
      `-A ${o.prerouting} -d 192.0.2.2/32 -p udp -m udp --dport 5353 -j DNAT --to-destination 10.1.0.2:53`,
    ]);
  });

  test('the restore input declares (so flushes) each of our chains and commits both tables', () => {
    const text = restoreInput(o, { filter: ['-A X'], nat: [] });
    expect(text.split('\n')).toEqual([
      '*filter',
      `:${o.forward} - [0:0]`,
      `:${o.input} - [0:0]`,
      '-A X',
      'COMMIT',
      '*nat',
      `:${o.prerouting} - [0:0]`,
      `:${o.postrouting} - [0:0]`,
      'COMMIT',
      '',
    ]);
  });
});
