/**
 * The pure parts of src/net/cni: configuration files, plugin results of each spec version, and
 * the guest's settings planned from a result. The plugin runs themselves are tested with
 * Debian's real plugins (test/privileged/net/cni.test.ts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadNodeNetwork, parseBinDirs, parseConfig } from '../../../src/net/cni/config';
import { parseResult } from '../../../src/net/cni/result';
import { versionAtLeast } from '../../../src/net/cni/runner';
import { planGuestNetwork } from '../../../src/net/cni/guest';
import { InvalidArgumentError, UnavailableError } from '../../../src/errors';

describe('CNI configuration', () => {
  it('reads a conflist, and a .conf as a list of one plugin', () => {
    const list = parseConfig(
      JSON.stringify({ cniVersion: '1.0.0', name: 'n', plugins: [{ type: 'bridge' }, { type: 'portmap' }] }),
      '/d/10.conflist',
    );
    expect(list).toMatchObject({ name: 'n', cniVersion: '1.0.0', disableCheck: false, source: '/d/10.conflist' });
    expect(list.plugins.map((p) => p.type)).toEqual(['bridge', 'portmap']);
    const one = parseConfig(JSON.stringify({ cniVersion: '0.4.0', name: 'x', type: 'loopback' }), '/d/99.conf');
    expect(one.plugins).toEqual([{ cniVersion: '0.4.0', name: 'x', type: 'loopback' }]);
  });

  it.each([
    ['{', /not JSON/],
    ['[]', /not an object/],
    ['{"plugins":[{"type":"bridge"}]}', /no network name/],
    ['{"name":"n","plugins":[]}', /has no plugins/],
    ['{"name":"n","plugins":[{"type":"../../bin/sh"}]}', /plugin 0 has no usable type/],
    ['{"name":"n","plugins":[{}]}', /plugin 0 has no usable type/],
  ])('refuses %s', (text, re) => {
    expect(() => parseConfig(text, 'f.conflist')).toThrow(InvalidArgumentError);
    expect(() => parseConfig(text, 'f.conflist')).toThrow(re);
  });

  it('takes the first usable file by name and says why the others were skipped when none is', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cni-unit-'));
    try {
      expect(() => loadNodeNetwork(dir)).toThrow(/^cni config uninitialized: no network configuration in/);
      fs.writeFileSync(path.join(dir, '01-bad.conflist'), '{"name":"bad"}');
      expect(() => loadNodeNetwork(dir)).toThrow(/skipped: .*01-bad\.conflist: the list has no plugins/);
      fs.writeFileSync(path.join(dir, '30-c.json'), '{"name":"c","type":"loopback"}');
      fs.writeFileSync(path.join(dir, '20-b.conf'), '{"name":"b","type":"loopback"}');
      expect(loadNodeNetwork(dir).name).toBe('b');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(() => loadNodeNetwork(path.join(dir, 'gone'))).toThrow(UnavailableError);
  });

  it('splits --cni-bin-dir on colons, as the kubelet does', () => {
    expect(parseBinDirs('/opt/cni/bin:/usr/lib/cni:')).toEqual(['/opt/cni/bin', '/usr/lib/cni']);
    expect(() => parseBinDirs('bin')).toThrow(/not an absolute path/);
  });

  it('compares spec versions', () => {
    expect(versionAtLeast('1.0.0', '0.4.0')).toBe(true);
    expect(versionAtLeast('0.4.0', '0.4.0')).toBe(true);
    expect(versionAtLeast('0.3.1', '0.4.0')).toBe(false);
    expect(versionAtLeast('0.10.0', '0.4.0')).toBe(true);
  });
});

describe('CNI results', () => {
  const v1 = {
    cniVersion: '1.0.0',
    interfaces: [
      { name: 'cni0', mac: '0A:58:0A:58:00:01' },
      { name: 'eth0', mac: '0a:58:0a:58:00:05', sandbox: '/run/ns' },
    ],
    ips: [
      { address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 1 },
      { address: 'fd00::5/64', gateway: 'fd00::1', interface: 1 },
    ],
    routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }, { dst: '192.168.0.0/24', gw: '10.88.0.254' }],
    dns: { nameservers: ['10.88.0.1'], search: ['svc.local'] },
  };

  it('reads 1.0.0 (MACs in lower case, the raw result kept for prevResult)', () => {
    const r = parseResult(v1);
    expect(r.interfaces[0].mac).toBe('0a:58:0a:58:00:01');
    expect(r.ips).toHaveLength(2);
    expect(r.routes[2]).toEqual({ dst: '192.168.0.0/24', gw: '10.88.0.254' });
    expect(r.dns).toEqual({ nameservers: ['10.88.0.1'], search: ['svc.local'] });
    expect(r.raw).toBe(v1);
  });

  it('reads 0.4.0 with its per-address version', () => {
    const r = parseResult({
      cniVersion: '0.4.0',
      interfaces: [{ name: 'eth0', sandbox: '/ns' }],
      ips: [{ version: '4', address: '10.1.0.2/24', gateway: '10.1.0.1', interface: 0 }],
    });
    expect(r.ips).toEqual([{ address: '10.1.0.2/24', gateway: '10.1.0.1', interface: 0 }]);
    expect(r.routes).toEqual([]);
  });

  it('reads 0.2.0 ip4/ip6 objects', () => {
    const r = parseResult({
      cniVersion: '0.2.0',
      ip4: { ip: '10.2.0.3/24', gateway: '10.2.0.1', routes: [{ dst: '0.0.0.0/0' }] },
    });
    expect(r.ips).toEqual([{ address: '10.2.0.3/24', gateway: '10.2.0.1' }]);
    expect(r.routes).toEqual([{ dst: '0.0.0.0/0' }]);
  });

  it.each([
    [{}, /no cniVersion/],
    [{ cniVersion: '1.0.0', ips: [{ address: '10.0.0.300/24' }] }, /no address with a prefix/],
    [{ cniVersion: '1.0.0', ips: [{ address: '10.0.0.3/33' }] }, /no address with a prefix/],
    [{ cniVersion: '1.0.0', ips: [{ address: '10.0.0.3/24', interface: 2 }] }, /names interface 2/],
    [{ cniVersion: '1.0.0', interfaces: [{ name: 'eth0', mac: 'zz' }] }, /has the MAC "zz"/],
    [{ cniVersion: '1.0.0', routes: [{ dst: 'default' }] }, /no valid dst/],
    [{ cniVersion: '1.0.0', routes: [{ dst: '0.0.0.0/0', gw: 'x' }] }, /not an IP address/],
    [{ cniVersion: '1.0.0', dns: { nameservers: ['name.server'] } }, /not an IP address/],
  ])('refuses %j', (doc, re) => {
    expect(() => parseResult(doc)).toThrow(re);
  });
});

describe("the guest's settings", () => {
  it("are the sandbox interface's first IPv4 and IPv6, and every route through its family's gateway", () => {
    const r = parseResult({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'cni0' }, { name: 'eth0', sandbox: '/ns' }],
      ips: [
        { address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 1 },
        { address: 'fd00::5/64', gateway: 'fd00::1', interface: 1 },
      ],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }, { dst: '192.168.0.0/24', gw: '10.88.0.254' }],
    });
    expect(planGuestNetwork(r, 'eth0', 'eth0', { mac: '02:00:00:00:00:09', mtu: 1450 })).toEqual({
      guestName: 'eth0',
      mac: '02:00:00:00:00:09',
      mtu: 1450,
      ipv4: { address: '10.88.0.5', prefix: 16, gateway: '10.88.0.1' },
      ipv6: { address: 'fd00::5', prefix: 64, gateway: 'fd00::1' },
      routes: [
        { destination: '0.0.0.0', prefix: 0, gateway: '10.88.0.1' },
        { destination: '::', prefix: 0, gateway: 'fd00::1' },
        { destination: '192.168.0.0', prefix: 24, gateway: '10.88.0.254' },
      ],
    });
  });

  it('leave out routes of a family the guest has no address in', () => {
    const r = parseResult({
      cniVersion: '1.0.0',
      ips: [{ address: '10.1.0.2/24', gateway: '10.1.0.1' }],
      routes: [{ dst: '::/0' }],
    });
    expect(planGuestNetwork(r, 'eth0', 'eth0', { mac: '02:00:00:00:00:01', mtu: 1500 }).routes).toEqual([]);
  });
});
