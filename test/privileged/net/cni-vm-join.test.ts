/**
 * A sandbox's network set up with its VM's NIC (CniNetworks.setUp with `vm`), on Debian's real
 * plugins: the tap moved into the namespace beside the plugins, redirected both ways to the
 * interface CNI made, and the guest (a recording stand-in for the agent) given that interface's
 * MAC, MTU, address and routes; a tap that cannot join leaves nothing set up. A persistent tap
 * made with `ip tuntap` stands in for QEMU's. Needs root.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CniNetworks } from '../../../src/net/cni/sandbox-networks';
import { setLogLevel, setLogSink } from '../../../src/util/log';
import { cniStepTable } from '../../../bench/start-phases';
import type { Agent } from '../../../src/vm/types';
import type { InterfaceConfig, RouteSpec } from '../../../src/vm/agent-net-types';
import { DEBIAN_CNI_BIN, iptablesLines, makeCniNet, type TestCniNet } from './helpers/cni-net';

jest.setTimeout(60000);

const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' });
const links = (): string[] =>
  (JSON.parse(sh('ip', ['-j', 'link', 'show'])) as Array<{ ifname: string }>).map((l) => l.ifname);
const inNs = (ns: string, cmd: string, args: string[]): string => sh('nsenter', [`--net=${ns}`, '--', cmd, ...args]);

/** An agent that records the interface and route requests a join sends. */
function recordingAgent(): { agent: Agent; interfaces: InterfaceConfig[]; routes: RouteSpec[] } {
  const interfaces: InterfaceConfig[] = [];
  const routes: RouteSpec[] = [];
  const agent = {
    configureInterface: async (c: InterfaceConfig) => void interfaces.push(c),
    addRoute: async (r: RouteSpec) => void routes.push(r),
  } as unknown as Agent;
  return { agent, interfaces, routes };
}

let t: TestCniNet;
let cni: CniNetworks;
const taps: string[] = [];

/** A tap in the host's namespace, as QEMU makes a VM's at boot. */
function makeTap(suffix: string): string {
  const tap = `pvtj${process.pid % 10000}${suffix}`;
  sh('ip', ['tuntap', 'add', 'dev', tap, 'mode', 'tap']);
  taps.push(tap);
  return tap;
}

beforeAll(() => {
  t = makeCniNet(14);
  cni = new CniNetworks({ confDir: t.confDir, binDirs: [DEBIAN_CNI_BIN], stateDir: t.stateDir });
});

afterAll(async () => {
  for (const id of cni.list()) await cni.tearDown(id);
  for (const tap of taps) if (links().includes(tap)) sh('ip', ['link', 'del', tap]);
  t.cleanup();
});

it('moves the tap in, redirects it both ways to eth0, and gives the guest eth0 identity', async () => {
  const tap = makeTap('a');
  const guest = recordingAgent();
  const lines: string[] = [];
  setLogSink((l) => lines.push(l));
  setLogLevel('debug');
  const sb = await cni.setUp({ id: 'sb-vm' }, { tap, guestName: 'eth0', agent: guest.agent }).finally(() => {
    setLogLevel('info');
    setLogSink((l) => process.stderr.write(l + '\n'));
  });
  // The debug line bench:cri reads: each step in order, and each leg run beside another on its own.
  const steps = cniStepTable(lines.join('\n'), ['sb-vm'])
    .slice(2)
    .map((row) => row.split(' | ')[0].slice(2));
  expect(steps[0]).toBe('namespace');
  expect(new Set(steps.slice(1, 3))).toEqual(new Set(['plugins alone', 'tap move alone']));
  expect(steps[3]).toBe('plugins beside the tap move');
  expect(new Set(steps.slice(4, 6))).toEqual(new Set(['tap redirect alone', 'guest NIC alone']));
  expect(steps.slice(6)).toEqual(['tap redirected beside the guest NIC']);

  // The tap left the host's namespace for the sandbox's, up, with eth0's MTU.
  expect(links()).not.toContain(tap);
  const tapLine = inNs(sb.netns, 'ip', ['-o', 'link', 'show', 'dev', tap]);
  expect(tapLine).toMatch(/[<,]UP[,>]/);
  expect(tapLine).toMatch(/ mtu 1500 /);
  expect(inNs(sb.netns, 'tc', ['filter', 'show', 'dev', 'eth0', 'ingress'])).toMatch(
    new RegExp(`Redirect to device ${tap}\\b`),
  );
  expect(inNs(sb.netns, 'tc', ['filter', 'show', 'dev', tap, 'ingress'])).toMatch(/Redirect to device eth0\b/);

  // The guest's interface takes what CNI gave eth0, read from the namespace by the join.
  const eth0 = inNs(sb.netns, 'ip', ['-o', 'link', 'show', 'dev', 'eth0']);
  expect(eth0).toContain(`link/ether ${sb.mac} `);
  expect(sb.mtu).toBe(1500);
  expect(guest.interfaces).toEqual([{ name: 'eth0', setMac: sb.mac, mtu: 1500, up: true, address: sb.ip, prefix: 24 }]);
  expect(guest.routes).toContainEqual({ destination: '0.0.0.0', prefix: 0, gateway: `${t.prefix}.1`, device: 'eth0' });

  // A later attach of the same tap (a retried join) finds it in the namespace and joins again.
  const again = recordingAgent();
  await cni.attachVm('sb-vm', { tap, guestName: 'eth0', agent: again.agent });
  expect(again.interfaces[0]).toMatchObject({ setMac: sb.mac, mtu: 1500 });
  expect(inNs(sb.netns, 'tc', ['filter', 'show', 'dev', tap, 'ingress']).match(/Redirect to device/g)).toHaveLength(1);

  await cni.tearDown('sb-vm');
  expect(cni.list()).not.toContain('sb-vm');
  expect(fs.existsSync(sb.netns)).toBe(false);
});

it('refuses a tap that cannot join, saying which, and leaves no namespace, record or lease', async () => {
  const guest = recordingAgent();
  const err = await cni.setUp({ id: 'sb-notap' }, { tap: 'pvtjnosuchtap', guestName: 'eth0', agent: guest.agent }).then(
    () => undefined,
    (e: Error) => e,
  );
  expect(err?.message).toMatch(/pvtjnosuchtap/);
  expect(guest.interfaces).toEqual([]);
  expect(cni.list()).not.toContain('sb-notap');
  expect(fs.existsSync(path.join(t.stateDir, 'sb-notap'))).toBe(false);
  // The plugins' DEL ran with the ADD's result: the firewall plugin's rules for the address went.
  expect(iptablesLines('filter', `${t.prefix}.`)).toEqual([]);
  // host-local's lease of the ADD went with its DEL.
  const leases = path.join(t.root, 'ipam');
  const held = fs.existsSync(leases)
    ? fs
        .readdirSync(leases, { recursive: true })
        .map(String)
        .filter((f) => /\d+\.\d+\.\d+\.\d+$/.test(f))
    : [];
  for (const f of held) expect(fs.readFileSync(path.join(leases, f), 'utf8')).not.toContain('sb-notap');
});

it('says the network made no eth0, as without a VM, and leaves nothing', async () => {
  const dir = fs.mkdtempSync(path.join(t.root, 'lo-only-'));
  fs.writeFileSync(path.join(dir, '10-lo.conf'), JSON.stringify({ cniVersion: '1.0.0', name: 'lo', type: 'loopback' }));
  const c = new CniNetworks({ confDir: dir, binDirs: [DEBIAN_CNI_BIN], stateDir: t.stateDir });
  const tap = makeTap('b');
  await expect(
    c.setUp({ id: 'sb-vm-noeth' }, { tap, guestName: 'eth0', agent: recordingAgent().agent }),
  ).rejects.toThrow(/the CNI network lo \(.*10-lo\.conf\) left no usable eth0 in the sandbox: .*"eth0" does not exist/);
  expect(c.list()).not.toContain('sb-vm-noeth');
});

it("undoes the set-up when the guest refuses its interface's configuration", async () => {
  const tap = makeTap('c');
  const agent = {
    configureInterface: async () => {
      throw new Error('agent: no such interface eth0');
    },
    addRoute: async () => undefined,
  } as unknown as Agent;
  await expect(cni.setUp({ id: 'sb-guest-no' }, { tap, guestName: 'eth0', agent })).rejects.toThrow(
    'agent: no such interface eth0',
  );
  expect(cni.list()).not.toContain('sb-guest-no');
  expect(iptablesLines('filter', `${t.prefix}.`)).toEqual([]);
  // The tap went with the namespace it was moved into.
  expect(links()).not.toContain(tap);
});
