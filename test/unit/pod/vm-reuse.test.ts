/**
 * Idle VMs and their reuse in the pod layer (on the fake hypervisor): a VM booted Idle, a pod
 * started on it, stopped keeping it (cleaned: containers destroyed, interfaces reset), another
 * pod started on it and a replace, with no VM booted for them and none destroyed.
 */
import { harness, type Harness } from './fakes';
import { HeldVms } from '../../../src/vm/idle-vms';
import { PodManager } from '../../../src/pod/manager';
import type { FakeVm } from '../../helpers/fake-vm';
import { ConflictError, NotFoundError, UnavailableError } from '../../../src/errors';
import type { PodNetworks } from '../../../src/pod/network/network';

let h: Harness;
let pods: PodManager;
beforeEach(async () => {
  h = await harness();
  // The harness's manager with a registry of held VMs over its factory.
  h.pods.shutdown();
  pods = new PodManager(
    (h.pods as unknown as { ctx: { deps: ConstructorParameters<typeof PodManager>[0] } }).ctx.deps,
    new HeldVms(h.factory, { size: { memoryMiB: 256, cpus: 1 }, devices: { nics: 1 } }),
  );
  h.pods = pods;
});
afterEach(async () => {
  for (const p of pods.list()) await pods.remove(p.id, { force: true });
  for (const v of pods.vms.listVms()) if (v.state === 'Idle') await pods.vms.removeVm(v.id);
  await pods.settled();
  await h.cleanup();
});

test('run-vm, start on it, stop keeping it: the VM is cleaned and Idle, never destroyed', async () => {
  const vm = await pods.vms.bootVm();
  expect(pods.vms.listVms()).toEqual([{ id: vm.id, state: 'Idle', memoryMiB: 256, cpus: 1, held: true }]);
  const a = await h.create({ Image: 'busybox', Cmd: ['sleep', '100'] }, 'a');
  await pods.vms.startOnVm('a', vm.id);
  expect(h.factory.handedOut).toHaveLength(1);
  expect(pods.get('a').sandbox.vmId).toBe(vm.id);
  expect(pods.vms.listVms()).toEqual([
    { id: vm.id, state: 'Associated', podId: a.id, memoryMiB: 256, cpus: 1, held: true },
  ]);
  await expect(pods.vms.removeVm(vm.id)).rejects.toThrow(ConflictError);

  // The old pod configured the VM's NIC (as a network would).
  const fake = h.factory.handedOut[0] as FakeVm;
  const bootMac = fake.guest.interfaces.find((i) => i.name === 'eth0')!.mac;
  await fake.agent.configureInterface({
    name: 'eth0',
    mac: bootMac,
    setMac: '02:42:ac:11:00:99',
    address: '10.1.2.3',
    prefix: 24,
    up: true,
  });
  const kept = await pods.vms.stopKeepingVm('a', 1);
  expect(kept).toMatchObject({ id: vm.id, state: 'Idle' });
  expect(fake.guest.alive).toBe(true);
  expect(fake.guest.containers.size).toBe(0);
  expect([...fake.guest.processes.values()].some((p) => p.running)).toBe(false);
  const eth0 = fake.guest.interfaces.find((i) => i.name === 'eth0');
  // Down, unaddressed, and back on its boot MAC (a --mac-address had changed it).
  expect(eth0).toMatchObject({ up: false, mac: bootMac });
  expect(eth0?.address).toBeUndefined();
  expect(pods.get('a').sandbox.vmId).toBeUndefined();
  expect(pods.get('a').containers[a.id].state.status).toBe('exited');

  await h.create({ Image: 'busybox', Cmd: ['sleep', '100'] }, 'b');
  await pods.vms.startOnVm('b', vm.id.slice(0, 6));
  expect(pods.get('b').sandbox.vmId).toBe(vm.id);
  expect(h.factory.handedOut).toHaveLength(1);
});

test('replace: the old pod stops, the new one runs on the same VM; a pod that does not run cannot be replaced', async () => {
  await h.create({ Image: 'busybox', Cmd: ['sleep', '100'] }, 'old');
  await pods.start('old');
  const vmId = pods.get('old').sandbox.vmId;
  const b = await h.create({ Image: 'busybox', Cmd: ['sleep', '100'] }, 'new');
  const v = await pods.vms.replace('old', 'new', 0);
  expect(v).toMatchObject({ id: vmId, state: 'Associated', podId: b.id });
  expect(pods.get('new').sandbox.vmId).toBe(vmId);
  expect(pods.isRunning('old')).toBe(false);
  expect(h.factory.handedOut).toHaveLength(1);
  await expect(pods.vms.replace('old', 'new')).rejects.toThrow(ConflictError);
  await expect(pods.vms.replace('new', 'new')).rejects.toThrow('cannot replace itself');
});

test('a VM stays Idle when the start on it is refused; unknown VMs are NotFound; a kept VM that dies leaves the list', async () => {
  const vm = await pods.vms.bootVm();
  await h.create({ Image: 'busybox', Cmd: ['sleep', '100'] }, 'a');
  await pods.start('a');
  await expect(pods.vms.startOnVm('a', vm.id)).rejects.toThrow('already running');
  expect(pods.vms.listVms().find((x) => x.id === vm.id)?.state).toBe('Idle');
  await h.create({ Image: 'busybox', Cmd: ['sleep', '100'] }, 'c');
  await expect(pods.vms.startOnVm('c', 'ffff')).rejects.toThrow(NotFoundError);
  h.hv.crash(vm.id, 'test');
  await new Promise((r) => setTimeout(r, 10));
  expect(pods.vms.listVms().map((x) => x.id)).not.toContain(vm.id);
});

/** A recording stand-in for the network manager: one default bridge; host port 8080 is in use. */
function bridge() {
  const calls: string[] = [];
  const eps = new Map<string, { networkId: string }>();
  const nets = {
    async connect(ref: string, req: { containerId: string; mac: string }) {
      calls.push(`connect ${req.containerId.slice(0, 8)}`);
      eps.set(req.containerId, { networkId: 'n1' });
      return {
        id: 'e'.repeat(64),
        containerId: req.containerId,
        name: 'x',
        aliases: [],
        ip: '172.17.0.2',
        mac: req.mac,
        ports: [],
        networkId: 'n1',
        gateway: '172.17.0.1',
        prefixLen: 16,
        mtu: 1500,
        bridge: 'pv0',
      };
    },
    async attachTap(_ref: string, id: string, tap: string) {
      calls.push(`attachTap ${id.slice(0, 8)} ${tap}`);
    },
    get: () => ({ internal: false, isDefault: true }),
    async publish(_ref: string, id: string, reqs: Array<{ hostPortMin: number }>) {
      if (reqs.some((r) => r.hostPortMin === 8080))
        throw new UnavailableError(
          'driver failed programming external connectivity on endpoint x: Error starting userland proxy: listen tcp4 0.0.0.0:8080: bind: address already in use',
        );
      calls.push(`publish ${id.slice(0, 8)}`);
      return [];
    },
    async disconnect(_ref: string, id: string) {
      calls.push(`disconnect ${id.slice(0, 8)}`);
      eps.delete(id);
    },
    endpointsOf: (id: string) => (eps.has(id) ? [eps.get(id)] : []),
  } as unknown as PodNetworks;
  return { calls, nets, eps };
}

describe('a networked pod on a held VM', () => {
  const lookup = { isUserNetwork: () => false, hasUserSubnet: () => false };
  let net: ReturnType<typeof bridge>;
  beforeEach(() => {
    net = bridge();
    pods.shutdown();
    const deps = (pods as unknown as { ctx: { deps: ConstructorParameters<typeof PodManager>[0] } }).ctx.deps;
    pods = new PodManager(
      { ...deps, networks: Promise.resolve(net.nets) },
      new HeldVms(h.factory, { size: { memoryMiB: 256, cpus: 1 }, devices: { nics: 1 } }),
    );
    h.pods = pods;
  });

  test("joins the bridge on the VM's NIC; stop --keep-vm takes it off the network before the VM is Idle", async () => {
    const vm = await pods.vms.bootVm();
    const a = await h.create(
      { Image: 'busybox', Cmd: ['sleep', '100'], HostConfig: { PortBindings: { '80/tcp': [{ HostPort: '8081' }] } } },
      'a',
      lookup,
    );
    await pods.vms.startOnVm('a', vm.id);
    const fake = h.factory.handedOut[0] as FakeVm;
    expect(net.calls).toEqual([
      `connect ${a.id.slice(0, 8)}`,
      `attachTap ${a.id.slice(0, 8)} ${fake.devices.nics[0].tap}`,
      `publish ${a.id.slice(0, 8)}`,
    ]);
    expect(fake.guest.interfaces.find((i) => i.name === 'eth0')).toMatchObject({ up: true, address: '172.17.0.2' });
    await pods.vms.stopKeepingVm('a', 1);
    expect(net.calls.at(-1)).toBe(`disconnect ${a.id.slice(0, 8)}`);
    expect(net.eps.size).toBe(0);
    expect(fake.guest.interfaces.find((i) => i.name === 'eth0')).toMatchObject({ up: false });
    expect(pods.vms.listVms()).toEqual([expect.objectContaining({ id: vm.id, state: 'Idle' })]);
  });

  test('a start refused for a host port in use leaves the VM Idle and clean, not destroyed; the next pod runs on it', async () => {
    const vm = await pods.vms.bootVm();
    await h.create(
      { Image: 'busybox', Cmd: ['sleep', '100'], HostConfig: { PortBindings: { '80/tcp': [{ HostPort: '8080' }] } } },
      'clash',
      lookup,
    );
    await expect(pods.vms.startOnVm('clash', vm.id)).rejects.toThrow('address already in use');
    const fake = h.factory.handedOut[0] as FakeVm;
    expect(fake.guest.alive).toBe(true);
    expect(fake.guest.containers.size).toBe(0);
    expect(fake.guest.interfaces.find((i) => i.name === 'eth0')).toMatchObject({ up: false });
    expect(fake.guest.interfaces.find((i) => i.name === 'eth0')?.address).toBeUndefined();
    expect(net.eps.size).toBe(0);
    expect(pods.vms.listVms()).toEqual([expect.objectContaining({ id: vm.id, state: 'Idle' })]);
    expect(pods.isRunning('clash')).toBe(false);
    expect(h.rootfs.mounted.size).toBe(0);

    await h.create({ Image: 'busybox', Cmd: ['sleep', '100'] }, 'next', lookup);
    await pods.vms.startOnVm('next', vm.id);
    expect(pods.get('next').sandbox.vmId).toBe(vm.id);
    expect(h.factory.handedOut).toHaveLength(1);
  });
});
