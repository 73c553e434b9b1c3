/**
 * Idle VMs and their reuse in the pod layer (on the fake hypervisor): a VM booted Idle, a pod
 * started on it, stopped keeping it (cleaned: containers destroyed, interfaces reset), another
 * pod started on it and a replace, with no VM booted for them and none destroyed.
 */
import { harness, type Harness } from './fakes';
import { HeldVms } from '../../../src/vm/idle-vms';
import { PodManager } from '../../../src/pod/manager';
import type { FakeVm } from '../../helpers/fake-vm';
import { ConflictError, NotFoundError } from '../../../src/errors';

let h: Harness;
let pods: PodManager;
beforeEach(async () => {
  h = await harness();
  // The harness's manager with a registry of held VMs over its factory.
  h.pods.shutdown();
  pods = new PodManager((h.pods as unknown as { ctx: { deps: ConstructorParameters<typeof PodManager>[0] } }).ctx.deps, new HeldVms(h.factory, { size: { memoryMiB: 256, cpus: 1 }, devices: { nics: 1 } }));
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
  expect(pods.vms.listVms()).toEqual([{ id: vm.id, state: 'Associated', podId: a.id, memoryMiB: 256, cpus: 1, held: true }]);
  await expect(pods.vms.removeVm(vm.id)).rejects.toThrow(ConflictError);

  // The old pod configured the VM's NIC (as a network would).
  const fake = h.factory.handedOut[0] as FakeVm;
  const bootMac = fake.guest.interfaces.find((i) => i.name === 'eth0')!.mac;
  await fake.agent.configureInterface({ name: 'eth0', mac: bootMac, setMac: '02:42:ac:11:00:99', address: '10.1.2.3', prefix: 24, up: true });
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
