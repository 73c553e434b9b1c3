/**
 * The agent conformance suite (agent-suite.ts) against the in-memory fake agent that the unit
 * tests of src/pod and src/api run on: a fake VM with one NIC and the volume share.
 */
import { FakeHypervisor, type FakeVm } from '../helpers/fake-vm';
import { agentConformance, type AgentLacks } from './agent-suite';

const CANNOT: AgentLacks = {
  seccomp: 'the fake agent makes no system calls: it keeps a filter but cannot apply one',
  podPause: "the fake agent runs no binary: it cannot run the agent's own as the pod's pause",
  deviceNodes: 'the fake agent makes no system calls: it keeps the device nodes asked for but makes none',
  deviceCgroup: 'the fake agent makes no system calls: it has no cgroup to attach a device program to',
  wire: 'the fake agent is called in memory: it has no channels a connection could leave bytes on',
  diskFilesystem: 'the fake agent keeps no filesystem on a disk: no owners, modes or symlinks there',
};

agentConformance('fake agent', CANNOT, async () => {
  const hv = new FakeHypervisor();
  let vm = (await hv.createVm({ size: { memoryMiB: 256, cpus: 1 }, devices: { nics: 1, volumes: true } })) as FakeVm;
  const nic = vm.devices.nics[0];
  let disks = 0;
  return {
    agent: vm.agent,
    rootfs: (id) => `containers/${id}/rootfs`,
    reconnect: async () => {
      vm.agent.close();
      vm = (await hv.adopt(vm.id)) as FakeVm;
      return vm.agent;
    },
    nic: { name: nic.guestName, mac: nic.mac },
    volumes: { tag: vm.devices.volumes!.tag },
    // The fake keeps no disk files: a new device name stands for a fresh disk.
    upperDisk: async () => `vd${String.fromCharCode(98 + disks++)}`,
    close: () => vm.destroy(),
  };
});
