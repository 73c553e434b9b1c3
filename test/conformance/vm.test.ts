/**
 * The agent conformance suite (agent-suite.ts) against the real C agent as PID 1 of a QEMU
 * microVM (TCG here) booted with one NIC (its tap is down and on no bridge: nothing leaves
 * the VM), the volume share and an upper disk (a fresh file behind it per case that asks). Run it under the VM lock. Nothing may be left behind: no QEMU,
 * virtiofsd, tap, mount or runtime directory.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentClient } from '../../src/vm/agent/client';
import { vmPaths } from '../../src/vm/qemu/runtime-dir';
import { UPPER_DISK_BYTES } from '../../src/vm/devices/upper-disk/upper-disk';
import { makeUpperDisk } from '../../src/storage/upper-disk-file';
import type { Agent } from '../../src/vm/types';
import { makeBusyboxRootfs } from '../helpers/agent-fixtures';
import { connectAndLeaveMidFrame } from '../helpers/agent-wire';
import { listVmProcesses, mountsUnder } from '../helpers/leaks';
import { agentConformance } from './agent-suite';
import { tcgHypervisor } from '../helpers/tcg-hypervisor';

jest.setTimeout(120_000);

agentConformance('agent in a VM', {}, async () => {
  const execRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-conf-vm-'));
  const hv = tcgHypervisor(execRoot);
  const vm = await hv.createVm({
    size: { memoryMiB: 256, cpus: 1 },
    devices: { nics: 1, volumes: true, upperDisk: true },
  });
  const paths = vmPaths(execRoot, vm.id);
  const [nic] = vm.devices.nics;
  const volumes = vm.devices.volumes!;
  fs.mkdirSync(path.join(volumes.hostDir, 'vol1'));
  let agent: Agent = vm.agent;
  let disks = 0;
  /** Until the guest's console shows the host's last connection gone on both channels. */
  const guestSawHostLeave = async () => {
    const left = (text: string) =>
      ['control', 'stream'].every(
        (ch) =>
          text.lastIndexOf(`host left the ${ch} channel`) > text.lastIndexOf(`host connected to the ${ch} channel`),
      );
    for (let i = 0; i < 200 && !left(fs.readFileSync(paths.consoleLog, 'utf8')); i++)
      await new Promise((r) => setTimeout(r, 50));
  };
  return {
    get agent() {
      return agent;
    },
    rootfs: (id) => {
      const rel = `containers/${id}/rootfs`;
      makeBusyboxRootfs(path.join(vm.shareDir, rel));
      return rel;
    },
    reconnect: async () => {
      // A new host connection once the guest has logged the old one's end on both channels,
      // as after a daemon's restart.
      agent.close();
      await guestSawHostLeave();
      agent = await AgentClient.connect({ ctlPath: paths.ctlSock, ioPath: paths.ioSock, timeoutMs: 20_000 });
      return agent;
    },
    reconnectMidFrame: async (partial, missing) => {
      agent.close();
      await guestSawHostLeave();
      const old = await connectAndLeaveMidFrame(paths.ctlSock, paths.ioSock, partial, missing);
      // With the vCPUs stopped the guest sees each port's close and reopen only together (its
      // driver merges the two state changes), as it can while running when QEMU delivers them
      // close together; QEMU's main loop still takes the close, the new connection and its
      // SYNCs meanwhile (500 ms is ample for that).
      await vm.pause();
      let next: Promise<Agent>;
      try {
        for (const s of old) s.destroy();
        next = AgentClient.connect({ ctlPath: paths.ctlSock, ioPath: paths.ioSock, timeoutMs: 20_000 });
        next.catch(() => undefined);
        await new Promise((r) => setTimeout(r, 500));
      } finally {
        await vm.resume();
      }
      agent = await next;
      return agent;
    },
    nic: { name: nic.guestName, mac: nic.mac },
    volumes: { tag: volumes.tag, hostDir: volumes.hostDir },
    upperDisk: async (fill) => {
      const seed = path.join(execRoot, `disk-${++disks}`);
      fs.mkdirSync(seed);
      fill?.(seed);
      const file = `${seed}.img`;
      await makeUpperDisk(file, UPPER_DISK_BYTES, 64 << 20, seed);
      await vm.attachUpperDisk!(file);
      return vm.devices.upperDisk!.guestName;
    },
    close: async () => {
      try {
        // What the guest wrote through the volume share is on the host.
        expect(fs.readFileSync(path.join(volumes.hostDir, 'vol1', 'note'), 'utf8')).toBe('shared\n');
        expect(fs.existsSync(`/sys/class/net/${nic.tap}`)).toBe(true);
      } finally {
        agent.close();
        await vm.destroy();
        await hv.close();
      }
      expect(listVmProcesses({ jails: true }).filter((p) => p.cmdline.includes(execRoot))).toEqual([]);
      expect(mountsUnder(execRoot)).toEqual([]);
      expect(fs.existsSync(`/sys/class/net/${nic.tap}`)).toBe(false);
      fs.rmSync(execRoot, { recursive: true, force: true });
    },
  };
});
