/**
 * src/pod/network/network.ts over a recording stand-in for the network manager and the VM's agent: the
 * order of the join (endpoint with dockerd's MAC for its address, then the tap beside the guest
 * interface given that MAC and its route, then ports), the
 * files that go with the address, and the undo when a step fails; a VM started from a
 * checkpoint's save (./restored-nics.ts): an interface already as its endpoint wants left as
 * it is, any other reset and configured before its tap goes on the bridge, one its plan no
 * longer has taken down.
 */
import {
  hostsWithAddress,
  joinNetwork,
  leaveNetworks,
  resolvForNetwork,
  type PodNetworks,
} from '../../../src/pod/network/network';
import type { ContainerNetworkPlan } from '../../../src/net/container-config';
import type { Vm } from '../../../src/vm/types';
import { macFor } from '../../../src/net/ipam';
import type { InterfaceInfo } from '../../../src/vm/types';
import { ConflictError } from '../../../src/errors';

const NIC = { tap: 'pvabc0', mac: '02:11:22:33:44:55', guestName: 'eth0' };
const NIC2 = { tap: 'pvabc1', mac: '02:11:22:33:44:56', guestName: 'eth1' };

function fakes(
  opts: {
    internal?: boolean;
    isDefault?: boolean;
    failPublish?: boolean;
    tapDone?: Promise<void>;
    restoredNics?: Array<InterfaceInfo | undefined>;
    routeExists?: boolean;
  } = {},
) {
  const calls: string[] = [];
  let connected = false;
  const nets = {
    async connect(ref: string, req: { mac?: string; aliases?: string[] }) {
      calls.push(`connect ${ref} mac=${req.mac} aliases=${(req.aliases ?? []).join(',')}`);
      connected = true;
      const k = ref === 'back' ? 2 : 1;
      return {
        id: 'e'.repeat(64),
        containerId: 'c1',
        name: 'web',
        aliases: [],
        ip: `10.9.${k}.2`,
        mac: req.mac ?? macFor(`10.9.${k}.2`),
        ports: [],
        networkId: `n${k}`,
        gateway: `10.9.${k}.1`,
        prefixLen: 24,
        mtu: 1400,
        bridge: `pv-n${k}`,
      };
    },
    async attachTap(ref: string, id: string, tap: string) {
      calls.push(`attachTap ${ref} ${id} ${tap}`);
      await opts.tapDone;
      calls.push(`tap attached ${tap}`);
    },
    get: () => ({ internal: !!opts.internal, isDefault: !!opts.isDefault }),
    async publish(ref: string, id: string, reqs: unknown[]) {
      calls.push(`publish ${ref} ${id} ${reqs.length}`);
      if (opts.failPublish) throw new Error('bind: address already in use');
      return [{ proto: 'tcp', containerPort: 80, hostIp: '0.0.0.0', hostPort: 8080 }];
    },
    async disconnect(ref: string, id: string) {
      calls.push(`disconnect ${ref} ${id}`);
      connected = false;
    },
    endpointsOf: () => (connected ? [{ networkId: 'n1' }] : []),
  } as unknown as PodNetworks;
  const vm = {
    id: 'abc',
    devices: { nics: [NIC, NIC2] },
    agent: {
      async configureInterface(c: Record<string, unknown>) {
        calls.push(`configureInterface ${JSON.stringify(c)}`);
      },
      async addRoute(r: Record<string, unknown>) {
        calls.push(`addRoute ${JSON.stringify(r)}`);
        if (opts.routeExists) throw new ConflictError('add route: File exists');
      },
    },
  } as unknown as Vm;
  return { calls, nets, vm, restored: opts.restoredNics };
}

const plan: ContainerNetworkPlan = {
  mode: 'networks',
  networks: [{ ref: 'front', aliases: ['svc'] }],
  ports: [{ proto: 'tcp', containerPort: 80, hostIp: '', hostPortMin: 8080, hostPortMax: 8080 }],
};
const pod = { id: 'c1', name: 'web', hostname: 'webhost', domainname: '' };

test("join: endpoint with the address's MAC (as dockerd's), tap on the bridge, then the guest, then the ports", async () => {
  const { calls, nets, vm } = fakes();
  const j = await joinNetwork(nets, plan, vm, pod, 'search lan\nnameserver 192.0.2.53\n');
  expect(calls).toEqual([
    'connect front mac=undefined aliases=svc',
    'attachTap n1 c1 pvabc0',
    'configureInterface {"name":"eth0","mac":"02:11:22:33:44:55","setMac":"02:42:0a:09:01:02","address":"10.9.1.2","prefix":24,"mtu":1400,"up":true}',
    'addRoute {"destination":"0.0.0.0","prefix":0,"gateway":"10.9.1.1","device":"eth0"}',
    'tap attached pvabc0',
    'publish n1 c1 1',
  ]);
  expect(j!.ports).toEqual([{ proto: 'tcp', containerPort: 80, hostIp: '0.0.0.0', hostPort: 8080 }]);
  expect(j!.files.resolv).toBe('nameserver 10.9.1.1\nsearch lan\n');
  expect(j!.files.hosts.split('\n').slice(-2)).toEqual(['10.9.1.2\twebhost', '']);
});

test('the tap goes onto the bridge while the guest configures its interface; a failed tap is undone after both', async () => {
  let attach!: () => void;
  const tapDone = new Promise<void>((r) => (attach = r));
  const { calls, nets, vm } = fakes({ tapDone });
  const joined = joinNetwork(nets, { ...plan, ports: [] }, vm, pod, '');
  for (let i = 0; i < 10; i++) await Promise.resolve();
  expect(calls.map((c) => c.split(' ')[0])).toEqual(['connect', 'attachTap', 'configureInterface', 'addRoute']);
  attach();
  await joined;
  expect(calls[calls.length - 1]).toBe('tap attached pvabc0');

  const failed = fakes({ tapDone: Promise.reject(new Error('RTNETLINK answers: No such device')) });
  await expect(joinNetwork(failed.nets, { ...plan, ports: [] }, failed.vm, pod, '')).rejects.toThrow('No such device');
  expect(failed.calls.map((c) => c.split(' ')[0])).toEqual([
    'connect',
    'attachTap',
    'configureInterface',
    'addRoute',
    'disconnect',
  ]);
});

test("--mac-address: the endpoint takes it (lower-cased), the agent checks the boot MAC and sets it; a bad one is dockerd's error", async () => {
  const { calls, nets, vm } = fakes();
  await joinNetwork(
    nets,
    { ...plan, networks: [{ ref: 'front', aliases: [], mac: '02:42:AC:11:00:99' }], ports: [] },
    vm,
    pod,
    '',
  );
  expect(calls.slice(0, 3)).toEqual([
    'connect front mac=02:42:ac:11:00:99 aliases=',
    'attachTap n1 c1 pvabc0',
    'configureInterface {"name":"eth0","mac":"02:11:22:33:44:55","setMac":"02:42:ac:11:00:99","address":"10.9.1.2","prefix":24,"mtu":1400,"up":true}',
  ]);
  const b = fakes();
  await expect(
    joinNetwork(b.nets, { ...plan, networks: [{ ref: 'front', aliases: [], mac: 'zz:11' }], ports: [] }, b.vm, pod, ''),
  ).rejects.toThrow('address zz:11: invalid MAC address');
  expect(b.calls).toEqual([]);
});

test('an internal network gets no default route; the default bridge keeps the host resolvers', async () => {
  const a = fakes({ internal: true });
  await joinNetwork(a.nets, { ...plan, ports: [] }, a.vm, pod, '');
  expect(a.calls.some((c) => c.startsWith('addRoute'))).toBe(false);
  const b = fakes({ isDefault: true });
  const j = await joinNetwork(b.nets, { ...plan, ports: [] }, b.vm, pod, 'nameserver 192.0.2.53\n');
  expect(j!.files.resolv).toBe('nameserver 192.0.2.53\n');
});

test("a failed step disconnects what was connected, and the error is the step's", async () => {
  const { calls, nets, vm } = fakes({ failPublish: true });
  await expect(joinNetwork(nets, plan, vm, pod, '')).rejects.toThrow('address already in use');
  expect(calls[calls.length - 1]).toBe('disconnect n1 c1');
  await leaveNetworks(nets, 'c1');
  expect(calls.filter((c) => c.startsWith('disconnect'))).toHaveLength(1);
});

test('two networks: the second on the second NIC, the default route and the ports on the first only', async () => {
  const { calls, nets, vm } = fakes();
  const j = await joinNetwork(
    nets,
    { ...plan, networks: [...plan.networks, { ref: 'back', aliases: [] }] },
    vm,
    pod,
    '',
  );
  expect(calls).toEqual([
    'connect front mac=undefined aliases=svc',
    'attachTap n1 c1 pvabc0',
    'configureInterface {"name":"eth0","mac":"02:11:22:33:44:55","setMac":"02:42:0a:09:01:02","address":"10.9.1.2","prefix":24,"mtu":1400,"up":true}',
    'addRoute {"destination":"0.0.0.0","prefix":0,"gateway":"10.9.1.1","device":"eth0"}',
    'tap attached pvabc0',
    'connect back mac=undefined aliases=',
    'attachTap n2 c1 pvabc1',
    'configureInterface {"name":"eth1","mac":"02:11:22:33:44:56","setMac":"02:42:0a:09:02:02","address":"10.9.2.2","prefix":24,"mtu":1400,"up":true}',
    'tap attached pvabc1',
    'publish n1 c1 1',
  ]);
  expect(j!.endpoints.map((e) => e.networkId)).toEqual(['n1', 'n2']);
});

test('none and a VM without a NIC', async () => {
  const { nets, vm } = fakes();
  expect(await joinNetwork(nets, { mode: 'none', networks: [], ports: [] }, vm, pod, '')).toBeUndefined();
  const bare = { ...vm, devices: { nics: [] } } as unknown as Vm;
  await expect(joinNetwork(nets, plan, bare, pod, '')).rejects.toThrow('has 0 network interface(s) for 1 network(s)');
});

test('hosts and resolv.conf text', () => {
  expect(hostsWithAddress('h', 'example.org', '10.0.0.5')).toContain('10.0.0.5\th.example.org h\n');
  // dockerd's: the IPv6 address on a line of its own after the IPv4 one.
  expect(hostsWithAddress('h', '', '10.0.0.5', '2001:db8::5')).toMatch(/\n10\.0\.0\.5\th\n2001:db8::5\th\n$/);
  expect(resolvForNetwork('nameserver 1.1.1.1\noptions ndots:2\n', '10.0.0.1')).toBe(
    'nameserver 10.0.0.1\noptions ndots:2\n',
  );
});

test('leaving two networks: a network removal asked while the first disconnect runs finds both endpoints gone', async () => {
  // The manager's queue: each call runs after the ones asked before it.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = queue.then(fn);
    queue = p.catch(() => undefined);
    return p;
  };
  const endpoints = new Set(['front', 'back']);
  const nets = {
    endpointsOf: () => [...endpoints].map((networkId) => ({ networkId })),
    disconnect: (ref: string) =>
      serial(async () => {
        await new Promise((r) => setTimeout(r, 20));
        endpoints.delete(ref);
      }),
  } as unknown as PodNetworks;
  const leaving = leaveNetworks(nets, 'c1');
  await new Promise((r) => setTimeout(r, 5));
  // `docker network rm back` (compose down), asked while the pod still leaves front.
  const removal = serial(async () => (endpoints.has('back') ? 'has active endpoints' : 'removed'));
  await leaving;
  expect(await removal).toBe('removed');
});

/** eth0 as a restored guest has it: on 10.9.1.2/24 of network front, with its address's MAC. */
const SAVED: InterfaceInfo = {
  name: 'eth0',
  mac: macFor('10.9.1.2'),
  mtu: 1400,
  up: true,
  address: '10.9.1.2',
  prefix: 24,
};

test('restored: an interface already as its endpoint wants is left as it is; its default route, there already, is fine', async () => {
  const { calls, nets, vm, restored } = fakes({ restoredNics: [SAVED, undefined], routeExists: true });
  await joinNetwork(nets, { ...plan, ports: [] }, vm, pod, '', restored);
  expect(calls).toEqual([
    'connect front mac=undefined aliases=svc',
    'attachTap n1 c1 pvabc0',
    'addRoute {"destination":"0.0.0.0","prefix":0,"gateway":"10.9.1.1","device":"eth0"}',
    'tap attached pvabc0',
  ]);
});

test('restored: an interface its endpoint wants otherwise is reset (its MAC set, the same one too) and configured before its tap goes on the bridge', async () => {
  const cases: Array<[string, InterfaceInfo | undefined, string]> = [
    ['another address', { ...SAVED, address: '10.9.1.7', mac: macFor('10.9.1.7') }, macFor('10.9.1.2')],
    ['its MTU', { ...SAVED, mtu: 1500 }, macFor('10.9.1.2')],
    ['down', { ...SAVED, up: false }, macFor('10.9.1.2')],
    ['an IPv6 address', { ...SAVED, address6: 'fd00::2', prefix6: 64 }, macFor('10.9.1.2')],
    ['a secondary address', { ...SAVED, secondary: [{ address: '169.254.1.1', prefix: 16 }] }, macFor('10.9.1.2')],
  ];
  for (const [what, saved] of cases) {
    let attach!: () => void;
    const tapDone = new Promise<void>((r) => (attach = r));
    const { calls, nets, vm, restored } = fakes({ restoredNics: [saved, undefined], tapDone });
    const joined = joinNetwork(nets, { ...plan, ports: [] }, vm, pod, '', restored);
    for (let i = 0; i < 10; i++) await Promise.resolve();
    expect([what, calls]).toEqual([
      what,
      [
        'connect front mac=undefined aliases=svc',
        `configureInterface {"name":"eth0","mac":"02:11:22:33:44:55","setMac":"${macFor('10.9.1.2')}","address":"10.9.1.2","prefix":24,"mtu":1400,"up":true}`,
        'addRoute {"destination":"0.0.0.0","prefix":0,"gateway":"10.9.1.1","device":"eth0"}',
        'attachTap n1 c1 pvabc0',
      ],
    ]);
    attach();
    await joined;
  }
  // A route that exists is an error on a reset interface (its routes went with the reset).
  const b = fakes({ restoredNics: [{ ...SAVED, mtu: 1500 }, undefined], routeExists: true });
  await expect(joinNetwork(b.nets, { ...plan, ports: [] }, b.vm, pod, '', b.restored)).rejects.toThrow('File exists');
});

test('restored: a NIC the save did not record (given a new MAC, down) is configured as any, before its tap; NICs the plan has no more go down when they were up', async () => {
  const { calls, nets, vm, restored } = fakes({
    restoredNics: [undefined, { ...SAVED, name: 'eth1', address: '10.9.2.2' }],
  });
  await joinNetwork(nets, { ...plan, ports: [] }, vm, pod, '', restored);
  expect(calls).toEqual([
    'configureInterface {"name":"eth1","up":false}',
    'connect front mac=undefined aliases=svc',
    `configureInterface {"name":"eth0","mac":"02:11:22:33:44:55","setMac":"${macFor('10.9.1.2')}","address":"10.9.1.2","prefix":24,"mtu":1400,"up":true}`,
    'addRoute {"destination":"0.0.0.0","prefix":0,"gateway":"10.9.1.1","device":"eth0"}',
    'attachTap n1 c1 pvabc0',
    'tap attached pvabc0',
  ]);
  const none = fakes({ restoredNics: [SAVED, undefined] });
  expect(
    await joinNetwork(none.nets, { mode: 'networks', networks: [], ports: [] }, none.vm, pod, '', none.restored),
  ).toBeUndefined();
  expect(none.calls).toEqual(['configureInterface {"name":"eth0","up":false}']);
});
