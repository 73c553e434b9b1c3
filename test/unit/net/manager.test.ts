import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NetworkManager } from '../../../src/net/manager';
import { EventBus } from '../../../src/pod/events';
import { FakeNetHost } from './fake-host';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'pvnet-unit-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

describe('NetworkManager over an in-memory host', () => {
  test("the default bridge network is made once, avoiding the host's routes and dockerd's 172.17/16", async () => {
    const host = new FakeNetHost();
    host.routes = ['192.0.2.0/24', '172.18.0.0/16'];
    const m = await NetworkManager.open(root, host);
    const [def] = m.list();
    expect(def.name).toBe('bridge');
    expect(def.isDefault).toBe(true);
    expect(def.ipam.subnet).toBe('172.19.0.0/16');
    expect(def.bridge).toMatch(/^pv-[0-9a-f]{12}$/);
    expect(host.bridges.get(def.bridge)).toEqual({ gateway: '172.19.0.1/16', mtu: 1500 });
    // The default network has no name resolution.
    expect(host.dns.size).toBe(0);
    const again = await NetworkManager.open(root, host);
    expect(again.list().map((n) => n.id)).toEqual([def.id]);
  });

  test('create, lookup by name / id / prefix, persistence, remove, events', async () => {
    const host = new FakeNetHost();
    const events = new EventBus();
    const m = await NetworkManager.open(root, host, events);
    const n = await m.create({
      name: 'web',
      labels: { a: 'b' },
      ipam: [{ Subnet: '10.50.0.0/16', Gateway: '10.50.0.254' }],
      options: { 'com.docker.network.driver.mtu': '1400' },
    });
    expect(m.get('web').id).toBe(n.id);
    expect(m.get(n.id.slice(0, 5)).id).toBe(n.id);
    expect(host.bridges.get(n.bridge)).toEqual({ gateway: '10.50.0.254/16', mtu: 1400 });
    expect(host.dns.has('10.50.0.254')).toBe(true);
    expect(host.firewall?.map((x) => x.name).sort()).toEqual(['bridge', 'web']);
    await expect(m.create({ name: 'web' })).rejects.toThrow('network with name web already exists');
    await expect(m.create({ name: 'other', ipam: [{ Subnet: '10.50.1.0/24' }] })).rejects.toThrow('Pool overlaps');
    // A restart finds it.
    const m2 = await NetworkManager.open(root, host);
    expect(m2.get('web').labels).toEqual({ a: 'b' });
    await m2.remove('web');
    expect(() => m2.get('web')).toThrow('network web not found');
    expect(host.bridges.has(n.bridge)).toBe(false);
    expect(host.dns.has('10.50.0.254')).toBe(false);
    await expect(m2.remove('bridge')).rejects.toThrow('bridge is a pre-defined network and cannot be removed');
    expect((await NetworkManager.open(root, host)).list().map((x) => x.name)).toEqual(['bridge']);
    expect(events.past(0n).map((e) => `${e.type} ${e.action} ${e.attributes.name}`)).toEqual(['network create web']);
  });

  test("a network with IPv6: its bridge gets the IPv6 gateway, endpoints an IPv6 address (static or the lowest free), dockerd's refusals", async () => {
    const host = new FakeNetHost();
    const m = await NetworkManager.open(root, host);
    const pools = [{ Subnet: '2001:389::1/64', IPRange: '2001:389::/96', Gateway: '2001:389::ffff' }];
    const n = await m.create({ name: 'v6', enableIPv6: true, ipam: pools });
    expect(n.enableIPv6).toBe(true);
    // Inspect shows the pools as given, after the IPv4 one chosen for it.
    expect(n.ipamConfig.slice(1)).toEqual(pools);
    expect(host.bridges.get(n.bridge)?.gateway6).toBe('2001:389::ffff/64');
    const e1 = await m.connect('v6', { containerId: '1'.repeat(64), name: 'one' });
    const e2 = await m.connect('v6', { containerId: '2'.repeat(64), name: 'two', ip6: '2001:389::f00d' });
    expect([e1.ip6, e1.prefixLen6, e1.gateway6, e2.ip6]).toEqual([
      '2001:389::1',
      64,
      '2001:389::ffff',
      '2001:389::f00d',
    ]);
    // Names resolve to both addresses (the DNS server answers A and AAAA from them).
    expect(host.dns.get(m.get('v6').ipam.gateway)!(e2.ip, 'one')).toEqual([e1.ip, '2001:389::1']);
    await expect(
      m.connect('v6', { containerId: '3'.repeat(64), name: 'three', ip6: '2001:389::f00d' }),
    ).rejects.toThrow('Address already in use');
    await expect(m.connect('v6', { containerId: '3'.repeat(64), name: 'three', ip6: '2001:db8::1' })).rejects.toThrow(
      "Invalid address 2001:db8::1: It does not belong to any of this network's subnets",
    );
    // A refused connect holds no IPv4 address either.
    expect(Object.values(m.get('v6').ipam.allocated)).toEqual([e1.id, e2.id]);
    await m.disconnect('v6', '1'.repeat(64));
    expect((await m.connect('v6', { containerId: '4'.repeat(64), name: 'four' })).ip6).toBe('2001:389::1');
    // A network without IPv6 gives none, even with an IPv6 pool (kept for inspect).
    await m.create({ name: 'v4', ipam: [{ Subnet: '10.70.0.0/24' }, { Subnet: '2001:db8:1::/64' }] });
    expect((await m.connect('v4', { containerId: '5'.repeat(64), name: 'five' })).ip6).toBeUndefined();
    // The record survives a restart, and the bridge gets its IPv6 gateway again.
    host.bridges.clear();
    const m2 = await NetworkManager.open(root, host);
    expect(m2.get('v6').ipam6?.allocated).toEqual(m.get('v6').ipam6?.allocated);
    expect(host.bridges.get(n.bridge)?.gateway6).toBe('2001:389::ffff/64');
    // dockerd's answers: no default IPv6 pools (404), one subnet per family, no overlap (403).
    await expect(m2.create({ name: 'x', enableIPv6: true })).rejects.toThrow(
      'could not find an available, non-overlapping IPv6 address pool',
    );
    await expect(
      m2.create({ name: 'x', enableIPv6: true, ipam: [{ Subnet: '2001:db8:2::/64' }, { Subnet: '2001:db8:3::/64' }] }),
    ).rejects.toThrow("bridge driver doesn't support multiple subnets");
    await expect(m2.create({ name: 'x', enableIPv6: true, ipam: [{ Subnet: '2001:389::/80' }] })).rejects.toThrow(
      'Pool overlaps with other one on this address space',
    );
    await expect(
      m2.create({ name: 'x', enableIPv6: true, ipam: [{ Subnet: '2001:db8:4::/64', Gateway: '2001:db8:5::1' }] }),
    ).rejects.toThrow('no matching subnet for gateway 2001:db8:5::1');
    expect(
      m2
        .list()
        .map((x) => x.name)
        .sort(),
    ).toEqual(['bridge', 'v4', 'v6']);
  });

  test('other drivers, IPv6 and bad input are refused and leave nothing', async () => {
    const host = new FakeNetHost();
    const m = await NetworkManager.open(root, host);
    await expect(m.create({ name: 'x', driver: 'foo' })).rejects.toThrow('plugin "foo" not found');
    await expect(m.create({ name: 'x', driver: 'overlay' })).rejects.toThrow('only the "bridge" network driver');
    await expect(m.create({ name: 'x', driver: 'host' })).rejects.toThrow(
      'only one instance of "host" network is allowed',
    );
    await expect(m.create({ name: 'x', enableIPv6: true })).rejects.toThrow('IPv6 address pool');
    await expect(m.create({ name: 'x', enableIPv6: true, ipam: [{ Subnet: '2001:db8::/127' }] })).rejects.toThrow(
      'too small',
    );
    await expect(m.create({ name: 'x', ipam: [{ Subnet: 'bad' }] })).rejects.toThrow('invalid CIDR address: bad');
    await expect(m.create({ name: 'x', options: { 'com.docker.network.driver.mtu': '10' } })).rejects.toThrow(
      'invalid MTU',
    );
    await expect(m.create({ name: '' })).rejects.toThrow('invalid name: ');
    expect(m.list().map((n) => n.name)).toEqual(['bridge']);
    expect(host.bridges.size).toBe(1);
    expect(fs.readdirSync(path.join(root, 'networks')).length).toBe(1);
  });

  test("endpoints: addresses, names scoped to the asker's networks, published ports all-or-nothing", async () => {
    const host = new FakeNetHost();
    const m = await NetworkManager.open(root, host);
    const a = await m.create({ name: 'a', ipam: [{ Subnet: '10.60.0.0/24' }] });
    await m.create({ name: 'b', ipam: [{ Subnet: '10.61.0.0/24' }] });
    const c1 = await m.connect('a', { containerId: '1'.repeat(64), name: 'web', aliases: ['www'] });
    const c2 = await m.connect('a', { containerId: '2'.repeat(64), name: 'db', ip: '10.60.0.50' });
    const c3 = await m.connect('b', { containerId: '3'.repeat(64), name: 'other' });
    expect([c1.ip, c1.gateway, c1.prefixLen, c1.mac, c2.ip, c3.ip]).toEqual([
      '10.60.0.2',
      '10.60.0.1',
      24,
      '02:42:0a:3c:00:02',
      '10.60.0.50',
      '10.61.0.2',
    ]);
    await expect(m.connect('a', { containerId: '1'.repeat(64), name: 'web' })).rejects.toThrow('already exists');
    const dnsA = host.dns.get('10.60.0.1')!;
    expect(dnsA('10.60.0.50', 'web')).toEqual(['10.60.0.2']);
    expect(dnsA('10.60.0.50', 'WWW')).toEqual(['10.60.0.2']);
    expect(dnsA('10.60.0.2', '222222222222')).toEqual(['10.60.0.50']);
    // Not on network b: its names are not seen (forwarded upstream instead).
    expect(dnsA('10.60.0.2', 'other')).toBeUndefined();
    expect(host.dns.get('10.61.0.1')!('10.61.0.2', 'web')).toBeUndefined();
    // The tap goes on the bridge.
    await m.attachTap('a', '1'.repeat(64), 'tap-x');
    expect(host.masters.get('tap-x')).toBe(a.bridge);
    // Ports: one taken host port means none published.
    host.taken.add('tcp/0.0.0.0:8081');
    await expect(
      m.publish('a', '1'.repeat(64), [
        { proto: 'tcp', containerPort: 80, hostIp: '0.0.0.0', hostPortMin: 8080, hostPortMax: 8080 },
        { proto: 'tcp', containerPort: 81, hostIp: '0.0.0.0', hostPortMin: 8081, hostPortMax: 8081 },
      ]),
    ).rejects.toThrow('driver failed programming external connectivity on endpoint web');
    expect([...host.taken]).toEqual(['tcp/0.0.0.0:8081']);
    expect(m.get('a').endpoints[c1.id].ports).toEqual([]);
    const b = await m.publish('a', '1'.repeat(64), [
      { proto: 'udp', containerPort: 53, hostIp: '127.0.0.1', hostPortMin: 0, hostPortMax: 0 },
    ]);
    expect(b).toEqual([{ proto: 'udp', containerPort: 53, hostIp: '127.0.0.1', hostPort: 49153 }]);
    expect(host.firewall?.find((n) => n.name === 'a')?.endpoints[c1.id].ports).toEqual(b);
    // A network with endpoints cannot go; disconnect frees the address, ports and names.
    await expect(m.remove('a')).rejects.toThrow('has active endpoints');
    await m.disconnect('a', '1'.repeat(64));
    expect(host.taken.has('udp/127.0.0.1:49153')).toBe(false);
    expect(host.masters.has('tap-x')).toBe(false);
    expect(dnsA('10.60.0.50', 'web')).toBeUndefined();
    expect((await m.connect('a', { containerId: '4'.repeat(64), name: 'n4' })).ip).toBe('10.60.0.2');
  });

  test('reconcile after a crash: links no record needs are removed; shutdown keeps only busy networks', async () => {
    const host = new FakeNetHost();
    const m = await NetworkManager.open(root, host);
    await m.create({ name: 'idle' });
    const busy = await m.create({ name: 'busy' });
    await m.connect('busy', { containerId: '5'.repeat(64), name: 'c5' });
    await m.attachTap('busy', '5'.repeat(64), 'tap-5');
    host.taps.add('tap-5');
    host.taps.add('tap-stale');
    host.bridges.set('pv-000000000000', { gateway: '10.99.0.1/24', mtu: 1500 });
    await NetworkManager.open(root, host);
    expect(host.taps).toEqual(new Set(['tap-5']));
    expect(host.bridges.has('pv-000000000000')).toBe(false);
    const m3 = await NetworkManager.open(root, host);
    await m3.shutdown();
    expect([...host.bridges.keys()]).toEqual([busy.bridge]);
    expect(host.firewall?.map((n) => n.name)).toEqual(['busy']);
    expect(host.dns.size).toBe(0);
  });

  test('prune removes user networks without endpoints, sparing what keep() says', async () => {
    const host = new FakeNetHost();
    const m = await NetworkManager.open(root, host);
    await m.create({ name: 'p1' });
    await m.create({ name: 'p2', labels: { keep: '1' } });
    await m.create({ name: 'p3' });
    await m.connect('p3', { containerId: '6'.repeat(64), name: 'c6' });
    expect(await m.prune((n) => n.labels.keep === '1')).toEqual(['p1']);
    // A static address needs a network made with --subnet, and a user network.
    await expect(m.connect('p2', { containerId: '7'.repeat(64), name: 'c7', ip: '172.19.0.9' })).rejects.toThrow(
      'user specified IP address is supported only when connecting to networks with user configured subnets',
    );
    await expect(m.connect('bridge', { containerId: '7'.repeat(64), name: 'c7', ip: '172.18.0.9' })).rejects.toThrow(
      'user specified IP address is supported on user defined networks only',
    );
    await expect(m.connect('bridge', { containerId: '7'.repeat(64), name: 'c7', aliases: ['x'] })).rejects.toThrow(
      'network-scoped alias is supported only for containers in user defined networks',
    );
    expect(
      m
        .list()
        .map((n) => n.name)
        .sort(),
    ).toEqual(['bridge', 'p2', 'p3']);
  });
});
