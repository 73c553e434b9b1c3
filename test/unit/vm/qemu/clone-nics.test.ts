/**
 * A clone's NICs (src/vm/qemu/snapshots/clone-nics.ts) over a recording agent: a template's
 * clone gives each NIC this VM's MAC right behind ACTIVATE; a VM started from a checkpoint's
 * save keeps the MAC of each NIC whose interface the save recorded (sending nothing for it),
 * and gives the others a new MAC after taking them down; a recorded interface whose MAC no
 * NIC may have, or that names another interface, counts as not recorded.
 */
import { adoptSavedNics, settleCloneNics, unicastMac } from '../../../../src/vm/qemu/snapshots/clone-nics';
import type { Agent, InterfaceInfo, VmDevices } from '../../../../src/vm/types';

function devices(): VmDevices {
  return {
    nics: [
      { tap: 'pvx0', mac: '02:00:00:00:00:01', guestName: 'eth0' },
      { tap: 'pvx1', mac: '02:00:00:00:00:02', guestName: 'eth1' },
    ],
  };
}

function recorder(): { calls: string[]; agent: Agent; activate: () => Promise<void> } {
  const calls: string[] = [];
  const agent = {
    configureInterface: async (c: unknown) => {
      calls.push(`configureInterface ${JSON.stringify(c)}`);
    },
  } as unknown as Agent;
  const activate = async () => {
    calls.push('activate');
  };
  return { calls, agent, activate };
}

const SAVED: InterfaceInfo = {
  name: 'eth0',
  mac: '02:42:ac:11:00:02',
  mtu: 1500,
  up: true,
  address: '172.17.0.2',
  prefix: 16,
};

test("a template's clone: each NIC given this VM's MAC, right behind ACTIVATE", async () => {
  const { calls, agent, activate } = recorder();
  const d = devices();
  await settleCloneNics(agent, d, undefined, activate());
  expect(calls).toEqual([
    'activate',
    'configureInterface {"name":"eth0","setMac":"02:00:00:00:00:01"}',
    'configureInterface {"name":"eth1","setMac":"02:00:00:00:00:02"}',
  ]);
});

test("a checkpoint's VM: a recorded NIC keeps its guest's MAC and is sent nothing; the other is taken down and given this VM's", async () => {
  const { calls, agent, activate } = recorder();
  const d = devices();
  const restored = adoptSavedNics(d, [SAVED, undefined]);
  expect(restored).toEqual([SAVED, undefined]);
  expect(d.nics.map((n) => n.mac)).toEqual(['02:42:ac:11:00:02', '02:00:00:00:00:02']);
  await settleCloneNics(agent, d, restored, activate());
  expect(calls).toEqual([
    'activate',
    'configureInterface {"name":"eth1","up":false}',
    'configureInterface {"name":"eth1","setMac":"02:00:00:00:00:02"}',
  ]);
});

test('a checkpoint saved before NICs were recorded, or with an entry that is not a NIC of this VM, gives those NICs new MACs', async () => {
  const d = devices();
  expect(adoptSavedNics(d, undefined)).toEqual([undefined, undefined]);
  const bad = [
    { ...SAVED, mac: '03:42:ac:11:00:02' },
    { ...SAVED, name: 'eth0', mac: '00:00:00:00:00:00' },
  ];
  expect(adoptSavedNics(d, bad)).toEqual([undefined, undefined]);
  expect(adoptSavedNics(d, [{ ...SAVED, name: 'eth1' }, undefined])).toEqual([undefined, undefined]);
  expect(d.nics.map((n) => n.mac)).toEqual(['02:00:00:00:00:01', '02:00:00:00:00:02']);
  expect([unicastMac('02:42:ac:11:00:02'), unicastMac('01:00:5e:00:00:01'), unicastMac('02:42:AC:11:00:02')]).toEqual([
    true,
    false,
    false,
  ]);
});
