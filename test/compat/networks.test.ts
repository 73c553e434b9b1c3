/**
 * `docker network create/ls/inspect/rm/prune` through the stock docker CLI against the real
 * daemon (no VMs are booted: networks need none), checked against what dockerd 20.10 answers
 * and against the host: the bridge, its address and MTU, our firewall chains. Also: the
 * default `bridge` network, events, errors for other drivers, connect's answer for an unknown
 * container, restart and SIGKILL recovery, and nothing left on the host after stop().
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { ownedLinks } from '../../src/net/links';
import { firewallOwner, listPodvisorRules } from '../../src/net/firewall';

jest.setTimeout(120000);

let d: TestDaemon;

function docker(args: string[]): { out: string; err: string; code: number } {
  const r = spawnSync('docker', args, { env: d.env, encoding: 'utf8', timeout: 30000 });
  return { out: r.stdout.trim(), err: r.stderr.trim(), code: r.status ?? -1 };
}

function ok(args: string[]): string {
  const r = docker(args);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: ${r.err}`);
  return r.out;
}

/** The bridge's IPv4 address with prefix, and MTU, as the host sees them. */
function hostBridge(name: string): { cidr: string; mtu: number } | undefined {
  try {
    const [l] = JSON.parse(
      execFileSync('ip', ['-j', '-4', 'addr', 'show', 'dev', name], { encoding: 'utf8' }),
    ) as Array<{ mtu: number; addr_info: Array<{ local: string; prefixlen: number }> }>;
    return { cidr: `${l.addr_info[0].local}/${l.addr_info[0].prefixlen}`, mtu: l.mtu };
  } catch {
    return undefined;
  }
}

/** Jumps from the built-in chains into this daemon's chains. */
async function ourJumps(): Promise<string[]> {
  const o = firewallOwner(d.dataRoot);
  return (await listPodvisorRules()).filter((l) => l.includes(`--comment "${o.comment}"`));
}

beforeAll(async () => {
  d = await startDaemon();
});

afterAll(async () => {
  const root = d.dataRoot;
  await stopDaemonLeavingNothing(d);
  expect(await ownedLinks(root)).toEqual([]);
  expect(
    (await listPodvisorRules()).filter((l) => l.includes(root) || l.includes(firewallOwner(root).forward.slice(0, 11))),
  ).toEqual([]);
});

test('the default bridge network is there, on a subnet no host route used, with no clash', () => {
  const ls = ok(['network', 'ls', '--format', '{{.Name}} {{.Driver}} {{.Scope}}']);
  expect(ls.split('\n')).toEqual(['bridge bridge local']);
  const def = JSON.parse(ok(['network', 'inspect', 'bridge']))[0];
  expect(def.Options['com.docker.network.bridge.default_bridge']).toBe('true');
  const [cfg] = def.IPAM.Config;
  const bridge = def.Options['com.docker.network.bridge.name'];
  expect(hostBridge(bridge)).toEqual({ cidr: `${cfg.Gateway}/${cfg.Subnet.split('/')[1]}`, mtu: 1500 });
  // Only our bridge routes the subnet.
  const routes = JSON.parse(execFileSync('ip', ['-j', '-4', 'route'], { encoding: 'utf8' })) as Array<{
    dst: string;
    dev: string;
  }>;
  expect(routes.filter((r) => r.dst === cfg.Subnet).map((r) => r.dev)).toEqual([bridge]);
  const del = docker(['network', 'rm', 'bridge']);
  expect(del.err).toContain('bridge is a pre-defined network and cannot be removed');
});

test("create with subnet, gateway, ip-range, MTU, labels, internal; inspect in dockerd's shape", async () => {
  const id = ok([
    'network',
    'create',
    '--subnet',
    '10.254.0.0/16',
    '--gateway',
    '10.254.0.254',
    '--ip-range',
    '10.254.1.0/24',
    '-o',
    'com.docker.network.driver.mtu=1400',
    '--label',
    'team=a',
    '--internal',
    'pvnet1',
  ]);
  expect(id).toMatch(/^[0-9a-f]{64}$/);
  const n = JSON.parse(ok(['network', 'inspect', 'pvnet1']))[0];
  expect(n).toEqual({
    Name: 'pvnet1',
    Id: id,
    Created: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    Scope: 'local',
    Driver: 'bridge',
    EnableIPv6: false,
    IPAM: {
      Driver: 'default',
      Options: {},
      Config: [{ Subnet: '10.254.0.0/16', IPRange: '10.254.1.0/24', Gateway: '10.254.0.254' }],
    },
    Internal: true,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: {},
    Options: { 'com.docker.network.driver.mtu': '1400' },
    Labels: { team: 'a' },
  });
  expect(hostBridge(`pv-${id.slice(0, 12)}`)).toEqual({ cidr: '10.254.0.254/16', mtu: 1400 });
  // Inspect by id prefix and by full id.
  expect(ok(['network', 'inspect', '-f', '{{.Name}}', id.slice(0, 6)])).toBe('pvnet1');
  const auto = ok(['network', 'create', 'pvnet2']);
  const cfg = JSON.parse(ok(['network', 'inspect', auto]))[0].IPAM.Config[0];
  expect(cfg.Subnet).toMatch(/^(172|192)\.\d+\.\d+\.0\/(16|20)$/);
  expect(ok(['network', 'ls', '--filter', 'label=team=a', '--format', '{{.Name}}'])).toBe('pvnet1');
  expect(ok(['network', 'ls', '--filter', 'type=custom', '--format', '{{.Name}}']).split('\n').sort()).toEqual([
    'pvnet1',
    'pvnet2',
  ]);
  expect(ok(['network', 'ls', '-q', '--filter', 'name=pvnet2'])).toBe(auto.slice(0, 12));
  expect((await ourJumps()).length).toBe(4);
});

test('errors: duplicate name, overlapping pool, other drivers, bad subnet; nothing is left of them', () => {
  const before = ok(['network', 'ls', '-q']);
  expect(docker(['network', 'create', 'pvnet1']).err).toContain('network with name pvnet1 already exists');
  expect(docker(['network', 'create', '--subnet', '10.254.9.0/24', 'pvx']).err).toContain(
    'Pool overlaps with other one on this address space',
  );
  expect(docker(['network', 'create', '-d', 'foo', 'pvx']).err).toContain('plugin "foo" not found');
  expect(docker(['network', 'create', '-d', 'macvlan', 'pvx']).err).toContain(
    'podvisor has only the "bridge" network driver',
  );
  expect(docker(['network', 'create', '--subnet', 'bad', 'pvx']).err).toContain('invalid CIDR address: bad');
  expect(ok(['network', 'ls', '-q'])).toBe(before);
  const c = docker(['network', 'connect', 'pvnet1', 'somecontainer']);
  expect(c.err).toContain('No such container: somecontainer');
  expect(docker(['network', 'inspect', 'nope']).err).toContain('network nope not found');
});

test('rm, prune and their events', () => {
  const since = (Date.now() / 1000).toFixed(3);
  ok(['network', 'create', '--label', 'keep=1', 'pvnet3']);
  ok(['network', 'rm', 'pvnet2']);
  const pruned = ok(['network', 'prune', '-f', '--filter', 'label!=keep=1']);
  expect(pruned).toContain('pvnet1');
  expect(ok(['network', 'ls', '--format', '{{.Name}}']).split('\n').sort()).toEqual(['bridge', 'pvnet3']);
  const until = Math.floor(Date.now() / 1000) + 1;
  const ev = ok([
    'events',
    '--since',
    since,
    '--until',
    String(until),
    '--filter',
    'type=network',
    '--format',
    '{{.Action}} {{.Actor.Attributes.name}}',
  ]);
  expect(ev.split('\n')).toEqual(['create pvnet3', 'destroy pvnet2', 'destroy pvnet1']);
});

test('restart and SIGKILL: networks and the default bridge come back, rules are not doubled', async () => {
  const ids = ok(['network', 'ls', '-q', '--no-trunc']).split('\n').sort();
  await d.restart();
  expect(ok(['network', 'ls', '-q', '--no-trunc']).split('\n').sort()).toEqual(ids);
  await d.kill9();
  // After SIGKILL the bridges and rules stay, as running containers need them.
  expect((await ownedLinks(d.dataRoot)).length).toBe(2);
  await d.restart();
  expect(ok(['network', 'ls', '-q', '--no-trunc']).split('\n').sort()).toEqual(ids);
  expect((await ownedLinks(d.dataRoot)).length).toBe(2);
  expect((await ourJumps()).length).toBe(4);
});
